/**
 * circuit-tracer's replacement and completeness scores (`compute_graph_scores`), on a graph file's
 * nodes and links, for the graph as shown and for the pinned subgraph.
 *
 * With A[target, source] = edge weight, each row normalised by its Σ|A| (`normalize_matrix`), and logit
 * weights w = the logits' probabilities, influence = w·(Â + Â² + …) (`compute_influence`):
 * - replacement = influence of tokens / (influence of tokens + influence of error nodes);
 * - completeness = Σ_n (1 − share of n's normalised input from error nodes)·(influence_n + w_n)
 *   / Σ_n (influence_n + w_n).
 *
 * A subgraph is scored as Neuronpedia does: features outside it count as error nodes — sources whose
 * own inputs are cut — so replacement says how much of the logits' influence reaches the tokens through
 * the kept features alone. With every feature kept this is circuit-tracer's score of the whole graph.
 */
import type { ViewGraph } from './graph-model';

export interface GraphScores {
  replacement: number;
  completeness: number;
}

/** `keep`: feature ids in the (sub)graph; embeddings and logits always count, error nodes never do. */
export function graphScores(g: ViewGraph, keep: (id: string) => boolean): GraphScores {
  const index = new Map<string, number>();
  g.nodes.forEach((n, i) => index.set(n.id, i));
  const N = g.nodes.length;
  const isError = new Uint8Array(N);
  g.nodes.forEach((n, i) => {
    if (n.kind === 'error' || (n.kind === 'feature' && !keep(n.id))) isError[i] = 1;
  });
  // Incoming edges per target (rows of A), skipping the inputs of error nodes (they are sources).
  const rowAbs = new Float64Array(N);
  const src: number[] = [], dst: number[] = [], val: number[] = [];
  for (const l of g.links) {
    const s = index.get(l.source), t = index.get(l.target);
    if (s === undefined || t === undefined || isError[t]) continue;
    src.push(s);
    dst.push(t);
    val.push(Math.abs(l.weight));
    rowAbs[t] += Math.abs(l.weight);
  }
  const w = new Float64Array(N);
  const logits = g.nodes.map((n, i) => (n.kind === 'logit' ? i : -1)).filter((i) => i >= 0);
  for (const i of logits) w[i] = g.nodes[i].prob ?? 1 / logits.length;
  // influence = Σ_k w Â^k: push the current vector backwards along edges until it dies out (a DAG).
  const influence = new Float64Array(N);
  let current = w;
  for (let step = 0; step < N + 1; step++) {
    const next = new Float64Array(N);
    let any = false;
    for (let e = 0; e < src.length; e++) {
      const c = current[dst[e]];
      if (c === 0) continue;
      next[src[e]] += (c * val[e]) / Math.max(rowAbs[dst[e]], 1e-10);
      any = true;
    }
    if (!any) break;
    for (let i = 0; i < N; i++) influence[i] += next[i];
    current = next;
  }
  let tokenInf = 0, errorInf = 0;
  g.nodes.forEach((n, i) => {
    if (n.kind === 'embedding') tokenInf += influence[i];
    else if (isError[i]) errorInf += influence[i];
  });
  const errIn = new Float64Array(N);
  for (let e = 0; e < src.length; e++) if (isError[src[e]]) errIn[dst[e]] += val[e] / Math.max(rowAbs[dst[e]], 1e-10);
  let num = 0, den = 0;
  for (let i = 0; i < N; i++) {
    const out = influence[i] + w[i];
    num += (1 - errIn[i]) * out;
    den += out;
  }
  return { replacement: tokenInf + errorInf > 0 ? tokenInf / (tokenInf + errorInf) : 0, completeness: den > 0 ? num / den : 0 };
}
