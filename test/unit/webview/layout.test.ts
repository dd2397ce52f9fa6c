import { test } from 'node:test';
import assert from 'node:assert/strict';
import { normalizeGraph } from '../../../webview/graph-model';
import { DEFAULT_LAYOUT, fitAspect, layeredLayout } from '../../../webview/layout';
import { sampleGraph } from './sample-graph';

test('x follows token position and y follows layer (embeddings bottom, logits top)', () => {
  const g = normalizeGraph(sampleGraph(4));
  const pos = layeredLayout(g.nodes, g.nLayers, undefined, g.promptTokens.length);
  // One point per node, plus one token-axis point per prompt token.
  assert.equal(pos.size, g.nodes.length + g.promptTokens.length);
  for (let c = 1; c < g.promptTokens.length; c++) assert.ok(pos.get(`axis:${c}`)!.x > pos.get(`axis:${c - 1}`)!.x);
  for (const a of g.nodes) {
    for (const b of g.nodes) {
      const pa = pos.get(a.id)!;
      const pb = pos.get(b.id)!;
      // Screen y grows downward: a higher layer is strictly higher on screen (bands never overlap).
      if (a.layer > b.layer) assert.ok(pa.y < pb.y, `${a.id} above ${b.id}`);
      if (a !== b) assert.ok(pa.x !== pb.x || pa.y !== pb.y, `${a.id} and ${b.id} overlap`);
      // A later token's nodes are all to the right of an earlier token's (columns never interleave).
      if (a.ctx > b.ctx) assert.ok(pa.x > pb.x, `${a.id} right of ${b.id}`);
    }
  }
});

test('a crowded cell wraps into sub-rows inside its layer band', () => {
  const opts = { ...DEFAULT_LAYOUT, maxPerRow: 4 };
  const crowd = Array.from({ length: 10 }, (_, i) => ({ id: `c${i}`, kind: 'feature' as const, layer: 1, ctx: 0, label: '', influence: i / 10 }));
  const above = { id: 'up', kind: 'feature' as const, layer: 2, ctx: 0, label: '' };
  const below = { id: 'down', kind: 'feature' as const, layer: 0, ctx: 0, label: '' };
  const pos = layeredLayout([...crowd, above, below], 3, opts);
  const ys = [...new Set(crowd.map((n) => pos.get(n.id)!.y))].sort((a, b) => a - b);
  assert.equal(ys.length, 3, 'ceil(10 / 4) sub-rows');
  assert.ok(pos.get('up')!.y < ys[0] && pos.get('down')!.y > ys[2]);
  const xs = crowd.slice(0, 4).map((n) => pos.get(n.id)!.x);
  for (let i = 1; i < 4; i++) assert.equal(xs[i] - xs[i - 1], opts.nodeSpacing);
});

test('nodes sharing a cell do not overlap, most influential first', () => {
  const nodes = [0.9, 0.1, 0.5].map((inf, i) => ({ id: `f${i}`, kind: 'feature' as const, layer: 1, ctx: 2, label: '', influence: inf }));
  const pos = layeredLayout(nodes, 2);
  const xs = nodes.map((n) => pos.get(n.id)!.x);
  assert.ok(xs[1] < xs[2] && xs[2] < xs[0], 'ordered by influence');
  assert.equal(xs[2] - xs[1], DEFAULT_LAYOUT.nodeSpacing);
  assert.equal(xs[0] - xs[2], DEFAULT_LAYOUT.nodeSpacing);
});

test('fitAspect moves a wide layout toward a tall panel without reordering nodes', () => {
  const g = normalizeGraph(sampleGraph(4));
  const pos = layeredLayout(g.nodes, g.nLayers);
  const aspect = (m: Map<string, { x: number; y: number }>) => {
    const xs = [...m.values()].map((p) => p.x);
    const ys = [...m.values()].map((p) => p.y);
    return (Math.max(...xs) - Math.min(...xs)) / (Math.max(...ys) - Math.min(...ys));
  };
  const tall = fitAspect(pos, 300, 800);
  assert.ok(aspect(tall) < aspect(pos), 'closer to the panel shape');
  for (const a of g.nodes) {
    for (const b of g.nodes) {
      const [pa, pb, qa, qb] = [pos.get(a.id)!, pos.get(b.id)!, tall.get(a.id)!, tall.get(b.id)!];
      assert.equal(Math.sign(qa.x - qb.x), Math.sign(pa.x - pb.x));
      assert.equal(Math.sign(qa.y - qb.y), Math.sign(pa.y - pb.y));
    }
  }
  // A panel wider than the graph spreads the columns instead, again keeping the order.
  const wide = fitAspect(pos, 10_000, 100);
  assert.ok(aspect(wide) > aspect(pos));
  // Same shape: unchanged.
  const xs = [...pos.values()].map((p) => p.x);
  const ys = [...pos.values()].map((p) => p.y);
  assert.equal(fitAspect(pos, Math.max(...xs) - Math.min(...xs), Math.max(...ys) - Math.min(...ys)), pos);
});
