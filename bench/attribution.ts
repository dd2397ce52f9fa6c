/**
 * Attribution figures (measured, never asserted):
 * - the engine against an honest PyTorch implementation of circuit-tracer's method
 *   (tools/reference/attribution_bench.py), side by side in one run on a random-weight Llama of
 *   d 768 × 12 layers with 8,192 JumpReLU transcoder features per layer, at 64 and 256 tokens: same CPU
 *   threads (OPENBLAS_NUM_THREADS for PyTorch), same batch, same scope (forward, encode, sweeps with
 *   partial-influence ranking, pruning; weights loaded before timing), both warmed by two untimed runs (the
 *   first one's edges checked equal); then ≥ 3 interleaved runs each, min and median, with the load average;
 * - achieved FLOP/s of the engine's backward sweeps against the measured matmul peak;
 * - the scaling table: time and peak memory (max RSS of a fresh process) on the embedded model with its
 *   context raised, at 1k–10k tokens with 256 feature nodes.
 * BENCH_ATTR_TOKENS (e.g. "64"), BENCH_ATTR_VISITED (features visited, both sides; one per length, e.g. "1024,512"), BENCH_ATTR_RUNS, BENCH_ATTR_SCALING (e.g. "1024,2048"; "" skips it) and
 * BENCH_ATTR_MODEL ("d,layers,features", default "768,12,8192") narrow it.
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { computeAttribution, toAttributionGraph, type RawAttribution } from '../src/engine/attribution/attribute';
import { createEngine, type AttributionEngine } from '../src/engine/attribution/engine';
import { dropKeptMemory } from '../src/engine/attribution/kept-memory';
import { replacementFromDictionary } from '../src/engine/attribution/from-dictionary';
import { loadModelBundle } from '../src/engine/bundle/index';
import type { ModelBundle } from '../src/engine/api';
import { SafetensorsFile } from '../src/engine/bundle/safetensors';
import { loadDictionary } from '../src/engine/dictionaries/index';
import type { Dictionary } from '../src/engine/dictionaries/types';
import { sweepBatch } from '../src/engine/memory';
import type { ModelSpec } from '../src/engine/model-spec';
import { ortMatmulPeak } from './matmul';
import type { BenchRow, SectionContext } from './table';
import { ANALYSIS_DEFAULTS } from '../src/shared/settings-defaults';

const PYTHON = '/usr/bin/python3';
/**
 * PyTorch on the CPU allocates and frees every intermediate through malloc; glibc hands large blocks back
 * to the kernel, and on a VM that reclaims freed pages each fresh page then costs ~16 µs (a 1.2 GB tensor
 * ~5 s), which is allocator cost, not the method's. PyTorch's CPU tuning guide preloads jemalloc for this;
 * the reference does the same (kept pages: no decay), so it reuses memory as onnxruntime's arena does.
 */
const JEMALLOC = '/usr/lib/x86_64-linux-gnu/libjemalloc.so.2';
function torchEnv(): { env: NodeJS.ProcessEnv; allocator: string } {
  if (!existsSync(JEMALLOC)) return { env: process.env, allocator: 'glibc malloc (apt-get install libjemalloc2 for the fair figure)' };
  return { env: { ...process.env, LD_PRELOAD: JEMALLOC, MALLOC_CONF: 'dirty_decay_ms:-1,muzzy_decay_ms:-1' }, allocator: 'jemalloc, pages kept' };
}
const BATCH = 256;
/**
 * Features visited by the backward sweeps, the same number for both sides (the engine's default unless
 * BENCH_ATTR_VISITED says otherwise): PyTorch's script would otherwise visit its own default of 8,192.
 */
const VISITED_LIST = (process.env.BENCH_ATTR_VISITED ?? String(ANALYSIS_DEFAULTS.maxFeatureNodes)).split(',').filter(Boolean).map(Number);
/** Features visited at the i-th prompt length (BENCH_ATTR_VISITED may list one per length: rows grow with both). */
const visitedAt = (i: number) => VISITED_LIST[Math.min(i, VISITED_LIST.length - 1)];

