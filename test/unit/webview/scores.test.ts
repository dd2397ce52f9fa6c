import { test } from 'node:test';
import assert from 'node:assert/strict';
import { normalizeGraph, type ViewGraph } from '../../../webview/graph-model';
import { graphScores } from '../../../webview/scores';
import { sampleGraph } from './sample-graph';
import { denseScores } from './scores-reference';

const dense = (g: ViewGraph, keep: (id: string) => boolean) =>
  denseScores(g.nodes.map((n) => ({ node_id: n.id, feature_type: n.kind, ...(n.prob !== undefined ? { token_prob: n.prob } : {}) })), g.links, keep);

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
