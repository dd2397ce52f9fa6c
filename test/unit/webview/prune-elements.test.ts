import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_EDGE_WIDTH, MIN_EDGE_WIDTH, edgeWidth, toElements } from '../../../webview/elements';
import { normalizeGraph } from '../../../webview/graph-model';
import { layeredLayout } from '../../../webview/layout';
import { searchNodes, visibleElements } from '../../../webview/prune';
import { sampleGraph } from './sample-graph';

const g = normalizeGraph(sampleGraph(4));

test('pruning keeps nodes with cumulative influence ≤ threshold, the frame, and pinned nodes', () => {
  for (const t of [0.1, 0.3, 0.6, 1]) {
    const vis = visibleElements(g, t, new Set(), false);
    for (const n of g.nodes) {
      const expect = n.kind === 'embedding' || n.kind === 'logit' || n.influence === undefined || n.influence <= t;
      assert.equal(vis.nodes.has(n.id), expect, `${n.id} at ${t}`);
    }
    for (const l of vis.links) assert.ok(vis.nodes.has(l.source) && vis.nodes.has(l.target));
    assert.equal(vis.links.length, g.links.filter((l) => vis.nodes.has(l.source) && vis.nodes.has(l.target)).length);
  }
  const hidden = g.nodes.find((n) => n.kind === 'feature' && (n.influence ?? 0) > 0.5)!;
  assert.ok(visibleElements(g, 0.1, new Set([hidden.id]), false).nodes.has(hidden.id));
  const only = visibleElements(g, 1, new Set([hidden.id]), true);
  assert.deepEqual([...only.nodes], [hidden.id]);
});

test('search matches labels case-insensitively, and #feature', () => {
  const hits = searchNodes(g, 'TEXAS');
  assert.ok(hits.length > 0);
  for (const id of hits) assert.ok(g.byId.get(id)!.label.toLowerCase().includes('texas'));
  const f = g.nodes.find((n) => n.kind === 'feature')!;
  assert.ok(searchNodes(g, `#${f.feature}`).includes(f.id));
  assert.deepEqual(searchNodes(g, '  '), []);
});

test('elements: kind classes, sign classes, widths monotone in |weight|, supernode parents', () => {
  const pos = layeredLayout(g.nodes, g.nLayers);
  const vis = visibleElements(g, 1, new Set(), false);
  const members = g.nodes.filter((n) => n.kind === 'feature').slice(0, 2).map((n) => n.id);
  const els = toElements(g, pos, vis, new Set([members[0]]), [{ label: 'grp', ids: members }]);
  const nodes = els.filter((e) => e.group === 'nodes');
  const edges = els.filter((e) => e.group === 'edges');
  // Visible nodes + the supernode (every token has its embedding shown here, so no axis points).
  assert.equal(nodes.length, vis.nodes.size + 1);
  assert.equal(edges.length, vis.links.length);
  for (const e of nodes) {
    const n = g.byId.get(String(e.data.id));
    if (!n) continue;
    assert.ok(String(e.classes).split(' ').includes(n.kind));
    assert.deepEqual(e.position, pos.get(n.id));
  }
  assert.ok(String(nodes.find((e) => e.data.id === members[0])!.classes).includes('pinned'));
  for (const m of members) assert.equal(nodes.find((e) => e.data.id === m)!.data.parent, 'supernode:0');
  for (const e of edges) assert.equal(e.classes, Number(e.data.weight) >= 0 ? 'pos' : 'neg');
  const sorted = [...edges].sort((a, b) => Math.abs(Number(a.data.weight)) - Math.abs(Number(b.data.weight)));
  for (let i = 1; i < sorted.length; i++) assert.ok(Number(sorted[i].data.width) >= Number(sorted[i - 1].data.width));
  assert.equal(edgeWidth(0, 2), MIN_EDGE_WIDTH);
  assert.equal(edgeWidth(-2, 2), MAX_EDGE_WIDTH);
  assert.equal(edgeWidth(1, 0), MIN_EDGE_WIDTH);
});

test('tokens without a shown embedding keep a label on the axis', () => {
  const pos = layeredLayout(g.nodes, g.nLayers, undefined, g.promptTokens.length);
  const hidden = new Set(g.nodes.filter((n) => n.kind === 'embedding' && n.ctx % 2 === 0).map((n) => n.id));
  const vis = visibleElements(g, 1, new Set(), false);
  for (const id of hidden) vis.nodes.delete(id);
  const axis = toElements(g, pos, vis, new Set(), []).filter((e) => e.classes === 'axis');
  assert.deepEqual(axis.map((e) => e.data.ctx), g.promptTokens.map((_, c) => c).filter((c) => c % 2 === 0));
  for (const a of axis) assert.equal(a.selectable, false);
});