function promptIds(T: number, vocab: number): number[] {
  return Array.from({ length: T }, (_, i) => (i * 7 + 3) % vocab);
}

const load = () => loadavg()[0].toFixed(1);
const minOf = (xs: number[]) => Math.min(...xs);
const medianOf = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/**
 * FLOPs (multiply-adds × 2) a seed's backward sweep needs: a seed at layer `seedLayer` (nLayers = a
 * logit) and position p reaches only positions ≤ p (attention is causal) and layers ≤ seedLayer, so
 * the attention of layers ≤ seedLayer over p + 1 positions and the decoder, error and skip products of
 * the layers below it over the features at positions ≤ p. `featuresUpTo[l][t]` counts layer l's
 * features at positions < t.
 */
export function sweepFlopsPerSeed(spec: ModelSpec, position: number, featuresUpTo: Int32Array[], skip: boolean, seedLayer: number): number {
  const d = spec.dModel;
  const P = position + 1;
  let f = 2 * P * d; // token dot products
  for (let l = 0; l < spec.nLayers; l++) {
    const a = spec.blocks[l].attn;
    if (l <= seedLayer) {
      f += 2 * P * d * a.nHeads * a.headDim; // gradient through W_o
      f += a.nHeads * P * (P + 1) * a.headDim; // through the frozen causal pattern (its lower triangle)
      f += 2 * P * a.nKvHeads * a.headDim * d; // through W_v
    }
    if (l < seedLayer) {
      if (skip) f += 2 * P * d * d;
      f += 2 * featuresUpTo[l][P] * d + 2 * P * d; // decoder and error dot products
    }
  }
  return f;
}

async function prepare(root: string, args: string[]): Promise<string | undefined> {
  const dir = mkdtempSync(join(tmpdir(), 'ci-bench-attr-'));
  const r = spawnSync(PYTHON, [join(root, 'tools/reference/make_transcoder_fixtures.py'), '--bench-model', dir, ...args], { encoding: 'utf8' });
  if (r.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    return undefined;
  }
  return dir;
}

interface TorchRun {
  tokens: number;
  features: number;
  visited: number;
  logits: number;
  batches: number;
  forward_s: number;
  encode_s: number;
  sweeps_s: number;
  prune_s: number;
  total_s: number;
}

/** The PyTorch reference as a long-lived process: weights loaded once, one graph per request. */
class TorchReference {
  private lines: AsyncIterator<string>;
  private constructor(private readonly proc: ChildProcessWithoutNullStreams) {
    this.lines = createInterface({ input: proc.stdout })[Symbol.asyncIterator]();
  }

  static async start(root: string, dir: string, threads: number, batch: number): Promise<TorchReference> {
    const { env, allocator } = torchEnv();
    const proc = spawn(PYTHON, [join(root, 'tools/reference/attribution_bench.py'), '--model', dir, '--transcoders', join(dir, 'transcoders'), '--threads', String(threads), '--batch', String(batch), '--serve'], { stdio: ['pipe', 'pipe', 'pipe'], env });
    let err = '';
    proc.stderr.on('data', (b) => (err = (err + b).slice(-2000)));
    const ref = new TorchReference(proc);
    const first = await ref.lines.next();
    if (first.done) throw new Error(`the PyTorch reference did not start: ${err}`);
    ref.stderr = () => err;
    ref.allocator = allocator;
    return ref;
  }

  private stderr: () => string = () => '';
  allocator = '';

  async run(ids: number[], visited: number, check?: string): Promise<TorchRun> {
    this.proc.stdin.write(JSON.stringify({ ids, check, max_feature_nodes: visited }) + '\n');
    const line = await this.lines.next();
    if (line.done) throw new Error(`the PyTorch reference stopped: ${this.stderr()}`);
    return JSON.parse(line.value) as TorchRun;
  }

  close(): void {
    this.proc.stdin.end();
  }
}

interface EngineRun {
  raw: RawAttribution;
  forward_s: number;
  encode_s: number;
  sweeps_s: number;
  prune_s: number;
  total_s: number;
}

