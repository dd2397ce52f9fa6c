/**
 * The bookkeeping of capped attribution, against plain definitions: partial influence read from the
 * row store equals influence on the CSR built from it; top-k selection equals a full sort (ties by
 * index); sparse rows are stored as dense rows are; decoder buckets pad each position at most 2× (but
 * in the last bucket) and hold every position with features once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bucketPositions } from '../../../src/engine/attribution/backward';
import { influenceOnCsr, influenceOnRows, topUnvisited } from '../../../src/engine/attribution/influence';
import { RowStore } from '../../../src/engine/attribution/sparse';
import { DECODER_BUCKETS } from '../../../src/engine/onnx/backward-graph';

/** Deterministic pseudo-random numbers in [0, 1). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
}

/** A random DAG's rows (a row's sources all come before it), dense, with exact zeros. */
function randomRows(n: number, nLogits: number, seed: number): { target: number; row: Float32Array }[] {
  const r = rng(seed);
  const rows: { target: number; row: Float32Array }[] = [];
  const total = n + nLogits;
  for (let t = total - 1; t >= 0; t--) {
    if (t < n && r() < 0.3) continue; // not every feature is visited
    const row = new Float32Array(total);
    for (let s = 0; s < Math.min(t, n); s++) if (r() < 0.5) row[s] = (r() - 0.5) * (r() < 0.1 ? 1e-6 : 1);
    rows.push({ target: t, row });
  }
  return rows;
}

test('partial influence from the row store equals influence on its CSR, and sparse rows store as dense ones', () => {
  const n = 300, k = 5;
  const dense = new RowStore(1e-4), sparse = new RowStore(1e-4);
  const col = new Int32Array(n + k), val = new Float32Array(n + k);
  for (const { target, row } of randomRows(n, k, 7)) {
    dense.add(target, row);
    let m = 0;
    row.forEach((v, i) => {
      if (v !== 0) {
        col[m] = i;
        val[m++] = v;
      }
    });
    sparse.addSparse(target, col, val, m);
  }
  const w = new Float64Array(n + k);
  for (let j = 0; j < k; j++) w[n + j] = 0.1 * (j + 1);
  const viaCsr = influenceOnCsr(dense.toCsr(n + k, (x) => x), w);
  const viaRows = influenceOnRows(sparse, n + k, w);
  // The CSR's influence is a triangular solve, the rows' a power series: the same sums in another order.
  viaCsr.forEach((x, i) => assert.ok(Math.abs(x - viaRows[i]) <= 1e-12 * Math.max(Math.abs(x), 1e-300), `node ${i}: ${x} vs ${viaRows[i]}`));
  assert.ok(viaCsr.some((x) => x > 0));
  const a = dense.toCsr(n + k, (x) => x), b = sparse.toCsr(n + k, (x) => x);
  assert.deepEqual(Array.from(b.rowPtr), Array.from(a.rowPtr));
  assert.deepEqual(Array.from(b.col), Array.from(a.col));
  assert.deepEqual(Array.from(b.val), Array.from(a.val));
});

test('top-k of the unvisited equals a full sort, ties by index', () => {
  const r = rng(3);
  for (const n of [1, 10, 1000]) {
    // Few distinct values, so ties are everywhere.
    const score = Float64Array.from({ length: n }, () => Math.floor(r() * 7) / 7);
    const visited = Uint8Array.from({ length: n }, () => (r() < 0.3 ? 1 : 0));
    const sorted = Array.from({ length: n }, (_, i) => i).filter((i) => !visited[i]).sort((a, b) => score[b] - score[a] || a - b);
    for (const k of [1, 3, 17, n, n + 5]) assert.deepEqual(Array.from(topUnvisited(score, n, visited, k)), sorted.slice(0, k), `n=${n} k=${k}`);
  }
});

test('decoder buckets: every position with features in exactly one, ascending, padding at most 2× but in the last', () => {
  const r = rng(11);
  const count = Int32Array.from({ length: 200 }, (_, t) => (t === 0 ? 400 : r() < 0.1 ? 0 : Math.floor(20 + r() * 100)));
  const buckets = bucketPositions(count);
  assert.equal(buckets.length, DECODER_BUCKETS);
  const seen = buckets.flat().sort((a, b) => a - b);
  assert.deepEqual(seen, Array.from(count.keys()).filter((t) => count[t] > 0));
  buckets.forEach((b, k) => {
    assert.deepEqual(b, [...b].sort((x, y) => x - y));
    if (k === DECODER_BUCKETS - 1 || !b.length) return;
    const m = Math.max(...b.map((t) => count[t]));
    for (const t of b) assert.ok(2 * count[t] > m, `bucket ${k}: position ${t} holds ${count[t]} of ${m}`);
  });
  assert.deepEqual(buckets[0], [0]); // the busy first position pads nobody else
});
