/**
 * Influence of every node on the target logits, on the sparse adjacency (circuit-tracer's
 * compute_influence / compute_partial_influences): with Â the row-normalised |A| and w the logit
 * weights (their probabilities), influence = w·Â + w·Â² + … = w·((I − Â)⁻¹ − I).
 *
 * The graph is a DAG (a target only receives from earlier layers or positions), so I − Â is triangular
 * in a topological order and the solve is one pass over the edges: visit every node after all the nodes
 * that read it, and hand its total (influence + logit weight) on to its sources in proportion to their
 * share of its row. The order is found once per adjacency (Kahn's algorithm on the CSR rows) and kept.
 * No n × n matrix is ever formed. An adjacency with a cycle (a hand-made graph file) falls back to the
 * power series, which names the cycle when the series does not end.
 */
import { EngineError } from '../errors';
import { selectDescending } from './selection';
import { rowAbsSums, type Csr, type RowStore } from './sparse';

const orders = new WeakMap<Csr, Int32Array | null>();

/**
 * The nodes ordered so that every node comes after each node whose row holds it with a non-zero weight
 * (readers before their sources), or null when the non-zero edges form a cycle. Kept per adjacency.
 */
export function readersFirst(a: Csr): Int32Array | null {
  let order = orders.get(a);
  if (order !== undefined) return order;
  const n = a.nNodes;
  const readers = new Int32Array(n);
  for (let p = 0; p < a.col.length; p++) if (a.val[p] !== 0) readers[a.col[p]]++;
  order = new Int32Array(n);
  let head = 0, tail = 0;
  for (let i = 0; i < n; i++) if (readers[i] === 0) order[tail++] = i;
  while (head < tail) {
    const r = order[head++];
    for (let p = a.rowPtr[r]; p < a.rowPtr[r + 1]; p++) if (a.val[p] !== 0 && --readers[a.col[p]] === 0) order[tail++] = a.col[p];
  }
  if (tail < n) order = null;
  orders.set(a, order);
  return order;
}

export function influenceOnCsr(a: Csr, logitWeights: Float64Array, maxIter = 1000): Float64Array {
  const order = readersFirst(a);
  if (!order) return influenceBySeries(a, logitWeights, maxIter);
  const influence = new Float64Array(a.nNodes);
  solveInfluence(a, order, logitWeights, influence);
  return influence;
}

/**
 * The influence into `influence` (zeroed here), in the topological `order`: each node, once every reader
 * has handed it its share, hands (its influence + logit weight) on to its sources in proportion to |A|
 * over its row's sum (clamped as circuit-tracer's normalize_matrix does). Allocates nothing.
 */
export function solveInfluence(a: Csr, order: Int32Array, logitWeights: Float64Array, influence: Float64Array): void {
  const { rowPtr, col, val } = a;
  influence.fill(0);
  for (let k = 0; k < order.length; k++) {
    const r = order[k];
    const start = rowPtr[r], end = rowPtr[r + 1];
    let acc = 0;
    for (let p = start; p < end; p++) acc += Math.abs(val[p]);
    const total = influence[r] + logitWeights[r];
    if (total === 0) continue;
    const s = total / Math.max(acc, 1e-10);
    for (let p = start; p < end; p++) influence[col[p]] += s * Math.abs(val[p]);
  }
}

/** The power series itself, step by step (for adjacencies with cycles, where it may not end). */
export function influenceBySeries(a: Csr, logitWeights: Float64Array, maxIter = 1000): Float64Array {
  const n = a.nNodes;
  const norm = rowAbsSums(a);
  const influence = new Float64Array(n);
  let cur = Float64Array.from(logitWeights);
  for (let it = 0; ; it++) {
    const next = new Float64Array(n);
    let any = false;
    for (let r = 0; r < n; r++) {
      const w = cur[r];
      if (w === 0) continue;
      const s = w / norm[r];
      for (let p = a.rowPtr[r]; p < a.rowPtr[r + 1]; p++) {
        const v = a.val[p];
        if (v !== 0) {
          next[a.col[p]] += s * Math.abs(v);
          any = true;
        }
      }
    }
    if (!any) break;
    if (it >= maxIter) throw new EngineError('INTERNAL', `Influence did not converge in ${maxIter} steps: the graph has a cycle.`);
    for (let i = 0; i < n; i++) influence[i] += next[i];
    cur = next;
  }
  return influence;
}

/**
 * The same influence over the rows stored so far (circuit-tracer's compute_partial_influences, for
 * ranking features while rows are still being added), read straight from the store: no CSR is rebuilt.
 * Each step visits only the rows whose current weight is non-zero.
 */
export function influenceOnRows(store: RowStore, nNodes: number, logitWeights: Float64Array, maxIter = 1000): Float64Array {
  const rows: { target: number; norm: number; col: Int32Array; val: Float32Array }[] = [];
  for (const [target, r] of store.entries()) {
    let acc = 0;
    for (let p = 0; p < r.val.length; p++) acc += Math.abs(r.val[p]);
    rows.push({ target, norm: Math.max(acc, 1e-10), col: r.col, val: r.val });
  }
  rows.sort((a, b) => a.target - b.target); // the CSR's row order, so sums round as influenceOnCsr's do
  const influence = new Float64Array(nNodes);
  let cur = Float64Array.from(logitWeights);
  let next = new Float64Array(nNodes);
  for (let it = 0; ; it++) {
    let any = false;
    for (const r of rows) {
      const w = cur[r.target];
      if (w === 0) continue;
      const s = w / r.norm;
      const { col, val } = r;
      for (let p = 0; p < col.length; p++) {
        const v = val[p];
        if (v !== 0) {
          next[col[p]] += s * Math.abs(v);
          any = true;
        }
      }
    }
    if (!any) break;
    if (it >= maxIter) throw new EngineError('INTERNAL', `Influence did not converge in ${maxIter} steps: the graph has a cycle.`);
    for (let i = 0; i < nNodes; i++) influence[i] += next[i];
    [cur, next] = [next, cur];
    next.fill(0);
  }
  return influence;
}

/**
 * The `k` indices below `n` not yet `visited` with the largest `score`, largest first (ties: lower
 * index first), as a full sort would give them; found by selection on a typed array (linear) and a sort
 * of only the k chosen.
 */
export function topUnvisited(score: Float64Array, n: number, visited: Uint8Array, k: number): Int32Array {
  const cand = new Int32Array(n);
  let m = 0;
  for (let i = 0; i < n; i++) if (!visited[i]) cand[m++] = i;
  let pick: Int32Array;
  if (k >= m) pick = cand.subarray(0, m);
  else {
    // The k-th largest value by quickselect on a copy, then every index above it and the first ties.
    const vals = new Float64Array(m);
    for (let i = 0; i < m; i++) vals[i] = score[cand[i]];
    const kth = selectDescending(vals, k - 1);
    pick = new Int32Array(k);
    let c = 0;
    for (let i = 0; i < m; i++) if (score[cand[i]] > kth) pick[c++] = cand[i];
    for (let i = 0; i < m && c < k; i++) if (score[cand[i]] === kth) pick[c++] = cand[i];
  }
  return Int32Array.from(pick).sort((a, b) => score[b] - score[a] || a - b);
}