async function engineRun(engine: AttributionEngine, dict: Dictionary, ids: number[], batch: number, visited: number): Promise<EngineRun> {
  const t0 = performance.now();
  const raw = await computeAttribution(engine, ids, { batchSize: batch, maxFeatureNodes: visited });
  const t1 = performance.now();
  toAttributionGraph(engine, dict, raw, undefined, { headLoadings: false });
  const t2 = performance.now();
  const t = raw.timings;
  return { raw, forward_s: t.forwardMs / 1000, encode_s: t.encodeMs / 1000, sweeps_s: (t1 - t0 - t.forwardMs - t.encodeMs) / 1000, prune_s: (t2 - t1) / 1000, total_s: (t2 - t0) / 1000 };
}

/**
 * Largest |engine − PyTorch| over the compared rows, relative to each row's largest |edge|: the logit
 * rows and every checked feature row the engine also visited, over the columns the engine keeps (its
 * visited features, all errors and tokens). Columns are matched by (layer, position, index): a feature
 * whose pre-activation is within f32 rounding of its JumpReLU threshold can be active on one side only
 * (4 of 1.28 M at 256 tokens); such columns, and the error columns at their layer and position (which hold
 * the one-sided feature's decoder vector on the other side), are counted and left out.
 */
function compareEdges(raw: RawAttribution, file: string): { worst: number; rows: number; note: string } {
  const st = SafetensorsFile.open(file);
  const keys = st.readF32('feature_keys');
  const nTorch = keys.length / 3;
  const f = raw.features;
  const n = f.act.length;
  const byKey = new Map<string, number>();
  for (let k = 0; k < n; k++) byKey.set(`${f.layer[k]},${f.pos[k]},${f.index[k]}`, k);
  // Torch column → engine feature (−1: active in PyTorch only).
  const T = raw.layout.nTokens;
  // Error nodes at a (layer, position) whose feature sets differ: the one-sided feature's decoder vector
  // is inside that error on the other side, so their columns differ by construction and are left out too.
  const oddError = new Uint8Array(raw.layout.nErrors);
  const toEngine = new Int32Array(nTorch);
  const inTorch = new Uint8Array(n);
  let torchOnly = 0;
  for (let c = 0; c < nTorch; c++) {
    const k = byKey.get(`${keys[3 * c]},${keys[3 * c + 1]},${keys[3 * c + 2]}`);
    toEngine[c] = k ?? -1;
    if (k === undefined) {
      torchOnly++;
      oddError[keys[3 * c] * T + keys[3 * c + 1]] = 1;
    } else inTorch[k] = 1;
  }
  let engineOnly = 0;
  for (let k = 0; k < n; k++) {
    if (inTorch[k]) continue;
    engineOnly++;
    oddError[f.layer[k] * T + f.pos[k]] = 1;
  }
  const nSel = raw.selected.length;
  const newIndex = new Int32Array(n).fill(-1);
  raw.selected.forEach((k, i) => (newIndex[k] = i));
  const a = raw.adjacency;
  const nOther = raw.layout.nErrors + raw.layout.nTokens;
  let worst = 0, rows = 0;
  const mine = new Float32Array(n + nOther);
  const compare = (engineRow: number, ref: Float32Array) => {
    mine.fill(0);
    for (let p = a.rowPtr[engineRow]; p < a.rowPtr[engineRow + 1]; p++) {
      const c = a.col[p];
      mine[c < nSel ? raw.selected[c] : n + (c - nSel)] = a.val[p];
    }
    let big = 0, diff = 0;
    const at = (refCol: number, mineCol: number) => {
      big = Math.max(big, Math.abs(ref[refCol]));
      diff = Math.max(diff, Math.abs(ref[refCol] - mine[mineCol]));
    };
    for (let c = 0; c < nTorch; c++) if (toEngine[c] >= 0 && newIndex[toEngine[c]] >= 0) at(c, toEngine[c]);
    for (let c = 0; c < nOther; c++) if (c >= oddError.length || !oddError[c]) at(nTorch + c, n + c);
    worst = Math.max(worst, diff / Math.max(big, 1e-30));
    rows++;
  };
  const logitIds = st.readF32('logit_ids');
  const logitRows = st.readF32('logit_rows');
  const nCols = nTorch + nOther;
  if (logitIds.length !== raw.targets.length || raw.targets.some((t, j) => t.tokenId !== logitIds[j])) return { worst: Infinity, rows: 0, note: 'salient logits differ' };
  for (let j = 0; j < logitIds.length; j++) compare(a.nNodes - logitIds.length + j, logitRows.subarray(j * nCols, (j + 1) * nCols));
  const ids = st.readF32('feature_ids');
  const featRows = st.readF32('feature_rows');
  let missing = 0;
  for (let r = 0; r < ids.length / 3; r++) {
    const k = byKey.get(`${ids[3 * r]},${ids[3 * r + 1]},${ids[3 * r + 2]}`);
    if (k === undefined || newIndex[k] < 0) {
      missing++;
      continue;
    }
    compare(newIndex[k], featRows.subarray(r * nCols, (r + 1) * nCols));
  }
  const notes = [];
  if (torchOnly || engineOnly) notes.push(`${engineOnly} feature(s) active in the engine only, ${torchOnly} in PyTorch only (pre-activation at the threshold within f32 rounding; their columns and their positions' error columns left out)`);
  if (missing) notes.push(`${missing} checked PyTorch rows not visited by the engine`);
  return { worst, rows, note: notes.join('; ') };
}

