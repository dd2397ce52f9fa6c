/**
 * Re-pruning a kept adjacency (the panel's threshold control) against circuit-tracer's dense definitions
 * written out here with a sort and a dense power series: every threshold in a sequence of looser and
 * tighter ones gives the masks a dense prune_graph gives, the answers do not depend on what was pruned
 * before (a copy of the adjacency, pruned once, agrees), the weighted selection returns what a sort
 * returns, and an adjacency with a cycle is refused as before.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { influenceOnCsr, readersFirst } from '../../../src/engine/attribution/influence';
import { findThreshold, pruneCsr, type NodeLayout } from '../../../src/engine/attribution/prune';
import { scoresOnCsr } from '../../../src/engine/attribution/scores';
import { cumulativeThreshold } from '../../../src/engine/attribution/selection';
import { csrFromCoo, type Csr } from '../../../src/engine/attribution/sparse';
import { EngineError } from '../../../src/engine/errors';

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
}

/**
 * A random attribution-shaped adjacency: features on layers × positions reading earlier layers at
 * earlier or equal positions, errors and tokens as pure sources, logits reading everything; heavy-tailed
 * weights of both signs, a few exact zeros. Node order: features, errors, tokens, logits.
 */
function randomAttribution(nF: number, L: number, T: number, K: number, seed: number) {
  const r = rng(seed);
  const layer = Int32Array.from({ length: nF }, () => Math.floor(r() * L));
  const pos = Int32Array.from({ length: nF }, () => Math.floor(r() * T));
  const nE = L * T, n = nF + nE + T + K;
  const dense = new Float64Array(n * n);
  const w = () => (r() < 0.05 ? 0 : (r() < 0.5 ? -1 : 1) * Math.exp(6 * r() - 4));
  for (let i = 0; i < nF; i++) {
    for (let j = 0; j < nF; j++) if (layer[j] < layer[i] && pos[j] <= pos[i] && r() < 0.6) dense[i * n + j] = w();
    for (let l = 0; l < layer[i]; l++) for (let t = 0; t <= pos[i]; t++) dense[i * n + nF + l * T + t] = w();
    for (let t = 0; t <= pos[i]; t++) dense[i * n + nF + nE + t] = w();
  }
  for (let k = 0; k < K; k++) for (let j = 0; j < nF + nE + T; j++) dense[(n - K + k) * n + j] = w();
  const tgt: number[] = [], src: number[] = [], val: number[] = [];
  for (let t = 0; t < n; t++) for (let s = 0; s < n; s++) {
    if (dense[t * n + s] === 0) continue;
    tgt.push(t);
    src.push(s);
    val.push(dense[t * n + s]);
  }
  const csr = csrFromCoo(n, Int32Array.from(tgt), Int32Array.from(src), Float32Array.from(val));
  // The dense matrix holds exactly the CSR's float32 values.
  dense.fill(0);
  for (let t = 0; t < n; t++) for (let p = csr.rowPtr[t]; p < csr.rowPtr[t + 1]; p++) dense[t * n + csr.col[p]] = csr.val[p];
  const lw = new Float64Array(n);
  for (let k = 0; k < K; k++) lw[n - K + k] = 0.6 / (k + 1) ** 2;
  const layout: NodeLayout = { nFeatures: nF, nErrors: nE, nTokens: T, nLogits: K };
  return { csr, dense, lw, layout, n };
}

/** circuit-tracer's compute_influence on a dense matrix: w·Â + w·Â² + … with Â the row-normalised |A|. */
function denseInfluence(a: Float64Array, n: number, lw: Float64Array): Float64Array {
  const norm = new Float64Array(n);
  for (let t = 0; t < n; t++) {
    let s = 0;
    for (let c = 0; c < n; c++) s += Math.abs(a[t * n + c]);
    norm[t] = Math.max(s, 1e-10);
  }
  const inf = new Float64Array(n);
  let cur = Float64Array.from(lw);
  for (let step = 0; step <= n; step++) {
    const next = new Float64Array(n);
    for (let t = 0; t < n; t++) if (cur[t] !== 0) for (let c = 0; c < n; c++) next[c] += (cur[t] * Math.abs(a[t * n + c])) / norm[t];
    if (next.every((v) => v === 0)) return inf;
    for (let i = 0; i < n; i++) inf[i] += next[i];
    cur = next;
  }
  throw new Error('not a DAG');
}

