/**
 * Attribution targets: the default choice (most probable tokens until 0.95 cumulative probability, at
 * most 10, as circuit-tracer's compute_salient_logits) checked against a direct computation, and custom
 * targets: a token's row, and a difference of two tokens whose row is the difference of their rows
 * (the direction is linear; the vocabulary mean cancels).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { computeAttribution } from '../../../src/engine/attribution/attribute';
import { salientLogits } from '../../../src/engine/attribution/targets';
import type { Csr } from '../../../src/engine/attribution/sparse';
import { FIXTURES, loadFixture } from './helpers';

test('salient logits: until the cumulative probability reaches the threshold, at most max', () => {
  const probs = Float64Array.from([0.05, 0.5, 0.2, 0.15, 0.1]);
  assert.deepEqual(salientLogits(probs, 10, 0.8), [1, 2, 3]); // 0.5, 0.7, 0.85 ≥ 0.8
  assert.deepEqual(salientLogits(probs, 10, 0.85), [1, 2, 3]); // reaching it exactly counts
  assert.deepEqual(salientLogits(probs, 2, 0.95), [1, 2]);
  assert.deepEqual(salientLogits(probs, 10, 1.5), [1, 2, 3, 4, 0]);
});

function row(a: Csr, node: number, n: number): Float64Array {
  const r = new Float64Array(n);
  for (let p = a.rowPtr[node]; p < a.rowPtr[node + 1]; p++) r[a.col[p]] = a.val[p];
  return r;
}

test('custom targets: one token, and the difference of two tokens', async () => {
  const f = FIXTURES[0];
  const { engine } = await loadFixture(f);
  const base = await computeAttribution(engine, f.prompt, { edgeTolerance: 0, maxFeatureNodes: 0 });
  const [a, b] = [base.targets[0].tokenId, base.targets[3].tokenId];
  const custom = await computeAttribution(engine, f.prompt, { edgeTolerance: 0, maxFeatureNodes: 0, targets: [{ token: a }, { token: b }, { token: a, minus: b }] });
  assert.deepEqual(custom.targets.map((t) => [t.tokenId, t.minusId]), [[a, undefined], [b, undefined], [a, b]]);
  assert.equal(custom.targets[2].weight, custom.targets[2].probability, 'a difference weighs as its first token');
  const n = custom.adjacency.nNodes;
  const first = n - 3;
  const ra = row(custom.adjacency, first, n), rb = row(custom.adjacency, first + 1, n), rd = row(custom.adjacency, first + 2, n);
  const rBase = row(base.adjacency, base.adjacency.nNodes - base.targets.length, base.adjacency.nNodes);
  let scale = 0;
  for (let i = 0; i < n; i++) scale = Math.max(scale, Math.abs(ra[i]), Math.abs(rb[i]));
  for (let i = 0; i < n - 3; i++) {
    assert.ok(Math.abs(rd[i] - (ra[i] - rb[i])) <= 1e-5 * scale, `difference row, column ${i}`);
    assert.ok(Math.abs(ra[i] - rBase[i]) <= 1e-6 * scale, `a custom token's row is its default target row, column ${i}`);
  }
});
