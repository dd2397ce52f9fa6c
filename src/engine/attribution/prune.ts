/**
 * Pruning (circuit-tracer's prune_graph), on the sparse adjacency.
 *
 * 1. Node influence on the logits; keep the most influential nodes until `nodeThreshold` of the total
 *    influence (tokens and logits always kept).
 * 2. On the graph restricted to kept nodes, an edge's score is its row-normalised |weight| times the
 *    influence (+ logit weight) of its target; keep the best edges until `edgeThreshold` of the total.
 * 3. Repeatedly drop feature and error nodes left without outgoing edges and features left without
 *    incoming edges (and their edges), until nothing changes.
 * Node order: features, errors, tokens, logits (the last nTokens + nLogits nodes are always kept).
 *
 * Re-pruning a kept raw attribution at a new threshold is the panel's threshold control, so everything
 * that does not depend on the thresholds (the unpruned influence and its ranking, the topological order,
 * each entry's row, scratch buffers) is computed once per adjacency and kept beside it (`pruneIndex`);
 * a prune is then one triangular solve over the kept rows that scores the candidate edges on the way,
 * a histogram of the scores with a selection inside one bin (no sort), and a fixpoint over the kept
 * edges only.
 */
import { influenceBySeries, readersFirst, solveInfluence } from './influence';
import { ScoreHistogram } from './selection';
import type { Csr } from './sparse';

export interface NodeLayout {
  nFeatures: number;
  nErrors: number;
  nTokens: number;
  nLogits: number;
}

export interface PruneResult {
  /** 1 = kept, per node. */
  nodeMask: Uint8Array;
  /** 1 = kept, per CSR entry of the input adjacency. */
  edgeMask: Uint8Array;
  /** Influence of each node on the logits (unpruned graph; shared between prunes, read-only). */
  influence: Float64Array;
  /** Cumulative influence fraction of each node in descending-influence order (graph files' `influence`; read-only). */
  cumulative: Float64Array;
}

/** The score above which the top-scoring entries carry `threshold` of the total (circuit-tracer's find_threshold). */
export function findThreshold(scores: ArrayLike<number>, threshold: number): number {
  const sorted = Float64Array.from(scores).sort().reverse();
  if (!sorted.length) return 0;
  return thresholdOfSorted(sorted, threshold);
}

/** find_threshold on scores already sorted descending. */
function thresholdOfSorted(sorted: Float64Array, threshold: number): number {
  let total = 0;
  for (const s of sorted) total += s;
  let cum = 0;
  for (let i = 0; i < sorted.length; i++) {
    cum += sorted[i];
    if (cum / total >= threshold) return sorted[i];
  }
  return sorted[sorted.length - 1];
}

export function cumulativeScores(influence: Float64Array): Float64Array {
  const order = Array.from(influence.keys()).sort((a, b) => influence[b] - influence[a]);
  let total = 0;
  for (const v of influence) total += v;
  const out = new Float64Array(influence.length);
  let cum = 0;
  for (const i of order) {
    cum += influence[i];
    out[i] = total > 0 ? cum / total : 1;
  }
  return out;
}

/** What pruning one adjacency at any thresholds shares: computed on the first prune, kept with it. */
export interface PruneIndex {
  logitWeights: Float64Array;
  /** Readers before sources, or null for an adjacency with a cycle (then pruning uses the power series). */
  order: Int32Array | null;
  /** Unpruned influence, its values sorted descending, and the cumulative fractions. */
  influence: Float64Array;
  sortedInfluence: Float64Array;
  cumulative: Float64Array;
  /** The row of every CSR entry. */
  rowOf: Int32Array;
  // Scratch, reused by every prune: per node, and per candidate edge.
  prunedInfluence: Float64Array;
  hasIn: Uint8Array;
  hasOut: Uint8Array;
  candidates: Int32Array;
  candidateScores: Float64Array;
  histogram: ScoreHistogram;
}

const indices = new WeakMap<Csr, PruneIndex>();

/** The threshold-independent part of pruning `a` with these logit weights (computed once, then kept). */
export function pruneIndex(a: Csr, logitWeights: Float64Array): PruneIndex {
  const known = indices.get(a);
  if (known && known.logitWeights === logitWeights) return known;
  const n = a.nNodes, nnz = a.col.length;
  const order = readersFirst(a);
  let influence: Float64Array;
  if (order) {
    influence = new Float64Array(n);
    solveInfluence(a, order, logitWeights, influence);
  } else influence = influenceBySeries(a, logitWeights);
  const rowOf = new Int32Array(nnz);
  for (let r = 0; r < n; r++) rowOf.fill(r, a.rowPtr[r], a.rowPtr[r + 1]);
  const index: PruneIndex = {
    logitWeights,
    order,
    influence,
    sortedInfluence: Float64Array.from(influence).sort().reverse(),
    cumulative: cumulativeScores(influence),
    rowOf,
    prunedInfluence: new Float64Array(n),
    hasIn: new Uint8Array(n),
    hasOut: new Uint8Array(n),
    candidates: new Int32Array(nnz),
    candidateScores: new Float64Array(nnz),
    histogram: new ScoreHistogram(),
  };
  indices.set(a, index);
  return index;
}

