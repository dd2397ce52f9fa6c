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
  const viaCsr = influenceOnCsr(dense.toCsr(n + k, (x) => x, n + k), w);
  const viaRows = influenceOnRows(sparse, n + k, w);
  // The CSR's influence is a triangular solve, the rows' a power series: the same sums in another order.
  viaCsr.forEach((x, i) => assert.ok(Math.abs(x - viaRows[i]) <= 1e-12 * Math.max(Math.abs(x), 1e-300), `node ${i}: ${x} vs ${viaRows[i]}`));
  assert.ok(viaCsr.some((x) => x > 0));
  const a = dense.toCsr(n + k, (x) => x, n + k), b = sparse.toCsr(n + k, (x) => x, n + k);
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

/** Σ over buckets of positions × the busiest position's count: the padded size the blocks pay for. */
const paddedSize = (count: Int32Array, buckets: number[][]) => buckets.reduce((s, b) => s + b.length * Math.max(0, ...b.map((t) => count[t])), 0);

/** The least padded size over every split of the sorted distinct counts into at most K ranges (brute force). */
function leastPadded(count: Int32Array, K: number): number {
  const v = Array.from(new Set(Array.from(count).filter((c) => c > 0))).sort((x, y) => x - y);
  const nAt = v.map((x) => Array.from(count).filter((c) => c === x).length);
  let best = Infinity;
  for (let mask = 0; mask < 1 << Math.max(0, v.length - 1); mask++) {
    const cuts = [...Array(v.length - 1).keys()].filter((i) => mask & (1 << i)); // a range ends after i
    if (cuts.length > K - 1) continue;
    let s = 0, from = 0;
    for (const end of [...cuts, v.length - 1]) {
      let n = 0;
      for (let i = from; i <= end; i++) n += nAt[i];
      s += n * v[end];
      from = end + 1;
    }
    best = Math.min(best, s);
  }
  return v.length ? best : 0;
}

test('decoder buckets: every position with features in exactly one, ascending, the least padded size', () => {
  const r = rng(11);
  const count = Int32Array.from({ length: 200 }, (_, t) => (t === 0 ? 400 : r() < 0.1 ? 0 : Math.floor(20 + r() * 100)));
  const buckets = bucketPositions(count);
  assert.equal(buckets.length, DECODER_BUCKETS);
  const seen = buckets.flat().sort((a, b) => a - b);
  assert.deepEqual(seen, Array.from(count.keys()).filter((t) => count[t] > 0));
  for (const b of buckets) assert.deepEqual(b, [...b].sort((x, y) => x - y));
  assert.deepEqual(buckets[0], [0]); // the busy first position pads nobody else
  // Never worse than the power-of-two split it replaced (at most 2× padding in every bucket but the last).
  const max = 400;
  const pow2: number[][] = Array.from({ length: DECODER_BUCKETS }, () => []);
  count.forEach((c, t) => {
    if (!c) return;
    let k = 0;
    while (k < DECODER_BUCKETS - 1 && c * 2 ** (k + 1) <= max) k++;
    pow2[k].push(t);
  });
  assert.ok(paddedSize(count, buckets) <= paddedSize(count, pow2));
  // Exactly the least padded size, against a brute force over every split, on small prompts.
  for (let trial = 0; trial < 40; trial++) {
    const T = 1 + Math.floor(r() * 12);
    const c = Int32Array.from({ length: T }, () => (r() < 0.15 ? 0 : 1 + Math.floor(r() * (r() < 0.5 ? 9 : 300))));
    const b = bucketPositions(c);
    assert.deepEqual(b.flat().sort((x, y) => x - y), Array.from(c.keys()).filter((t) => c[t] > 0), `trial ${trial}: coverage`);
    assert.equal(paddedSize(c, b), leastPadded(c, DECODER_BUCKETS), `trial ${trial}: counts ${Array.from(c)}`);
  }
  // More distinct counts than the exact search takes: still every position once.
  const wide = Int32Array.from({ length: 5000 }, (_, t) => 1 + t);
  assert.deepEqual(bucketPositions(wide).flat().sort((x, y) => x - y), Array.from(wide.keys()));
});
