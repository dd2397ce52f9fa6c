import { test } from 'node:test';
import assert from 'node:assert/strict';
import { normalizeGraph } from '../../../webview/graph-model';
import { layeredLayout } from '../../../webview/layout';
import { searchNodes, visibleElements } from '../../../webview/prune';
import { buildScene, connections, mergeEdges, restingEdges } from '../../../webview/scene';
import * as vs from '../../../webview/view-state';
import { sampleGraph, syntheticGraph } from './sample-graph';

const g = normalizeGraph(sampleGraph(4));
const lay = layeredLayout(g.nodes, g.nLayers, g.promptTokens.length);

test('pruning keeps nodes with cumulative influence ≤ threshold and the one that crosses it, the frame, and pinned nodes', () => {
  // circuit-tracer's rule: walking nodes in influence order, the node whose share carries the running sum
  // across t is kept too (its cumulative value is the first one ≥ t).
  const order = g.nodes.map((n) => n.influence).filter((v): v is number => v !== undefined).sort((a, b) => a - b);
  for (const t of [0.1, 0.3, 0.6, 1]) {
    const crossing = order.find((v) => v >= t) ?? t;
    const vis = visibleElements(g, t, new Set(), false);
    let crossed = 0;
    for (const n of g.nodes) {
      if (n.influence !== undefined && n.influence > t && vis.nodes.has(n.id) && n.kind !== 'embedding' && n.kind !== 'logit') crossed++;
      const expect = n.kind === 'embedding' || n.kind === 'logit' || n.influence === undefined || n.influence <= crossing;
      assert.equal(vis.nodes.has(n.id), expect, `${n.id} at ${t}`);
    }
    assert.ok(crossed <= 1, `${crossed} nodes above ${t} shown; only the crossing one may be`);
    assert.equal(vis.links.length, g.links.filter((l) => vis.nodes.has(l.source) && vis.nodes.has(l.target)).length);
  }
  const hidden = g.nodes.find((n) => n.kind === 'feature' && (n.influence ?? 0) > 0.5)!;
  const s = vs.setThreshold(vs.togglePins(vs.initialState(g), [hidden.id]), 0.1);
  assert.ok(buildScene(g, lay, s).byId.has(hidden.id));
  assert.deepEqual(buildScene(g, lay, vs.setPinnedOnly(s, true)).nodes.map((n) => n.id), [hidden.id]);
});

test('search matches labels case-insensitively, and #feature', () => {
  const hits = searchNodes(g, 'TEXAS');
  assert.ok(hits.length > 0);
  for (const id of hits) assert.ok(g.byId.get(id)!.label.toLowerCase().includes('texas'));
  const f = g.nodes.find((n) => n.kind === 'feature')!;
  assert.ok(searchNodes(g, `#${f.feature}`).includes(f.id));
  assert.deepEqual(searchNodes(g, '  '), []);
});

test('a collapsed supernode is one node whose edges are the sums of its members’ edges', () => {
  const members = g.nodes.filter((n) => n.kind === 'feature' && n.layer === 1).map((n) => n.id);
  const s = vs.group(vs.initialState(g), members, 'L1 group');
  const scene = buildScene(g, lay, s);
  const key = vs.supernodeKey('L1 group');
  const sn = scene.byId.get(key)!;
  assert.deepEqual(new Set(sn.members), new Set(members));
  for (const m of members) assert.ok(!scene.byId.has(m), 'members are merged away');
  // Truth by hand from the file's links: per neighbour, the sum over members.
  const inSum = new Map<string, number>(), outSum = new Map<string, number>();
  for (const l of g.links) {
    const si = members.includes(l.source), ti = members.includes(l.target);
    if (si && ti) continue;
    if (ti) inSum.set(l.source, (inSum.get(l.source) ?? 0) + l.weight);
    if (si) outSum.set(l.target, (outSum.get(l.target) ?? 0) + l.weight);
  }
  const c = connections(scene, key);
  assert.deepEqual(new Map(c.incoming.map((x) => [x.id, x.weight])), inSum);
  assert.deepEqual(new Map(c.outgoing.map((x) => [x.id, x.weight])), outSum);
  // Expanded, the members are back with their own edges.
  const open = buildScene(g, lay, vs.toggleExpanded(s, 'L1 group'));
  assert.ok(!open.byId.has(key) && members.every((m) => open.byId.get(m)?.inGroup === 'L1 group'));
  // Edges between two groups sum every member pair; edges inside a group vanish.
  const merged = mergeEdges([{ source: 'a', target: 'c', weight: 1 }, { source: 'b', target: 'c', weight: 2 }, { source: 'a', target: 'b', weight: 5 }, { source: 'b', target: 'd', weight: -1 }], new Map([['a', 'G'], ['b', 'G'], ['c', 'H'], ['d', 'H']]));
  assert.deepEqual(merged, [{ source: 'G', target: 'H', weight: 2 }]);
});

test('connections: every edge of the node, strongest first, shares summing to 1 per side', () => {
  const scene = buildScene(g, lay, vs.initialState(g));
  for (const n of g.nodes) {
    const c = connections(scene, n.id);
    const inTruth = g.links.filter((l) => l.target === n.id);
    const outTruth = g.links.filter((l) => l.source === n.id);
    assert.equal(c.incoming.length, inTruth.length);
    assert.equal(c.outgoing.length, outTruth.length);
    for (const side of [c.incoming, c.outgoing]) {
      for (let i = 1; i < side.length; i++) assert.ok(Math.abs(side[i - 1].weight) >= Math.abs(side[i].weight));
      if (side.length) assert.ok(Math.abs(side.reduce((a, x) => a + x.share, 0) - 1) < 1e-9);
    }
    for (const l of inTruth) assert.ok(c.incoming.some((x) => x.id === l.source && x.weight === l.weight));
  }
});

test('resting edges: within budget, and every node keeps its strongest input and output', () => {
  const big = normalizeGraph(syntheticGraph(2000));
  const budget = 3000;
  const scene = buildScene(big, layeredLayout(big.nodes, big.nLayers, big.promptTokens.length), vs.initialState(big), budget);
  assert.ok(scene.edges.length > budget);
  const kept = new Set(scene.resting);
  assert.ok(kept.size <= Math.max(budget, 2 * scene.nodes.length), `${kept.size} drawn`);
  const strongest = (idx: number[]) => idx.reduce((a, b) => (Math.abs(scene.edges[b].weight) > Math.abs(scene.edges[a].weight) ? b : a));
  for (const idx of scene.incoming.values()) assert.ok(kept.has(strongest(idx)));
  for (const idx of scene.outgoing.values()) assert.ok(kept.has(strongest(idx)));
  assert.deepEqual([...restingEdges([{ source: 'a', target: 'b', weight: 1 }], 2, 10)], [0]);
});
