/**
 * GPU checks of attribution, run by gpu-check.ts: the same graph on a GPU provider and on the CPU —
 * every edge compared — for the embedded model (transcoders and CLT), and attribution time on a wider
 * random-weight Llama with random JumpReLU transcoders, where a GPU has something to do.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ModelBundle } from '../src/engine/api';
import { computeAttribution, toAttributionGraph } from '../src/engine/attribution/attribute';
import { createEngine } from '../src/engine/attribution/engine';
import { replacementFromDictionary } from '../src/engine/attribution/from-dictionary';
import type { Replacement } from '../src/engine/attribution/replacement';
import type { AttributionGraph } from '../src/engine/attribution/types';
import { loadModelBundle } from '../src/engine/bundle/index';
import { loadDictionary } from '../src/engine/dictionaries/index';
import type { Mat, ModelSpec, NormSpec } from '../src/engine/model-spec';
import type { PrecisionSetting, ProviderSetting } from '../src/engine/runtime';

export interface GpuCheckContext {
  root: string;
  cacheDir: string;
  log: (s: string) => void;
  report: (name: string, err: number, tol: number, extra?: string) => void;
  relErr: (a: Float32Array, b: Float32Array) => number;
  providers: string[];
  /** Seconds left before the caller's deadline. */
  timeLeft: () => number;
}

function edgeMap(g: AttributionGraph): Map<string, number> {
  const key = (i: number) => {
    const n = g.nodes[i];
    return `${n.kind}:${n.layer}:${n.position}:${n.index}:${n.minusIndex ?? ''}`;
  };
  const m = new Map<string, number>();
  for (let e = 0; e < g.edges.weight.length; e++) m.set(`${key(g.edges.source[e])}>${key(g.edges.target[e])}`, g.edges.weight[e]);
  return m;
}

/** Edges of two graphs over the union of their edge sets, aligned (missing = 0). */
function aligned(a: AttributionGraph, b: AttributionGraph): [Float32Array, Float32Array] {
  const ma = edgeMap(a), mb = edgeMap(b);
  const keys = [...new Set([...ma.keys(), ...mb.keys()])];
  return [Float32Array.from(keys, (k) => ma.get(k) ?? 0), Float32Array.from(keys, (k) => mb.get(k) ?? 0)];
}

async function graphOn(bundle: ModelBundle, r: Replacement, ids: number[], provider: ProviderSetting, precision: PrecisionSetting, cacheDir: string, batchSize = 32, maxFeatureNodes = 8192) {
  const engine = await createEngine(bundle, r, { provider, precision, cacheDir });
  const opts = { prune: false, batchSize, edgeTolerance: 0, maxFeatureNodes };
  await computeAttribution(engine, ids, opts);
  const t0 = performance.now();
  const raw = await computeAttribution(engine, ids, opts);
  const ms = performance.now() - t0;
  const graph = toAttributionGraph(engine, undefined, raw, undefined, { prune: false });
  return { graph, ms, provider: engine.backward.provider, precision: engine.forward.precision, raw };
}

/** xorshift32 uniform values of the given std: deterministic and fast enough for billions of weights. */
export function randomMat(rows: number, cols: number, std: number, seed: number): Mat {
  const data = new Float32Array(rows * cols);
  let s = seed >>> 0 || 1;
  const k = (std * Math.sqrt(3) * 2) / 4294967296;
  for (let i = 0; i < data.length; i++) {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    data[i] = (s - 2147483648) * k;
  }
  return { data, rows, cols };
}

/** Random JumpReLU transcoders for a spec: ~0.5 % of features active (pre-activations ~N(0,1), threshold 2.6). */
export function randomTranscoders(spec: ModelSpec, F: number, seed: number): Replacement {
  const d = spec.dModel;
  const layers = Array.from({ length: spec.nLayers }, () => ({
    wEnc: randomMat(F, d, 1 / Math.sqrt(d), seed++),
    bEnc: new Float32Array(F),
    threshold: new Float32Array(F).fill(2.6),
    wDec: randomMat(F, d, 0.02, seed++),
    bDec: new Float32Array(d),
  }));
  return { kind: 'plt', activation: 'jumprelu', inputHook: 'mlp_in', layers, name: `random-tc-${F}` } as Replacement;
}

export interface RandomLlamaShape {
  d: number; L: number; H: number; KV: number; hd: number; dm: number; V: number;
  /** Std of attention and MLP weights. */
  std: number;
  name: string;
  seed: number;
  maxPositions: number;
  bosTokenId: number;
  tied: boolean;
}

/** A random-weight Llama-family model held in memory (no files), with a tokenizer that names ids. */
export function randomLlama(o: RandomLlamaShape): ModelBundle {
  const { d, L, H, KV, hd, dm, V, std } = o;
  const ones = (n: number): NormSpec => ({ kind: 'rms', weight: new Float32Array(n).fill(1), eps: 1e-6 });
  let seed = o.seed;
  const blocks = Array.from({ length: L }, () => ({
    ln1: ones(d),
    attn: { nHeads: H, nKvHeads: KV, headDim: hd, wq: randomMat(d, H * hd, std, seed++), wk: randomMat(d, KV * hd, std, seed++), wv: randomMat(d, KV * hd, std, seed++), wo: randomMat(H * hd, d, std, seed++), rotary: { dim: hd, base: 10000, layout: 'half' as const }, scale: 1 / Math.sqrt(hd) },
    ln2: ones(d),
    mlp: { kind: 'gated' as const, act: 'silu' as const, wIn: randomMat(d, dm, std, seed++), wGate: randomMat(d, dm, std, seed++), wOut: randomMat(dm, d, std, seed++) },
  }));
  const embed = randomMat(V, d, 1, seed++);
  const unembed = o.tied ? embed : randomMat(V, d, std, seed++);
  const spec: ModelSpec = { family: 'llama', name: o.name, dModel: d, nLayers: L, vocabSize: V, maxPositions: o.maxPositions, embed, blocks, lnFinal: ones(d), unembed, bosTokenId: o.bosTokenId };
  const weightBytes = 4 * (V * d * (o.tied ? 1 : 2) + L * (d * H * hd * 2 + d * KV * hd * 2 + 3 * d * dm));
  return {
    dir: '(in memory)', spec, config: {}, weightsHash: `${o.name}-s${o.seed}-v1`, weightBytes,
    tokenizer: { encode: () => [], decode: (ids) => ids.join(' '), tokenText: (id) => `<${id}>`, vocabSize: V },
  };
}

