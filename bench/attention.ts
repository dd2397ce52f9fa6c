/**
 * Attention figures (measured, never asserted), on the embedded model's induction prompt with its
 * per-layer transcoders (examples/induction.prompt):
 * - head loadings: an analysis (attribution + pruning + graph) with and without them, interleaved, min
 *   and median of BENCH_ATTN_RUNS runs each; the ratio is the added fraction (goal ≤ 0.20);
 * - QK tracing of one node (the feature predicting the name, head and key chosen as the CLI does)
 *   against the analysis's time (goal ≤ 1 s; Neuronpedia reports 2–10× the graph's time for its Lorsa
 *   QK tracing).
 */
import { existsSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { computeAttribution, toAttributionGraph } from '../src/engine/attribution/attribute';
import { createEngine } from '../src/engine/attribution/engine';
import { replacementFromDictionary } from '../src/engine/attribution/from-dictionary';
import { qkForNode } from '../src/engine/attention/node-qk';
import { headLoadingFlops } from '../src/engine/attention/graph-heads';
import { loadModelBundle } from '../src/engine/bundle/index';
import { loadDictionary } from '../src/engine/dictionaries/index';
import type { BenchRow, SectionContext } from './table';

const minOf = (xs: number[]) => Math.min(...xs);
const medianOf = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export async function benchAttention(ctx: SectionContext): Promise<BenchRow[]> {
  const modelDir = join(ctx.root, 'models', 'toy-llama');
  const promptFile = join(ctx.root, 'examples', 'induction.prompt');
  if (!existsSync(join(modelDir, 'config.json')) || !existsSync(promptFile)) {
    ctx.log('  attention: the embedded model or examples/induction.prompt is missing; skipped');
    return [];
  }
  const prompt = readFileSync(promptFile, 'utf8').trim();
  const bundle = await loadModelBundle(modelDir);
  const dict = await loadDictionary(join(modelDir, 'transcoders'), { dModel: bundle.spec.dModel, nLayers: bundle.spec.nLayers });
  const engine = await createEngine(bundle, replacementFromDictionary(dict, bundle.spec), { provider: 'cpu', threads: ctx.threads });
  const runs = Math.max(1, Number(process.env.BENCH_ATTN_RUNS ?? 7));

  // Wall time and this process's CPU time (all its threads: onnxruntime's too). On a shared, loaded
  // machine the CPU time is the figure the load moves least.
  const cpuMs = (c: NodeJS.CpuUsage) => (c.user + c.system) / 1000;
  const analysis = async (heads: boolean) => {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    const raw = await computeAttribution(engine, prompt);
    const g = toAttributionGraph(engine, dict, raw, prompt, { headLoadings: heads });
    return { ms: performance.now() - t0, cpu: cpuMs(process.cpuUsage(c0)), raw, graph: g };
  };
  await analysis(true); // warm: sessions, JIT
  await analysis(false);
  const withH: number[] = [], without: number[] = [], withCpu: number[] = [], withoutCpu: number[] = [];
  let last = await analysis(true);
  for (let i = 0; i < runs; i++) {
    const w = await analysis(false);
    without.push(w.ms);
    withoutCpu.push(w.cpu);
    last = await analysis(true);
    withH.push(last.ms);
    withCpu.push(last.cpu);
  }
  const crossEdges = last.graph.edgeHeads ? Array.from({ length: last.graph.edges.weight.length }, (_, e) => last.graph.edgeHeads!.offsets[e + 1] > last.graph.edgeHeads!.offsets[e]).filter(Boolean).length : 0;
  const base = medianOf(without);
  // The host work itself (multiply-adds × 2), a figure the machine's load does not move.
  const g = last.graph;
  const targets = new Map<number, { layer: number; position: number }>();
  for (let e = 0; e < g.edges.weight.length; e++) {
    if (!g.edgeHeads || g.edgeHeads.offsets[e + 1] === g.edgeHeads.offsets[e]) continue;
    const t = g.nodes[g.edges.target[e]];
    targets.set(g.edges.target[e], { layer: t.kind === 'logit' ? bundle.spec.nLayers : t.layer, position: t.position });
  }
  const hlFlops = headLoadingFlops(bundle.spec, engine.replacement, [...targets.values()]);
  const rows: BenchRow[] = [
    { section: 'attention', name: 'analysis without head loadings (median)', value: base, unit: 'ms', provider: 'cpu', note: `min ${minOf(without).toFixed(1)} ms, ${runs} runs, load ${loadavg()[0].toFixed(1)}` },
    {
      section: 'attention', name: 'analysis with head loadings (median)', value: medianOf(withH), unit: 'ms', provider: 'cpu',
      ratio: (medianOf(withH) - base) / base, ratioLabel: 'added fraction (goal ≤ 0.20)',
      note: `min ${minOf(withH).toFixed(1)} ms; ${crossEdges} of ${last.graph.edges.weight.length} kept edges split into heads, ${targets.size} host backward passes, ${(hlFlops / 1e6).toFixed(0)} MFLOP`,
    },
    {
      section: 'attention', name: 'analysis CPU time with head loadings (median)', value: medianOf(withCpu), unit: 'ms', provider: 'cpu',
      ratio: (medianOf(withCpu) - medianOf(withoutCpu)) / medianOf(withoutCpu), ratioLabel: 'added CPU fraction (goal ≤ 0.20)',
      note: `without: median ${medianOf(withoutCpu).toFixed(1)} ms CPU (min ${minOf(withoutCpu).toFixed(1)}); with: min ${minOf(withCpu).toFixed(1)} ms CPU; load ${loadavg()[0].toFixed(1)}`,
    },
  ];

  // QK tracing of the node that predicts the name, as `circuit-inspector qk --node L3#385@12` does it.
  const raw = last.raw;
  const f = raw.features;
  let node = { kind: 'feature' as const, layer: 3, position: raw.frozen.T - 1, index: 385 };
  const has = (n: typeof node) => Array.from(f.act.keys()).some((k) => f.layer[k] === n.layer && f.pos[k] === n.position && f.index[k] === n.index);
  if (!has(node)) {
    // The strongest top-layer feature at the last position instead.
    let best = -1;
    for (let k = 0; k < f.act.length; k++) if (f.pos[k] === raw.frozen.T - 1 && f.layer[k] === bundle.spec.nLayers - 1 && (best < 0 || f.act[k] > f.act[best])) best = k;
    node = { kind: 'feature', layer: f.layer[best], position: f.pos[best], index: f.index[best] };
  }
  const qkMs: number[] = [], qkCpu: number[] = [];
  let r;
  qkForNode(bundle.spec, engine.replacement, raw, true, { node });
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    r = qkForNode(bundle.spec, engine.replacement, raw, true, { node });
    qkCpu.push(cpuMs(process.cpuUsage(c0)));
    qkMs.push(performance.now() - t0);
  }
  rows.push({
    section: 'attention', name: `QK tracing of one node (L${node.layer}#${node.index}@${node.position}, median)`, value: medianOf(qkMs), unit: 'ms', provider: 'cpu',
    ratio: medianOf(qkMs) / base, ratioLabel: 'vs the analysis (goal ≤ 1 s)',
    note: `head L${r!.layer}.H${r!.head} ${r!.query}→${r!.key}, ${r!.headDim} host backward passes per side (${((r!.headDim * (headLoadingFlops(bundle.spec, engine.replacement, [{ layer: r!.layer - 1, position: r!.query }]) + headLoadingFlops(bundle.spec, engine.replacement, [{ layer: r!.layer - 1, position: r!.key }]))) / 1e6).toFixed(0)} MFLOP), ${raw.features.act.length} features + ${bundle.spec.nLayers * raw.frozen.T} errors + ${raw.frozen.T} tokens per side, min ${minOf(qkMs).toFixed(1)} ms; CPU median ${medianOf(qkCpu).toFixed(1)} ms (min ${minOf(qkCpu).toFixed(1)}), load ${loadavg()[0].toFixed(1)}`,
  });
  await engine.forward.dispose();
  return rows;
}
