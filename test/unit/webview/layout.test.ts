import { test } from 'node:test';
import assert from 'node:assert/strict';
import { normalizeGraph } from '../../../webview/graph-model';
import { DEFAULT_LAYOUT, layeredLayout } from '../../../webview/layout';
import { sampleGraph } from './sample-graph';

test('x follows token position and y follows layer; every node sits inside its own band', () => {
  const g = normalizeGraph(sampleGraph(4));
  const lay = layeredLayout(g.nodes, g.nLayers, g.promptTokens.length);
  assert.equal(lay.positions.size, g.nodes.length);
  // One column per prompt token, left to right; one band per row, logits on top, embeddings at the bottom.
  assert.deepEqual(lay.columns.map((c) => c.ctx), g.promptTokens.map((_, i) => i));
  for (let c = 1; c < lay.columns.length; c++) assert.equal(lay.columns[c].left, lay.columns[c - 1].right);
  assert.deepEqual(lay.bands.map((b) => b.label), ['Logits', 'L3', 'L2', 'L1', 'L0', 'Emb']);
  for (let i = 1; i < lay.bands.length; i++) assert.equal(lay.bands[i].top, lay.bands[i - 1].bottom);
  for (const n of g.nodes) {
    const p = lay.positions.get(n.id)!;
    const band = lay.bands.find((b) => b.layer === n.layer)!;
    assert.ok(p.y > band.top && p.y < band.bottom, `${n.id} inside band ${band.label}`);
    const col = lay.columns[n.ctx];
    assert.ok(p.x > col.left && p.x < col.right, `${n.id} inside column ${n.ctx}`);
  }
  for (const a of g.nodes) for (const b of g.nodes) {
    const pa = lay.positions.get(a.id)!, pb = lay.positions.get(b.id)!;
    if (a !== b) assert.ok(pa.x !== pb.x || pa.y !== pb.y, `${a.id} and ${b.id} overlap`);
  }
});

test('a crowded cell wraps into sub-rows inside its band, which grows to hold them', () => {
  const opts = { ...DEFAULT_LAYOUT, maxPerRow: 4, maxSubRows: 3 };
  const crowd = Array.from({ length: 10 }, (_, i) => ({ id: `c${i}`, kind: 'feature' as const, layer: 1, ctx: 0, label: '', influence: i / 10 }));
  const above = { id: 'up', kind: 'feature' as const, layer: 2, ctx: 0, label: '' };
  const below = { id: 'down', kind: 'feature' as const, layer: 0, ctx: 0, label: '' };
  const lay = layeredLayout([...crowd, above, below], 3, 1, opts);
  const ys = [...new Set(crowd.map((n) => lay.positions.get(n.id)!.y))].sort((a, b) => a - b);
  assert.equal(ys.length, 3, 'ceil(10 / 4) sub-rows');
  const band = lay.bands.find((b) => b.layer === 1)!;
  assert.ok(ys[0] > band.top && ys[2] < band.bottom, 'sub-rows inside the band');
  assert.ok(lay.positions.get('up')!.y < band.top && lay.positions.get('down')!.y > band.bottom);
  const xs = crowd.slice(0, 4).map((n) => lay.positions.get(n.id)!.x);
  for (let i = 1; i < 4; i++) assert.equal(xs[i] - xs[i - 1], opts.nodeSpacing);
  // Allowed two sub-rows only, the cell grows wider instead: 5 + 5.
  const wide = layeredLayout(crowd, 3, 1, { ...opts, maxSubRows: 2 });
  const rows = new Map<number, number>();
  for (const n of crowd) rows.set(wide.positions.get(n.id)!.y, (rows.get(wide.positions.get(n.id)!.y) ?? 0) + 1);
  assert.deepEqual([...rows.values()], [5, 5]);
});

test('nodes sharing a cell are ordered most influential first; ten logits get room for their labels', () => {
  const nodes = [0.9, 0.1, 0.5].map((inf, i) => ({ id: `f${i}`, kind: 'feature' as const, layer: 1, ctx: 2, label: '', influence: inf }));
  const lay = layeredLayout(nodes, 2);
  const xs = nodes.map((n) => lay.positions.get(n.id)!.x);
  assert.ok(xs[1] < xs[2] && xs[2] < xs[0], 'ordered by influence');
  assert.equal(xs[2] - xs[1], DEFAULT_LAYOUT.nodeSpacing);
  const logits = Array.from({ length: 10 }, (_, i) => ({ id: `l${i}`, kind: 'logit' as const, layer: 2, ctx: 0, label: '', prob: 0.1 }));
  const ll = layeredLayout(logits, 2);
  const ps = logits.map((n) => ll.positions.get(n.id)!);
  for (const a of ps) for (const b of ps) if (a !== b && a.y === b.y) assert.ok(Math.abs(a.x - b.x) >= DEFAULT_LAYOUT.logitSpacing);
});

test('the layout does not depend on anything but the nodes (stable under selection, resize, pins)', () => {
  const g = normalizeGraph(sampleGraph(4));
  const a = layeredLayout(g.nodes, g.nLayers, g.promptTokens.length);
  const b = layeredLayout([...g.nodes].reverse(), g.nLayers, g.promptTokens.length);
  for (const n of g.nodes) assert.deepEqual(a.positions.get(n.id), b.positions.get(n.id));
});