/**
 * Both sides alive at once only where the machine holds both: on the d768 model at 256 tokens each side
 * alone peaks at 10–13 GB (1.3 M active features: their decoder rows are 3.9 GB on each side), so below
 * 48 GB of memory the longer prompts run one side after the other, each in a fresh process or engine.
 */
const interleaves = (T: number) => T < 256 || totalmem() >= 48 * 2 ** 30;

async function closeEngine(engine: AttributionEngine): Promise<void> {
  await engine.dispose();
  dropKeptMemory(engine.backward);
  (globalThis as { gc?: () => void }).gc?.();
}

async function compareAt(ctx: SectionContext, dir: string, bundle: ModelBundle, dict: Dictionary, T: number, visited: number, runs: number, threads: number): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const ids = promptIds(T, bundle.spec.vocabSize);
  const check = join(dir, `check-${T}.safetensors`);
  const interleaved = interleaves(T);
  const es: EngineRun[] = [], ts: TorchRun[] = [], loads: string[] = [];
  const timed = (side: string, r: number) => {
    loads.push(load());
    ctx.log(`  ${T} tokens, ${side}run ${r + 1}/${runs} (load ${loads[loads.length - 1]})…`);
  };
  // Untimed first runs (warm-up for both), edges checked equal before anything is timed.
  let engine: AttributionEngine | undefined = await createEngine(bundle, replacementFromDictionary(dict, bundle.spec), { provider: 'cpu', threads, cacheDir: join(dir, 'cache') });
  let torch: TorchReference | undefined;
  let e0: EngineRun, t0: TorchRun;
  try {
    e0 = await engineRun(engine, dict, ids, BATCH, visited);
    if (!interleaved) {
      for (let r = 0; r < runs; r++) {
        timed('engine ', r);
        es.push(await engineRun(engine, dict, ids, BATCH, visited));
      }
      await closeEngine(engine);
      engine = undefined;
    }
    torch = await TorchReference.start(ctx.root, dir, threads, BATCH);
    t0 = await torch.run(ids, visited, check);
    // A second untimed run of each side, interleaved as the timed ones are: the engine's first run after
    // the other process had filled memory ran at half speed in every bench (pairs 0.98–1.01 against
    // 1.9–2.6 after it), the same for both sides.
    if (engine) await engineRun(engine, dict, ids, BATCH, visited);
    await torch.run(ids, visited);
    for (let r = 0; r < runs; r++) {
      timed(interleaved ? '' : 'PyTorch ', r);
      if (engine) es.push(await engineRun(engine, dict, ids, BATCH, visited));
      ts.push(await torch.run(ids, visited));
    }
  } finally {
    torch?.close();
    if (engine) await closeEngine(engine);
  }
  const cmp = compareEdges(e0.raw, check);
  const label = `${T} tokens, ${e0.raw.features.act.length} features, ${e0.raw.selected.length} visited, batch ${BATCH}`;
  rows.push({ section: 'attribution', name: `edges engine vs PyTorch, ${T} tokens (max |Δ| / row max)`, value: cmp.worst, unit: '', note: `${cmp.rows} rows compared (logits + first feature rows)${cmp.note ? '; ' + cmp.note : ''}` });
  loads.push(load());
  const order = interleaved ? 'interleaved' : `one side after the other (both at once need more than this machine's ${(totalmem() / 2 ** 30).toFixed(0)} GB)`;
  const eTot = es.map((e) => e.total_s), tTot = ts.map((t) => t.total_s);
  const phases = (x: { forward_s: number; encode_s: number; sweeps_s: number; prune_s: number }) => `forward ${x.forward_s.toFixed(2)}, encode ${x.encode_s.toFixed(2)}, sweeps ${x.sweeps_s.toFixed(2)}, prune ${x.prune_s.toFixed(2)} s`;
  const bestE = es[eTot.indexOf(minOf(eTot))], bestT = ts[tTot.indexOf(minOf(tTot))];
  rows.push({ section: 'attribution', name: `engine graph, ${label} (min / median of ${runs})`, value: minOf(eTot), unit: 's', provider: 'cpu', note: `median ${medianOf(eTot).toFixed(2)} s; best: ${phases(bestE)}; ${threads} thread(s); runs ${order}; load ${loads.join(' ')}` });
  rows.push({ section: 'attribution', name: `PyTorch (circuit-tracer's method, f32, OpenBLAS), ${T} tokens, ${t0.features} features, ${t0.visited} visited (min / median of ${runs})`, value: minOf(tTot), unit: 's', provider: 'cpu', note: `median ${medianOf(tTot).toFixed(2)} s; best: ${phases(bestT)}; ${t0.batches} batches; ${torch!.allocator}` });
  // Ratios within one run: each interleaved pair, then the min and median of those.
  const pair = es.map((e, i) => ts[i].total_s / e.total_s);
  rows.push({ section: 'attribution', name: `speed-up, PyTorch / engine, ${T} tokens (min-to-min; median of pairs)`, value: minOf(tTot) / minOf(eTot), unit: '×', provider: 'cpu', ratio: minOf(tTot) / minOf(eTot), ratioLabel: 'higher is faster', note: `pairs ${pair.map((x) => x.toFixed(2)).join(', ')}; median ${medianOf(pair).toFixed(2)}` });

  // Achieved FLOP/s of the engine's sweeps against the matmul peak.
  const raw = bestE.raw;
  const spec = bundle.spec;
  const L = spec.nLayers;
  const upTo = Array.from({ length: L }, (_, l) => {
    const c = new Int32Array(T + 1);
    for (let k = raw.features.layerStart[l]; k < raw.features.layerStart[l + 1]; k++) c[raw.features.pos[k] + 1]++;
    for (let t = 0; t < T; t++) c[t + 1] += c[t];
    return c;
  });
  let flops = raw.targets.length * sweepFlopsPerSeed(spec, T - 1, upTo, false, L);
  for (const k of raw.selected) flops += sweepFlopsPerSeed(spec, raw.features.pos[k], upTo, false, raw.features.layer[k]);
  const gflops = flops / (raw.timings.sweepMs / 1000) / 1e9;
  let peak = ctx.peaks.get('cpu-f32');
  if (!peak) {
    peak = (await ortMatmulPeak('cpu', 1024, 'f32', 8, threads)).gflops;
    ctx.peaks.set('cpu-f32', peak);
    rows.push({ section: 'attribution', name: 'onnxruntime f32 MatMul 1024³ peak', value: peak, unit: 'GFLOP/s', provider: 'cpu', note: `load ${load()}` });
  }
  rows.push({ section: 'attribution', name: `engine backward sweeps, ${T} tokens (useful work: causal, unpadded)`, value: gflops, unit: 'GFLOP/s', provider: 'cpu', ratio: gflops / peak, ratioLabel: 'of matmul peak' });
  return rows;
}

