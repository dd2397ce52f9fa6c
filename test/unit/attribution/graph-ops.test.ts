/**
 * The pure graph functions on an AttributionGraph in arbitrary node order (as a graph file may hold
 * it): pruning the full graph gives the graph attribute() prunes itself, node for node and edge for
 * edge; influence and scores do not depend on the node order.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { attribute } from '../../../src/engine/attribution/attribute';
import { computeInfluence, graphScores, pruneGraph } from '../../../src/engine/attribution/graph-ops';
import type { AttributionGraph } from '../../../src/engine/attribution/types';
import { nodeIdOf } from '../../../src/engine/graph-file';
import { CACHE_DIR, FIXTURES, loadFixture } from './helpers';

/** The same graph with its nodes in a scrambled (deterministic) order. */
function shuffled(g: AttributionGraph): AttributionGraph {
  const n = g.nodes.length;
  const perm = Array.from({ length: n }, (_, i) => i).sort((a, b) => ((a * 7919) % 104729) - ((b * 7919) % 104729));
  const where = new Int32Array(n);
  perm.forEach((old, i) => (where[old] = i));
  return {
    ...g,
    nodes: perm.map((i) => g.nodes[i]),
    edges: { source: Int32Array.from(g.edges.source, (s) => where[s]), target: Int32Array.from(g.edges.target, (t) => where[t]), weight: g.edges.weight },
    targets: g.targets.map((t) => ({ ...t, node: where[t.node] })),
  };
}

function edgeSet(g: AttributionGraph): Map<string, number> {
  const ids = g.nodes.map((x) => nodeIdOf(x, g.nLayers));
  const m = new Map<string, number>();
  for (let e = 0; e < g.edges.weight.length; e++) m.set(`${ids[g.edges.source[e]]}>${ids[g.edges.target[e]]}`, g.edges.weight[e]);
  return m;
}

test('pruneGraph, computeInfluence and graphScores on a graph in any node order', async () => {
  const f = FIXTURES[1];
  const { bundle, dictionary } = await loadFixture(f);
  const runtime = { cacheDir: CACHE_DIR, provider: 'cpu' as const, threads: 1 };
  const full = await attribute(bundle, dictionary, f.prompt, { prune: false, edgeTolerance: 0, runtime });
  const pruned = await attribute(bundle, dictionary, f.prompt, { edgeTolerance: 0, nodeThreshold: 0.7, edgeThreshold: 0.95, runtime });
  const mixed = shuffled(full);
  const mine = pruneGraph(mixed, { nodeThreshold: 0.7, edgeThreshold: 0.95 });
  assert.deepEqual(mine.nodes.map((x) => nodeIdOf(x, mine.nLayers)).sort(), pruned.nodes.map((x) => nodeIdOf(x, pruned.nLayers)).sort());
  const a = edgeSet(mine), b = edgeSet(pruned);
  assert.equal(a.size, b.size);
  for (const [k, w] of b) assert.equal(a.get(k), w, `edge ${k}`);
  assert.deepEqual(mine.thresholds, { node: 0.7, edge: 0.95 });
  assert.equal(mine.targets.length, pruned.targets.length);
  for (const t of mine.targets) assert.equal(mine.nodes[t.node].kind, 'logit');

  const infFull = computeInfluence(full), infMixed = computeInfluence(mixed);
  const idsFull = full.nodes.map((x) => nodeIdOf(x, full.nLayers));
  const byId = new Map(idsFull.map((id, i) => [id, infFull[i]]));
  mixed.nodes.forEach((x, i) => assert.ok(Math.abs(infMixed[i] - byId.get(nodeIdOf(x, mixed.nLayers))!) <= 1e-12 + 1e-9 * Math.abs(infMixed[i])));
  const s1 = graphScores(full), s2 = graphScores(mixed);
  assert.ok(Math.abs(s1.replacement - s2.replacement) < 1e-12 && Math.abs(s1.completeness - s2.completeness) < 1e-12);
  assert.ok(Math.abs(s1.replacement - full.scores!.replacement) < 1e-12, 'the scores attribute() reports');
});