/** circuit-tracer's prune_graph, densely, with the product's rule that tokens and logits are always kept. */
function densePrune(a: Float64Array, n: number, lw: Float64Array, layout: NodeLayout, nodeThr: number, edgeThr: number) {
  const inf = denseInfluence(a, n, lw);
  const keepAlways = n - layout.nTokens - layout.nLogits;
  const sortDesc = (x: number[]) => [...x].sort((p, q) => q - p);
  const threshold = (xs: number[], f: number) => {
    const s = sortDesc(xs);
    const total = s.reduce((p, q) => p + q, 0);
    let cum = 0;
    for (const v of s) if ((cum += v) / total >= f) return v;
    return s[s.length - 1];
  };
  const nodeT = threshold([...inf], nodeThr);
  const node = Array.from({ length: n }, (_, i) => i >= keepAlways || inf[i] >= nodeT);
  const kept = new Float64Array(n * n);
  for (let t = 0; t < n; t++) for (let c = 0; c < n; c++) if (node[t] && node[c]) kept[t * n + c] = a[t * n + c];
  const kinf = denseInfluence(kept, n, lw);
  const scores = new Float64Array(n * n);
  for (let t = 0; t < n; t++) {
    let s = 0;
    for (let c = 0; c < n; c++) s += Math.abs(kept[t * n + c]);
    for (let c = 0; c < n; c++) scores[t * n + c] = (Math.abs(kept[t * n + c]) / Math.max(s, 1e-10)) * (kinf[t] + lw[t]);
  }
  const edgeT = threshold([...scores], edgeThr);
  const edge = Array.from(scores, (s, i) => kept[i] !== 0 && s >= edgeT);
  for (let changed = true; changed; ) {
    changed = false;
    for (let i = 0; i < layout.nFeatures + layout.nErrors; i++) {
      if (!node[i]) continue;
      let out = false, inn = false;
      for (let j = 0; j < n; j++) {
        out ||= edge[j * n + i];
        inn ||= edge[i * n + j];
      }
      if (!out || (i < layout.nFeatures && !inn)) {
        node[i] = false;
        changed = true;
        for (let j = 0; j < n; j++) edge[j * n + i] = edge[i * n + j] = false;
      }
    }
  }
  return { inf, node, edge };
}

function assertSameAsDense(csr: Csr, pr: ReturnType<typeof pruneCsr>, ref: ReturnType<typeof densePrune>, n: number, what: string) {
  let maxInf = 0;
  for (const v of ref.inf) maxInf = Math.max(maxInf, v);
  for (let i = 0; i < n; i++) {
    assert.ok(Math.abs(pr.influence[i] - ref.inf[i]) <= 1e-12 * maxInf, `${what}: influence of node ${i}`);
    assert.equal(pr.nodeMask[i], ref.node[i] ? 1 : 0, `${what}: node ${i} kept?`);
  }
  for (let t = 0; t < n; t++) {
    for (let p = csr.rowPtr[t]; p < csr.rowPtr[t + 1]; p++) assert.equal(pr.edgeMask[p], ref.edge[t * n + csr.col[p]] ? 1 : 0, `${what}: edge ${csr.col[p]} → ${t} kept?`);
  }
}