/** A random Llama (d 1024, 8 layers, 16 heads, d_mlp 4096, vocab 32000) with 8192-feature transcoders. */
function wideRandom(): { bundle: ModelBundle; replacement: Replacement } {
  const bundle = randomLlama({ d: 1024, L: 8, H: 16, KV: 16, hd: 64, dm: 4096, V: 32000, std: 0.03, name: 'random-llama-d1024', seed: 7, maxPositions: 4096, bosTokenId: 1, tied: false });
  return { bundle, replacement: randomTranscoders(bundle.spec, 8192, 1000) };
}

/** Attribution of one prompt on CPU f32 and on a GPU in f32 and f16: edges compared, times reported. */
export async function compareAttribution(ctx: GpuCheckContext, label: string, bundle: ModelBundle, r: Replacement, ids: number[], batch: number, maxNodes: number): Promise<number> {
  let failed = 0;
  const cpu = await graphOn(bundle, r, ids, 'cpu', 'f32', ctx.cacheDir, batch, maxNodes);
  for (const precision of ['f32', 'f16'] as PrecisionSetting[]) {
    const gpu = await graphOn(bundle, r, ids, 'webgpu', precision, ctx.cacheDir, batch, maxNodes);
    if (gpu.provider === 'cpu') {
      ctx.log(`SKIP ${label} on webgpu: fell back to cpu`);
      return failed;
    }
    const [a, b] = aligned(cpu.graph, gpu.graph);
    // f32: summation order only. f16: frozen patterns and norm scales carry f16 rounding (unit roundoff
    // 4.9e-4) compounded over the layers, and a JumpReLU feature near its threshold may switch, which
    // adds or removes whole rows: f16 is held to 5e-2 on the edges both graphs have, and the share of
    // edges only one of them has is reported.
    const tol = gpu.precision === 'f16' ? 5e-2 : 1e-3;
    let err = ctx.relErr(a, b);
    if (gpu.precision === 'f16') {
      const both = a.map((x, i) => (x !== 0 && b[i] !== 0 ? 1 : 0));
      const onlyOne = both.length - both.reduce((p, c) => p + c, 0);
      ctx.log(`     f16: ${onlyOne} of ${a.length} edges (${((100 * onlyOne) / a.length).toFixed(1)} %) are in one graph only; error over all edges ${err.toExponential(2)}`);
      err = ctx.relErr(a.filter((_, i) => both[i]), b.filter((_, i) => both[i]));
    }
    if (!(err <= tol)) failed++;
    ctx.report(`${label} edges webgpu/${gpu.precision} vs cpu/f32 (${a.length} edges, ${cpu.raw.seeds} targets, ${cpu.raw.sweeps} sweeps)`, err, tol,
      `cpu ${cpu.ms.toFixed(0)} ms (sweeps ${cpu.raw.timings.sweepMs.toFixed(0)}), webgpu ${gpu.ms.toFixed(0)} ms (sweeps ${gpu.raw.timings.sweepMs.toFixed(0)}${gpu.raw.deviceResident ? ', constants bound' : ''}); cpu/gpu ${(cpu.ms / gpu.ms).toFixed(2)}x`);
  }
  return failed;
}

/** The embedded model's transcoders and CLT; then, time permitting, the wider random model. Returns failures. */
export async function gpuChecks(ctx: GpuCheckContext, part: 'toy' | 'wide'): Promise<number> {
  let failed = 0;
  const toy = join(ctx.root, 'models/toy-llama');
  if (part === 'toy' && existsSync(join(toy, 'config.json'))) {
    const bundle = await loadModelBundle(toy);
    const ids = bundle.tokenizer.encode('Dallas is in the state whose capital is').map((t) => t.id);
    for (const dictDir of ['transcoders', 'clt']) {
      const dict = await loadDictionary(join(toy, dictDir), { dModel: bundle.spec.dModel, nLayers: bundle.spec.nLayers, name: bundle.spec.name });
      const r = replacementFromDictionary(dict, bundle.spec);
      failed += await compareAttribution(ctx, `toy ${dictDir}`, bundle, r, ids, 32, 8192);
    }
  } else if (part === 'toy') ctx.log('SKIP embedded model: models/toy-llama is absent');
  if (part === 'toy') return failed;

  ctx.log('\n## attribution on a wider random Llama (d 1024, 8 layers, 8192 transcoder features per layer, 2048 feature nodes)');
  const { bundle, replacement } = wideRandom();
  for (const T of process.argv.includes('--focus') ? [64] : [64, 256]) {
    if (ctx.timeLeft() < 120) {
      ctx.log('SKIP the rest: the run is near its time limit');
      break;
    }
    const ids = Array.from({ length: T }, (_, i) => (i === 0 ? 1 : (i * 7919 + 13) % 32000));
    failed += await compareAttribution(ctx, `wide T=${T}`, bundle, replacement, ids, 64, 2048);
  }
  return failed;
}
