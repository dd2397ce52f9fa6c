/**
 * The replacement and completeness scores of circuit-tracer's compute_graph_scores, on the sparse
 * (unpruned) adjacency:
 * - replacement = influence of tokens / (influence of tokens + influence of errors): the fraction of
 *   end-to-end influence from the input that reaches the logits through features only;
 * - completeness = Σ over nodes of (1 − fraction of its normalised input coming from error nodes) ×
 *   (its influence + logit weight), divided by Σ (influence + logit weight).
 */
import { pruneIndex, type NodeLayout } from './prune';
import { rowAbsSums, type Csr } from './sparse';

export interface GraphScores {
  replacement: number;
  completeness: number;
}

const known = new WeakMap<Csr, { logitWeights: Float64Array; layout: NodeLayout; scores: GraphScores }>();

/** The scores of an adjacency (threshold-independent: computed once per adjacency and kept). */
export function scoresOnCsr(a: Csr, layout: NodeLayout, logitWeights: Float64Array): GraphScores {
  const k = known.get(a);
  if (k && k.logitWeights === logitWeights && sameLayout(k.layout, layout)) return { ...k.scores };
  const scores = computeScores(a, layout, logitWeights);
  known.set(a, { logitWeights, layout: { ...layout }, scores });
  return { ...scores };
}

function sameLayout(a: NodeLayout, b: NodeLayout): boolean {
  return a.nFeatures === b.nFeatures && a.nErrors === b.nErrors && a.nTokens === b.nTokens && a.nLogits === b.nLogits;
}

function computeScores(a: Csr, layout: NodeLayout, logitWeights: Float64Array): GraphScores {
  const n = a.nNodes;
  const errStart = layout.nFeatures;
  const errEnd = errStart + layout.nErrors;
  const tokEnd = errEnd + layout.nTokens;
  const { influence } = pruneIndex(a, logitWeights);
  let tokenInf = 0, errorInf = 0;
  for (let i = errStart; i < errEnd; i++) errorInf += influence[i];
  for (let i = errEnd; i < tokEnd; i++) tokenInf += influence[i];
  const norm = rowAbsSums(a);
  let num = 0, den = 0;
  for (let r = 0; r < n; r++) {
    let errFrac = 0;
    for (let p = a.rowPtr[r]; p < a.rowPtr[r + 1]; p++) {
      const c = a.col[p];
      if (c >= errStart && c < errEnd) errFrac += Math.abs(a.val[p]) / norm[r];
    }
    const out = influence[r] + logitWeights[r];
    num += (1 - errFrac) * out;
    den += out;
  }
  return { replacement: tokenInf / (tokenInf + errorInf), completeness: den > 0 ? num / den : 0 };
}