export async function benchAttribution(ctx: SectionContext): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const threads = ctx.threads ?? 1;
  const lengths = (process.env.BENCH_ATTR_TOKENS ?? '64,256').split(',').filter(Boolean).map(Number);
  const runs = Math.max(3, Number(process.env.BENCH_ATTR_RUNS ?? 3));
  if (lengths.length) {
    const [d, layers, features] = (process.env.BENCH_ATTR_MODEL ?? '768,12,8192').split(',');
    ctx.log(`  writing the d${d} × ${layers}-layer bench model, ${features} features per layer…`);
    const dir = await prepare(ctx.root, ['--d', d, '--layers', layers, '--features', features, '--ctx', '4096']);
    if (!dir) return [{ section: 'attribution', name: 'skipped', value: 0, unit: '', note: 'python3 with torch is needed to write the bench model' }];
    try {
      const bundle = await loadModelBundle(dir);
      const dict = await loadDictionary(join(dir, 'transcoders'), { dModel: bundle.spec.dModel, nLayers: bundle.spec.nLayers });
      for (const [i, T] of lengths.entries()) rows.push(...(await compareAt(ctx, dir, bundle, dict, T, visitedAt(i), runs, threads)));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  rows.push(...(await scalingTable(ctx, threads)));
  return rows;
}

/** The embedded model with its context raised, in a temporary folder (weights copied, config patched). */
function longContextModel(root: string, ctxLen: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'ci-bench-long-'));
  cpSync(join(root, 'models', 'toy-llama'), dir, { recursive: true });
  const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  cfg.max_position_embeddings = ctxLen;
  writeFileSync(join(dir, 'config.json'), JSON.stringify(cfg, null, 2));
  return dir;
}