test('re-pruning one adjacency looser and tighter matches the dense prune_graph at every threshold', () => {
  const { csr, dense, lw, layout, n } = randomAttribution(220, 4, 6, 4, 11);
  const sequence: [number, number][] = [[0.8, 0.98], [0.95, 0.99], [0.3, 0.8], [0.99, 0.999], [0.6, 0.9], [1, 1], [0, 0], [0.8, 0.98]];
  const keptNodes: number[] = [];
  for (const [nt, et] of sequence) {
    const pr = pruneCsr(csr, layout, lw, nt, et);
    assertSameAsDense(csr, pr, densePrune(dense, n, lw, layout, nt, et), n, `${nt}/${et}`);
    keptNodes.push(pr.nodeMask.reduce((a, b) => a + b, 0));
    // A copy of the adjacency, pruned once (nothing kept from earlier prunes), agrees exactly.
    const fresh = pruneCsr({ ...csr, rowPtr: csr.rowPtr.slice(), col: csr.col.slice(), val: csr.val.slice() }, layout, lw, nt, et);
    assert.deepEqual(fresh.nodeMask, pr.nodeMask);
    assert.deepEqual(fresh.edgeMask, pr.edgeMask);
  }
  // The thresholds really span looser and tighter graphs.
  assert.ok(keptNodes[1] > keptNodes[0] && keptNodes[2] < keptNodes[0] && keptNodes[5] > keptNodes[3] && keptNodes[6] < keptNodes[2], `kept nodes ${keptNodes}`);

  // Scores are kept with the adjacency; they equal those of a copy.
  const s = scoresOnCsr(csr, layout, lw);
  assert.deepEqual(s, scoresOnCsr({ ...csr, val: csr.val.slice() }, layout, lw));
  assert.ok(s.replacement > 0 && s.replacement < 1 && s.completeness > 0 && s.completeness < 1);
});

test('the weighted selection returns what a sort and a running sum return, ties included', () => {
  const r = rng(5);
  for (const m of [1, 2, 7, 100, 5000]) {
    for (const distinct of [1, 3, 50, 1e6]) {
      // Integer scores: every partial sum is exact, so the two must agree to the bit.
      const scores = Float64Array.from({ length: m }, () => Math.floor(r() * distinct));
      for (const f of [0, 0.1, 0.5, 0.8, 0.98, 0.999, 1]) {
        const want = scores.some((v) => v > 0) ? findThreshold(scores, f) : 0;
        assert.equal(cumulativeThreshold(Float64Array.from(scores), m, f), want, `m=${m} distinct=${distinct} f=${f}`);
      }
    }
  }
  assert.equal(cumulativeThreshold(new Float64Array(0), 0, 0.5), 0);
});

test('influence is a one-pass solve in topological order; a cycle is still refused', () => {
  const { csr, dense, lw, n } = randomAttribution(120, 3, 5, 3, 2);
  const order = readersFirst(csr)!;
  assert.equal(new Set(order).size, n);
  const at = new Int32Array(n);
  order.forEach((node, k) => (at[node] = k));
  for (let t = 0; t < n; t++) for (let p = csr.rowPtr[t]; p < csr.rowPtr[t + 1]; p++) if (csr.val[p] !== 0) assert.ok(at[t] < at[csr.col[p]], 'readers come before their sources');
  const ref = denseInfluence(dense, n, lw);
  const got = influenceOnCsr(csr, lw);
  const max = Math.max(...ref);
  ref.forEach((v, i) => assert.ok(Math.abs(got[i] - v) <= 1e-12 * max));

  // 0 → 1 → 2 → 0 with a logit reading node 0: the series never ends.
  const cyc = csrFromCoo(4, Int32Array.from([0, 1, 2, 3]), Int32Array.from([1, 2, 0, 0]), Float32Array.from([1, 1, 1, 1]));
  assert.equal(readersFirst(cyc), null);
  assert.throws(() => influenceOnCsr(cyc, Float64Array.from([0, 0, 0, 1])), (e: unknown) => e instanceof EngineError && /cycle/.test(e.message));
});
