import { test } from 'node:test';
import assert from 'node:assert/strict';
import { normalizeGraph, type ViewGraph } from '../../../webview/graph-model';
import { graphScores } from '../../../webview/scores';
import { sampleGraph } from './sample-graph';

/**
 * circuit-tracer's compute_graph_scores written out with dense matrices (independent of scores.ts's
 * sparse push): Â = |A| row-normalised, influence = w Σ_k Â^k (by solving x = w Â + x Â with a
 * truncated power series until it stops changing).
 */
function dense(g: ViewGraph, keep: (id: string) => boolean) {
  const N = g.nodes.length;
  const idx = new Map(g.nodes.map((n, i) => [n.id, i]));
  const err = g.nodes.map((n) => n.kind === 'error' || (n.kind === 'feature' && !keep(n.id)));
  const A = Array.from({ length: N }, () => new Array<number>(N).fill(0));
  for (const l of g.links) if (!err[idx.get(l.target)!]) A[idx.get(l.target)!][idx.get(l.source)!] += Math.abs(l.weight);
  for (const row of A) {
    const s = row.reduce((a, b) => a + b, 0);
    if (s > 0) for (let j = 0; j < N; j++) row[j] /= Math.max(s, 1e-10);
  }
  const w = g.nodes.map((n) => (n.kind === 'logit' ? n.prob ?? 0 : 0));
  let cur = [...w];
  const inf = new Array<number>(N).fill(0);
  for (let k = 0; k < 200; k++) {
    const next = new Array<number>(N).fill(0);
    for (let i = 0; i < N; i++) for (let j = 0; j < N; j++) next[j] += cur[i] * A[i][j];
    for (let j = 0; j < N; j++) inf[j] += next[j];
    cur = next;
  }
  const tok = g.nodes.reduce((a, n, i) => a + (n.kind === 'embedding' ? inf[i] : 0), 0);
  const er = g.nodes.reduce((a, _, i) => a + (err[i] ? inf[i] : 0), 0);
  let num = 0, den = 0;
  for (let i = 0; i < N; i++) {
    const nonErr = 1 - A[i].reduce((a, v, j) => a + (err[j] ? v : 0), 0);
    num += nonErr * (inf[i] + w[i]);
    den += inf[i] + w[i];
  }
  return { replacement: tok / (tok + er), completeness: num / den };
}

test('graph scores equal a dense computation of circuit-tracer’s definitions', () => {
  const g = normalizeGraph(sampleGraph(4));
  const all = graphScores(g, () => true);
  const truth = dense(g, () => true);
  assert.ok(Math.abs(all.replacement - truth.replacement) < 1e-12, `${all.replacement} vs ${truth.replacement}`);
  assert.ok(Math.abs(all.completeness - truth.completeness) < 1e-12);
  assert.ok(all.replacement > 0 && all.replacement < 1 && all.completeness > 0 && all.completeness < 1);
  // A subgraph of a few features: the rest count as errors, so its scores are lower.
  const few = new Set(g.nodes.filter((n) => n.kind === 'feature').slice(0, 4).map((n) => n.id));
  const sub = graphScores(g, (id) => few.has(id));
  const subTruth = dense(g, (id) => few.has(id));
  assert.ok(Math.abs(sub.replacement - subTruth.replacement) < 1e-12);
  assert.ok(Math.abs(sub.completeness - subTruth.completeness) < 1e-12);
  assert.ok(sub.completeness < all.completeness);
});

test('a graph with no error nodes and every feature kept is fully complete and fully replaced', () => {
  const g = normalizeGraph({
    metadata: { prompt_tokens: ['a'] },
    nodes: [
      { node_id: 'E_0_0', feature_type: 'embedding', layer: 'E', ctx_idx: 0 },
      { node_id: '0_1_0', feature_type: 'transcoder', layer: '0', ctx_idx: 0, feature: 1 },
      { node_id: '2_5_0', feature_type: 'logit', layer: '2', ctx_idx: 0, token_prob: 0.7 },
    ],
    links: [{ source: 'E_0_0', target: '0_1_0', weight: 2 }, { source: '0_1_0', target: '2_5_0', weight: -3 }],
  });
  assert.deepEqual(graphScores(g, () => true), { replacement: 1, completeness: 1 });
  // Without the feature, everything reaching the logit comes through an "error".
  const none = graphScores(g, () => false);
  assert.equal(none.replacement, 0);
  assert.ok(Math.abs(none.completeness - 0.5) < 1e-12);
});
