import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GraphFormatError, normalizeGraph, withViewState } from '../../../webview/graph-model';
import { HOSTILE_LABEL, sampleGraph } from './sample-graph';

test('node kinds, layers and feature indices from circuit-tracer fields', () => {
  const g = normalizeGraph(sampleGraph(4));
  const count = (k: string) => g.nodes.filter((n) => n.kind === k).length;
  const raw = sampleGraph(4);
  assert.equal(count('embedding'), raw.nodes.filter((n) => n.feature_type === 'embedding').length);
  assert.equal(count('error'), 4);
  assert.equal(count('logit'), 2);
  assert.equal(g.nLayers, 4);
  for (const n of g.nodes) {
    if (n.kind === 'embedding') assert.equal(n.layer, -1);
    if (n.kind === 'logit') assert.equal(n.layer, 4, 'logits sit one row above the last layer');
    if (n.kind === 'feature') assert.equal(n.id, `${n.layer}_${n.feature}_${n.ctx}`);
  }
  assert.equal(g.links.length, raw.links.length);
  const austin = g.nodes.find((n) => n.kind === 'logit' && n.prob === 0.612)!;
  assert.equal(austin.label, ' Austin 61%');
  assert.equal(g.nodes.find((n) => n.id === 'E_104_4')!.label, ' capital');
});

test('the feature index comes from node_id (the feature field may be a cantor pairing), else from feature', () => {
  const g = normalizeGraph({
    nodes: [
      { node_id: '3_1234_5', feature_type: 'cross layer transcoder', layer: '3', ctx_idx: 5, feature: 776_000 },
      { node_id: 'custom-id', feature_type: 'transcoder', layer: '1', ctx_idx: 2, feature: 42 },
    ],
    links: [],
  });
  assert.equal(g.nodes[0].feature, 1234);
  assert.equal(g.nodes[0].label, 'L3#1234 unlabelled', 'a feature without a label reads "unlabelled", with its L#idx');
  assert.equal(g.nodes[1].feature, 42);
});

test('hostile or malformed content is kept as inert data or dropped', () => {
  const raw = sampleGraph(2);
  // Untrusted input: fields of the wrong type or range, which the file's type cannot express.
  (raw.nodes as unknown[]).push({ node_id: '0_1_1', feature_type: 'transcoder', layer: '0', ctx_idx: -5, clerp: 'x'.repeat(10_000), activation: Number.NaN, influence: 'high' });
  raw.nodes.push({ node_id: '0_1_1', feature_type: 'transcoder', layer: '0', ctx_idx: 1 } as never);
  (raw.nodes as unknown[]).push(null, 'str', { feature_type: 'transcoder' });
  raw.links.push({ source: '0_1_1', target: 'missing', weight: 1 }, { source: '0_1_1', target: '0_1_1', weight: 1 }, { source: 'E_100_0', target: '0_1_1', weight: Infinity });
  (raw.qParams as Record<string, unknown>).pinnedIds = ['0_1_1', 'ghost', 5];
  (raw.qParams as Record<string, unknown>).supernodes = [['grp', '0_1_1', 'ghost'], 'bad', [HOSTILE_LABEL]];
  const g = normalizeGraph(raw);
  const n = g.byId.get('0_1_1')!;
  assert.equal(n.ctx, 0);
  assert.ok(n.label.length <= 301 + 'L0#1 '.length, 'the label is bounded (and prefixed with its L#idx)');
  assert.equal(n.activation, undefined);
  assert.equal(n.influence, undefined);
  assert.equal(g.nodes.filter((x) => x.id === '0_1_1').length, 1, 'duplicate ids are dropped');
  assert.equal(g.links.length, sampleGraph(2).links.length, 'links to unknown nodes, self links and non-finite weights are dropped');
  assert.deepEqual(g.pinnedIds, ['0_1_1']);
  assert.deepEqual(g.supernodes, [{ label: 'grp', ids: ['0_1_1'] }]);
  assert.ok(g.nodes.some((x) => x.label === HOSTILE_LABEL || (x.kind === 'feature' && x.label === `L${x.layer}#${x.feature} ${HOSTILE_LABEL}`)), 'labels are kept verbatim (as text), not sanitised into something else');
});

test('files that are not graphs are rejected with a message', () => {
  assert.throws(() => normalizeGraph([]), GraphFormatError);
  assert.throws(() => normalizeGraph({ nodes: {} }), /no "nodes" list/);
  assert.throws(() => normalizeGraph({ nodes: [], links: 'x' }), /no "links" list/);
});

test('view state is written back in Neuronpedia qParams form', () => {
  const raw = sampleGraph(2);
  const out = withViewState(raw, ['a'], [{ label: 'Texas', ids: ['a', 'b'] }]);
  assert.deepEqual(out.qParams!.pinnedIds, ['a']);
  assert.deepEqual(out.qParams!.supernodes, [['Texas', 'a', 'b']]);
  assert.equal(out.qParams!.linkType, 'both', 'other qParams survive');
  assert.deepEqual(raw.qParams!.pinnedIds, [], 'the input is not mutated');
});

test('feature labels carry their evidence: L#idx always, the score when known, "unlabelled (best guess …)" under the threshold', () => {
  const node = (id: string, extra: Record<string, unknown>) => ({ node_id: id, feature_type: 'cross layer transcoder', layer: id.split('_')[0], ctx_idx: 1, ...extra });
  const raw = {
    metadata: { prompt_tokens: ['<bos>', 'Dallas'] },
    nodes: [
      node('3_95_1', { clerp: 'predicts Frankfort', label_f1: 0.31, label_precision: 0.2, label_recall: 0.7, label_latent: 'predict:Frankfort' }),
      node('2_7_1', { clerp: 'the state Texas', label_f1: 0.62, label_precision: 0.71, label_recall: 0.55, label_scored_against: 'ground-truth latents' }),
      node('1_4_1', { clerp: 'published label' }),
      node('1_5_1', { clerp: 'bad score', label_f1: 7 }),
    ],
    links: [],
  };
  const g = normalizeGraph(raw);
  const by = (id: string) => g.byId.get(id)!;
  assert.equal(by('3_95_1').label, 'L3#95 unlabelled (best guess: predicts Frankfort, F1 0.31)');
  assert.equal(by('3_95_1').labelTrusted, false);
  assert.equal(by('3_95_1').labelScore, 'F1 0.31 · P 0.20 · R 0.70');
  assert.equal(by('3_95_1').labelAgainst, 'the latent predict:Frankfort');
  assert.equal(by('2_7_1').label, 'L2#7 the state Texas (F1 0.62)');
  assert.equal(by('2_7_1').labelAgainst, 'ground-truth latents');
  assert.equal(by('1_4_1').label, 'L1#4 published label', 'no score: shown as given, with its id');
  assert.equal(by('1_5_1').label, 'L1#5 bad score', 'a score outside [0, 1] is ignored, not trusted');
  // The threshold is the user's: at 0.3 the first label is trusted.
  assert.equal(normalizeGraph(raw, { labelMinF1: 0.3 }).byId.get('3_95_1')!.label, 'L3#95 predicts Frankfort (F1 0.31)');
});
