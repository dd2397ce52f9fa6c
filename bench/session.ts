/**
 * The engine session's figures for `npm run bench` (section "session"): Analyze wall time as the worker
 * does it (one forward pass, the sweeps, pruning, the graph file) on the embedded model and on a random
 * d768 × 12-layer Llama with random JumpReLU transcoders; and the time to re-prune a kept raw
 * attribution of about 3,000 nodes at a new threshold (the panel's threshold control), against the
 * analysis it saves.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ModelBundle } from '../src/engine/api';
import { writeSafetensors } from '../src/engine/bundle/safetensors';
import { toGraphFile } from '../src/engine/graph-file';
import { ModelSession } from '../src/engine/session';
import { randomLlama, randomMat } from './gpu-check-extra';
import type { BenchRow, SectionContext } from './table';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** A random d768 × 12-layer Llama (12 heads of 64, d_mlp 3072, vocab 32000), GPT-2-small sized. */
export function randomD768(): ModelBundle {
  return randomLlama({ d: 768, L: 12, H: 12, KV: 12, hd: 64, dm: 3072, V: 32000, std: 0.03, name: 'random-llama-d768', seed: 7, maxPositions: 2048, bosTokenId: 1, tied: false });
}

/**
 * Random JumpReLU transcoders written as a transcoder-set folder (so the session opens them like any
 * other): pre-activations ~N(0, 1) against a threshold of 2.6, about 0.5 % of features active.
 */
export function writeRandomTranscoders(dir: string, bundle: ModelBundle, F: number, seed: number): void {
  const { dModel: d, nLayers: L, name } = bundle.spec;
  const lines = [`model_name: "${name}"`, 'feature_input_hook: "hook_resid_mid"', 'feature_output_hook: "hook_mlp_out"', 'transcoders:'];
  for (let l = 0; l < L; l++) {
    writeSafetensors(join(dir, `layer_${l}.safetensors`), {
      W_enc: { dtype: 'F32', shape: [F, d], data: randomMat(F, d, 1 / Math.sqrt(d), seed++).data },
      b_enc: { dtype: 'F32', shape: [F], data: new Float32Array(F) },
      W_dec: { dtype: 'F32', shape: [F, d], data: randomMat(F, d, 0.02, seed++).data },
      b_dec: { dtype: 'F32', shape: [d], data: new Float32Array(d) },
      'activation_function.threshold': { dtype: 'F32', shape: [F], data: new Float32Array(F).fill(2.6) },
    });
    lines.push(`  - id: "random-${l}"`, `    layer: ${l}`, `    filepath: "layer_${l}.safetensors"`);
  }
  writeFileSync(join(dir, 'config.yaml'), `${lines.join('\n')}\n`);
}

/** Analyze as the worker runs it: run → attribute → prune → graph file; milliseconds. */
async function analyzeOnce(session: ModelSession, prompt: string | number[], o: { maxFeatureNodes: number; batchSize: number }) {
  const t0 = performance.now();
  const run = await session.run(prompt);
  const raw = await session.attribute(run, o);
  const graph = session.prune(run, raw, { node: 0.8, edge: 0.98 }, { settings: o });
  toGraphFile(graph);
  return { ms: performance.now() - t0, run, raw, graph };
}

export async function benchSession(ctx: SectionContext): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const threads = ctx.threads ?? 1;
  const cacheDir = mkdtempSync(join(tmpdir(), 'ci-bench-session-'));
  const runtime = { provider: 'cpu' as const, threads, cacheDir };
  try {
    // The embedded model, at the extension's default settings.
    const embedded = join(ctx.root, 'models/toy-llama');
    if (existsSync(join(embedded, 'transcoders'))) {
      const s = await ModelSession.open({ model: embedded, runtime });
      const o = { maxFeatureNodes: 4096, batchSize: 64 };
      await analyzeOnce(s, 'warm-up prompt', o);
      const times: number[] = [];
      // Distinct prompts of one length: nothing is cached between them.
      for (let r = 0; r < 5; r++) times.push((await analyzeOnce(s, `The capital of the state containing Dallas is Austin, and run ${r} says`, o)).ms);
      rows.push({ section: 'session', name: 'Analyze wall time, embedded toy-llama (run → attribute → prune → graph file)', value: median(times), unit: 'ms', provider: 'cpu', note: `median of 5; ${threads} thread(s); max ${o.maxFeatureNodes} feature nodes, batch ${o.batchSize}` });
      await s.dispose();
    }

    // A random d768 × 12-layer Llama with 4096-feature random transcoders.
    const bundle = randomD768();
    const tcDir = mkdtempSync(join(tmpdir(), 'ci-bench-tc-'));
    try {
      writeRandomTranscoders(tcDir, bundle, 4096, 1000);
      const s = await ModelSession.open({ model: bundle, dictionaries: [tcDir], runtime });
      const ids = (r: number, T: number) => Array.from({ length: T }, (_, i) => (i === 0 ? 1 : (i * 7919 + 13 * r + 5) % 32000));
      const o = { maxFeatureNodes: 1024, batchSize: 64 };
      await analyzeOnce(s, ids(99, 8), o);
      const times: number[] = [];
      for (let r = 0; r < 3; r++) times.push((await analyzeOnce(s, ids(r, 24), o)).ms);
      rows.push({ section: 'session', name: 'Analyze wall time, random d768 × 12-layer Llama, 24 tokens', value: median(times), unit: 'ms', provider: 'cpu', note: `median of 3; ${threads} thread(s); 4096-feature random transcoders, max ${o.maxFeatureNodes} feature nodes, batch ${o.batchSize}` });

      // Re-prune a kept raw attribution of about 3,000 nodes.
      const big = await analyzeOnce(s, ids(7, 24), { maxFeatureNodes: 2700, batchSize: 64 });
      const nNodes = big.raw.adjacency.nNodes;
      const pruneTimes: number[] = [];
      const withFile: number[] = [];
      for (const [node, edge] of [[0.5, 0.9], [0.95, 0.99], [0.8, 0.98], [0.3, 0.8], [0.99, 0.999]]) {
        const t0 = performance.now();
        const g = s.prune(big.run, big.raw, { node, edge });
        const t1 = performance.now();
        toGraphFile(g);
        pruneTimes.push(t1 - t0);
        withFile.push(performance.now() - t0);
      }
      const reprune = median(withFile);
      rows.push({ section: 'session', name: `re-prune a kept raw attribution of ${nNodes} nodes (${big.raw.adjacency.val.length} edges): influence, masks, scores`, value: median(pruneTimes), unit: 'ms', provider: 'cpu', note: 'median of 5 thresholds; goal ≤ 100 ms with the graph file' });
      rows.push({ section: 'session', name: `re-prune + graph file, ${nNodes} nodes`, value: reprune, unit: 'ms', provider: 'cpu', ratio: reprune / big.ms, ratioLabel: 'of re-running the analysis' });
      await s.dispose();
    } finally {
      rmSync(tcDir, { recursive: true, force: true });
    }
  } finally {
    rmSync(cacheDir, { recursive: true, force: true });
  }
  return rows;
}
