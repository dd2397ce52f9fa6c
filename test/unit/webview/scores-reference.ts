/**
 * circuit-tracer's compute_graph_scores written out with dense matrices, independent of
 * webview/scores.ts's sparse push (used by the unit test and by the graph-view end-to-end test):
 * Â = |A| row-normalised, influence = w Σ_k Â^k; features outside `keep` count as error nodes (their
 * inputs cut), embeddings are tokens, logits weigh by their probability.
 */
export interface RefNode { node_id: string; feature_type: string; token_prob?: number }
export interface RefLink { source: string; target: string; weight: number }

export function denseScores(nodes: RefNode[], links: RefLink[], keep: (id: string) => boolean): { replacement: number; completeness: number } {
  const N = nodes.length;
  const idx = new Map(nodes.map((n, i) => [n.node_id, i]));
  const kind = (n: RefNode) => (/embed/i.test(n.feature_type) ? 'embedding' : /error/i.test(n.feature_type) ? 'error' : /logit/i.test(n.feature_type) ? 'logit' : 'feature');
  const err = nodes.map((n) => kind(n) === 'error' || (kind(n) === 'feature' && !keep(n.node_id)));
  const A = Array.from({ length: N }, () => new Array<number>(N).fill(0));
  for (const l of links) {
    const t = idx.get(l.target), s = idx.get(l.source);
    if (t !== undefined && s !== undefined && !err[t]) A[t][s] += Math.abs(l.weight);
  }
  for (const row of A) {
    const s = row.reduce((a, b) => a + b, 0);
    if (s > 0) for (let j = 0; j < N; j++) row[j] /= Math.max(s, 1e-10);
  }
  const w = nodes.map((n) => (kind(n) === 'logit' ? n.token_prob ?? 0 : 0));
  let cur = [...w];
  const inf = new Array<number>(N).fill(0);
  for (let k = 0; k < 200; k++) {
    const next = new Array<number>(N).fill(0);
    for (let i = 0; i < N; i++) if (cur[i]) for (let j = 0; j < N; j++) next[j] += cur[i] * A[i][j];
    for (let j = 0; j < N; j++) inf[j] += next[j];
    cur = next;
  }
  const tok = nodes.reduce((a, n, i) => a + (kind(n) === 'embedding' ? inf[i] : 0), 0);
  const er = nodes.reduce((a, _, i) => a + (err[i] ? inf[i] : 0), 0);
  let num = 0, den = 0;
  for (let i = 0; i < N; i++) {
    const nonErr = 1 - A[i].reduce((a, v, j) => a + (err[j] ? v : 0), 0);
    num += nonErr * (inf[i] + w[i]);
    den += inf[i] + w[i];
  }
  return { replacement: tok / (tok + er), completeness: num / den };
}
