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
 */
import { influenceOnCsr } from './influence';
import { rowAbsSums, type Csr } from './sparse';

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
  /** Influence of each node on the logits (unpruned graph). */
  influence: Float64Array;
  /** Cumulative influence fraction of each node in descending-influence order (graph files' `influence`). */
  cumulative: Float64Array;
}

/** The score above which the top-scoring entries carry `threshold` of the total (circuit-tracer's find_threshold). */
export function findThreshold(scores: ArrayLike<number>, threshold: number): number {
  const sorted = Float64Array.from(scores).sort().reverse();
  if (!sorted.length) return 0;
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

export function pruneCsr(a: Csr, layout: NodeLayout, logitWeights: Float64Array, nodeThreshold: number, edgeThreshold: number): PruneResult {
  for (const [name, v] of [['node', nodeThreshold], ['edge', edgeThreshold]] as const) {
    if (!(v >= 0 && v <= 1)) throw new RangeError(`${name} threshold must be between 0 and 1, got ${v}`);
  }
  const n = a.nNodes;
  const { nFeatures, nErrors } = layout;
  const keepAlways = n - layout.nTokens - layout.nLogits;
  const influence = influenceOnCsr(a, logitWeights);
  const nodeThr = findThreshold(influence, nodeThreshold);
  const nodeMask = new Uint8Array(n);
  for (let i = 0; i < n; i++) nodeMask[i] = i >= keepAlways || influence[i] >= nodeThr ? 1 : 0;

  // The adjacency restricted to kept nodes, its row normaliser, and the influence on it.
  const kept = new Float32Array(a.val.length);
  for (let r = 0; r < n; r++) {
    if (!nodeMask[r]) continue;
    for (let p = a.rowPtr[r]; p < a.rowPtr[r + 1]; p++) if (nodeMask[a.col[p]]) kept[p] = a.val[p];
  }
  const pruned: Csr = { ...a, val: kept };
  const norm = rowAbsSums(pruned);
  const prunedInfluence = influenceOnCsr(pruned, logitWeights);
  const scores = new Float64Array(kept.length);
  for (let r = 0; r < n; r++) {
    const w = (prunedInfluence[r] + logitWeights[r]) / norm[r];
    for (let p = a.rowPtr[r]; p < a.rowPtr[r + 1]; p++) scores[p] = Math.abs(kept[p]) * w;
  }
  const edgeThr = findThreshold(scores, edgeThreshold);
  const edgeMask = new Uint8Array(kept.length);
  for (let p = 0; p < kept.length; p++) edgeMask[p] = kept[p] !== 0 && scores[p] >= edgeThr ? 1 : 0;

  // Drop features / errors without outgoing edges and features without incoming edges, to a fixpoint.
  const rowOf = new Int32Array(kept.length);
  for (let r = 0; r < n; r++) for (let p = a.rowPtr[r]; p < a.rowPtr[r + 1]; p++) rowOf[p] = r;
  for (;;) {
    const hasOut = new Uint8Array(n);
    const hasIn = new Uint8Array(n);
    for (let p = 0; p < kept.length; p++) {
      if (!edgeMask[p]) continue;
      hasOut[a.col[p]] = 1;
      hasIn[rowOf[p]] = 1;
    }
    let changed = false;
    for (let i = 0; i < nFeatures + nErrors; i++) {
      if (nodeMask[i] && (!hasOut[i] || (i < nFeatures && !hasIn[i]))) {
        nodeMask[i] = 0;
        changed = true;
      }
    }
    if (!changed) break;
    for (let p = 0; p < kept.length; p++) if (edgeMask[p] && (!nodeMask[a.col[p]] || !nodeMask[rowOf[p]])) edgeMask[p] = 0;
  }
  return { nodeMask, edgeMask, influence, cumulative: cumulativeScores(influence) };
}