export function pruneCsr(a: Csr, layout: NodeLayout, logitWeights: Float64Array, nodeThreshold: number, edgeThreshold: number): PruneResult {
  for (const [name, v] of [['node', nodeThreshold], ['edge', edgeThreshold]] as const) {
    if (!(v >= 0 && v <= 1)) throw new RangeError(`${name} threshold must be between 0 and 1, got ${v}`);
  }
  const x = pruneIndex(a, logitWeights);
  const n = a.nNodes;
  const { col, val } = a;
  const { nFeatures, nErrors } = layout;
  const keepAlways = n - layout.nTokens - layout.nLogits;
  const nodeThr = n ? thresholdOfSorted(x.sortedInfluence, nodeThreshold) : 0;
  const nodeMask = new Uint8Array(n);
  for (let i = 0; i < n; i++) nodeMask[i] = i >= keepAlways || x.influence[i] >= nodeThr ? 1 : 0;

  // Influence on the graph restricted to kept nodes, and with it every candidate edge (non-zero, both
  // ends kept) and its score: the row-normalised |weight| times its target's influence + logit weight,
  // which is exactly what the solve hands the edge's source.
  const cand = x.candidates, scores = x.candidateScores;
  const m = x.order ? solveAndScore(a, x.order, logitWeights, nodeMask, x.prunedInfluence, cand, scores) : seriesAndScore(a, logitWeights, nodeMask, cand, scores);

  // The score that keeps edgeThreshold of the total; the kept edges, and which nodes still have edges.
  const edgeThr = x.histogram.threshold(scores, m, edgeThreshold);
  const edgeMask = new Uint8Array(val.length);
  const { hasIn, hasOut, rowOf } = x;
  hasOut.fill(0);
  hasIn.fill(0);
  let k = 0;
  for (let j = 0; j < m; j++) {
    if (scores[j] >= edgeThr) {
      const p = cand[j];
      edgeMask[p] = 1;
      cand[k++] = p;
      hasOut[col[p]] = 1;
      hasIn[rowOf[p]] = 1;
    }
  }

  // Drop features / errors without outgoing edges and features without incoming edges, to a fixpoint.
  for (;;) {
    let changed = false;
    for (let i = 0; i < nFeatures + nErrors; i++) {
      if (nodeMask[i] && (!hasOut[i] || (i < nFeatures && !hasIn[i]))) {
        nodeMask[i] = 0;
        changed = true;
      }
    }
    if (!changed) break;
    hasOut.fill(0);
    hasIn.fill(0);
    let kk = 0;
    for (let j = 0; j < k; j++) {
      const p = cand[j];
      if (nodeMask[col[p]] && nodeMask[rowOf[p]]) {
        cand[kk++] = p;
        hasOut[col[p]] = 1;
        hasIn[rowOf[p]] = 1;
      } else edgeMask[p] = 0;
    }
    k = kk;
  }
  return { nodeMask, edgeMask, influence: x.influence, cumulative: x.cumulative };
}

/**
 * The triangular solve of influence on the kept subgraph (readers first), writing each candidate edge's
 * entry and score as its row is reached (its target's influence is final then). Returns their count.
 */
function solveAndScore(a: Csr, order: Int32Array, logitWeights: Float64Array, mask: Uint8Array, inf: Float64Array, cand: Int32Array, scores: Float64Array): number {
  const { rowPtr, col, val } = a;
  inf.fill(0);
  let m = 0;
  for (let k = 0; k < order.length; k++) {
    const r = order[k];
    if (!mask[r]) continue;
    const start = rowPtr[r], end = rowPtr[r + 1];
    let acc = 0;
    for (let p = start; p < end; p++) if (mask[col[p]]) acc += Math.abs(val[p]);
    const w = (inf[r] + logitWeights[r]) / Math.max(acc, 1e-10);
    for (let p = start; p < end; p++) {
      const c = col[p], v = val[p];
      if (v !== 0 && mask[c]) {
        const share = Math.abs(v) * w;
        inf[c] += share;
        cand[m] = p;
        scores[m++] = share;
      }
    }
  }
  return m;
}

/** solveAndScore for an adjacency with a cycle: the power series on the kept subgraph, then the scores. */
function seriesAndScore(a: Csr, logitWeights: Float64Array, mask: Uint8Array, cand: Int32Array, scores: Float64Array): number {
  const val = new Float32Array(a.val.length);
  for (let r = 0; r < a.nNodes; r++) {
    if (!mask[r]) continue;
    for (let p = a.rowPtr[r]; p < a.rowPtr[r + 1]; p++) if (mask[a.col[p]]) val[p] = a.val[p];
  }
  const inf = influenceBySeries({ ...a, val }, logitWeights);
  let m = 0;
  for (let r = 0; r < a.nNodes; r++) {
    if (!mask[r]) continue;
    let acc = 0;
    for (let p = a.rowPtr[r]; p < a.rowPtr[r + 1]; p++) acc += Math.abs(val[p]);
    const w = (inf[r] + logitWeights[r]) / Math.max(acc, 1e-10);
    for (let p = a.rowPtr[r]; p < a.rowPtr[r + 1]; p++) {
      if (val[p] !== 0) {
        cand[m] = p;
        scores[m++] = Math.abs(val[p]) * w;
      }
    }
  }
  return m;
}