/** A long-prompt child is stopped past this resident size: 16 GB, or 60 % of a smaller machine. */
const MEMORY_CAP_MB = Number(process.env.BENCH_ATTR_MEMORY_CAP_MB ?? Math.min(16384, Math.floor((totalmem() / 2 ** 20) * 0.6)));
const TIME_CAP_S = Number(process.env.BENCH_ATTR_TIME_CAP_S ?? 900);

async function scalingTable(ctx: SectionContext, threads: number): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const sizes = (process.env.BENCH_ATTR_SCALING ?? '1024,2048,4096,8192,10000').split(',').filter(Boolean).map(Number);
  if (!sizes.length) return rows;
  const dir = longContextModel(ctx.root, Math.max(...sizes));
  try {
    for (const T of sizes) {
      ctx.log(`  scaling: ${T} tokens (load ${load()})…`);
      const r = await runChild(ctx.root, dir, T, threads);
      if ('error' in r) {
        rows.push({ section: 'attribution', name: `scaling, embedded model, ${T} tokens, 256 feature nodes`, value: 0, unit: '', note: r.error });
        continue;
      }
      rows.push({ section: 'attribution', name: `scaling, embedded model, ${T} tokens, 256 feature nodes: time`, value: r.seconds, unit: 's', provider: 'cpu', note: `${threads} thread(s); forward ${r.forwardS.toFixed(1)} s, encode ${r.encodeS.toFixed(1)} s, sweeps ${r.sweepS.toFixed(1)} s; ${r.features} active features, ${r.edges} edges; ${r.attentionBlocks ? `attention in ${r.attentionBlocks} blocks` : 'dense attention patterns'}, batch ${r.batch}; load ${load()}` });
      rows.push({ section: 'attribution', name: `scaling, embedded model, ${T} tokens, 256 feature nodes: peak memory (max RSS)`, value: r.maxRssMB, unit: 'MB', provider: 'cpu' });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

interface ChildResult {
  maxRssMB: number;
  seconds: number;
  forwardS: number;
  encodeS: number;
  sweepS: number;
  features: number;
  edges: number;
  /** Attention blocks (0: dense patterns) and the sweep batch the run used. */
  attentionBlocks: number;
  batch: number;
}

/** One long-prompt graph in a fresh process, stopped past MEMORY_CAP_MB of RSS or TIME_CAP_S. */
function runChild(root: string, modelDir: string, T: number, threads: number): Promise<ChildResult | { error: string }> {
  const script = join(root, 'bench', 'attribution.ts');
  if (!existsSync(script) || !existsSync(join(root, 'node_modules', 'tsx'))) return Promise.resolve({ error: 'needs the source tree (bench/attribution.ts and tsx)' });
  return new Promise((done) => {
    const p = spawn(process.execPath, ['--import', 'tsx', script, '--child', modelDir, String(T), String(threads)], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '', why = '';
    p.stdout.on('data', (b) => (out += b));
    p.stderr.on('data', (b) => (err = (err + b).slice(-1000)));
    const t0 = performance.now();
    const watch = setInterval(() => {
      let rssMB = 0;
      try {
        const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p.pid}/status`, 'utf8'));
        rssMB = m ? Number(m[1]) / 1024 : 0;
      } catch {
        return;
      }
      if (rssMB > MEMORY_CAP_MB) why = `stopped at ${rssMB.toFixed(0)} MB resident (cap ${MEMORY_CAP_MB} MB) after ${((performance.now() - t0) / 1000).toFixed(0)} s`;
      else if (performance.now() - t0 > TIME_CAP_S * 1000) why = `stopped after ${TIME_CAP_S} s (cap) at ${rssMB.toFixed(0)} MB resident`;
      if (why) p.kill('SIGKILL');
    }, 200);
    p.on('close', (code) => {
      clearInterval(watch);
      if (why) done({ error: why });
      else if (code !== 0) done({ error: `child failed: ${err.trim().split('\n').slice(-2).join(' ')}` });
      else done(JSON.parse(out.trim().split('\n').pop()!) as ChildResult);
    });
  });
}

/**
 * This process's peak resident memory: VmHWM, which belongs to the address space made at exec. getrusage's
 * maxRSS is not: Linux carries it across fork and exec, so a child spawned by a bench holding 3.5 GB
 * reported at least 3.5 GB whatever it used (the "3.5 GB floor" of earlier scaling tables).
 */
function peakRssMB(): number {
  const m = /VmHWM:\s+(\d+)\s+kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) / 1024 : process.resourceUsage().maxRSS / 1024;
}

async function child(modelDir: string, T: number, threads: number): Promise<void> {
  const bundle = await loadModelBundle(modelDir);
  const dict = await loadDictionary(join(modelDir, 'transcoders'), { dModel: bundle.spec.dModel, nLayers: bundle.spec.nLayers });
  const engine = await createEngine(bundle, replacementFromDictionary(dict, bundle.spec), { provider: 'cpu', threads, cacheDir: join(modelDir, 'cache') });
  const t0 = performance.now();
  const raw = await computeAttribution(engine, promptIds(T, bundle.spec.vocabSize), { maxFeatureNodes: 256 });
  toAttributionGraph(engine, dict, raw, undefined, { headLoadings: false });
  const t = raw.timings;
  const out: ChildResult = { maxRssMB: peakRssMB(), seconds: (performance.now() - t0) / 1000, forwardS: t.forwardMs / 1000, encodeS: t.encodeMs / 1000, sweepS: t.sweepMs / 1000, features: raw.features.act.length, edges: raw.adjacency.val.length, attentionBlocks: raw.frozen.blocked?.blocks ?? 0, batch: sweepBatch(ANALYSIS_DEFAULTS.batchSize, T, bundle.spec.dModel) };
  console.log(JSON.stringify(out));
}

if (/attribution\.ts$/.test(process.argv[1] ?? '') && process.argv[2] === '--child') {
  child(resolve(process.argv[3]), Number(process.argv[4]), Number(process.argv[5])).catch((e) => {
    console.error(e instanceof Error ? e.stack : e);
    process.exit(1);
  });
}
