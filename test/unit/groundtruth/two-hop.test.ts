/**
 * The two-hop chain measurement (src/engine/groundtruth/two-hop.ts) on hand-made data whose answers are
 * known: probe F1 from counts worked out by hand, and chains in a hand-built graph where each variant
 * adds or removes exactly the edge a chain needs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AttributionGraph, AttributionNode } from '../../../src/engine/attribution/types';
import { cityPosition, featureKey, ProbeCounter, twoHopChains, twoHopFacts } from '../../../src/engine/groundtruth/two-hop';

test('two-hop facts: city → state → capital from the ground-truth paths; a malformed path is refused', () => {
  const f = twoHopFacts([
    { prompt: 'Dallas is in the state whose capital is', answer: 'Austin', path: ['city:Dallas', 'state:Texas', 'capital:Austin'] },
    { prompt: 'Tampa is in the state whose capital is', answer: 'Tallahassee', path: ['city:Tampa', 'state:Florida', 'capital:Tallahassee'] },
  ]);
  assert.equal(f.stateOf.get('Dallas'), 'Texas');
  assert.equal(f.capitalOf.get('Florida'), 'Tallahassee');
  assert.deepEqual([...f.capitals].sort(), ['Austin', 'Tallahassee']);
  assert.throws(() => twoHopFacts([{ prompt: 'x', answer: 'y', path: ['city:Dallas', 'capital:Austin'] }]), /no city → state → capital path/);
  assert.throws(() => twoHopFacts([
    { prompt: 'a', answer: 'Austin', path: ['city:Dallas', 'state:Texas', 'capital:Austin'] },
    { prompt: 'b', answer: 'Salem', path: ['city:Dallas', 'state:Oregon', 'capital:Salem'] },
  ]), /two states/);
});

test('probes: F1 of "fires" against "city in S" at city tokens only, and against "next token is K" everywhere', () => {
  const c = new ProbeCounter();
  // City tokens: 3 in Texas, 1 in Ohio. Feature 0:1 fires on 2 of the Texas ones and the Ohio one:
  // tp 2, fired at cities 3, Texas tokens 3 → F1 = 4 / 6. Feature 0:2 fires on all three Texas ones → 1.
  c.add(['0:1', '0:2'], 'Texas', undefined);
  c.add(['0:1', '0:2'], 'Texas', undefined);
  c.add(['0:2'], 'Texas', undefined);
  c.add(['0:1'], 'Ohio', undefined);
  // Firing off city tokens does not count against a state probe: 0:2 fires here too.
  c.add(['0:2', '1:5'], undefined, 'Austin');
  c.add(['1:5'], undefined, undefined);
  c.add([], undefined, 'Austin');
  const p = c.probes(0.5);
  assert.equal(p.cityTokens, 4);
  assert.equal(p.positions, 7);
  assert.ok(Math.abs(p.state.get('Texas')!.get('0:1')! - 4 / 6) < 1e-12);
  assert.equal(p.state.get('Texas')!.get('0:2'), 1);
  // 0:1 for Ohio: tp 1, fired at cities 3, Ohio tokens 1 → 2 / 4 = 0.5, at the threshold.
  assert.equal(p.state.get('Ohio')!.get('0:1'), 0.5);
  assert.equal(p.state.get('Ohio')!.has('0:2'), false);
  // Capital: 1:5 fires at 2 positions, one before Austin; Austin follows 2 positions → 2 / 4.
  assert.equal(p.capital.get('Austin')!.get('1:5'), 0.5);
  // 0:2 fires 4 times in all, once before Austin → 2 / 6, under the threshold.
  assert.equal(p.capital.get('Austin')!.has('0:2'), false);
  assert.equal(c.probes(0.9).state.get('Texas')!.has('0:1'), false);
});

/**
 * "Dallas is in the state whose capital is" → Austin, in miniature: BOS, Dallas (1), is (2), ... the last
 * position (3). Nodes: Dallas's embedding; at Dallas a state probe (0:5) and a city-only feature (0:7);
 * at the last position a feature (2:3) and a capital probe (3:9); an error node; the Austin logit.
 */
function graph(edges: [number, number][]): AttributionGraph {
  const node = (kind: AttributionNode['kind'], layer: number, position: number, index: number): AttributionNode => ({ kind, layer, position, index, activation: 1, label: '' });
  const nodes = [
    node('embedding', -1, 1, 11), // 0
    node('feature', 0, 1, 5), // 1 state probe at the city
    node('feature', 0, 1, 7), // 2 city-only feature
    node('feature', 2, 3, 3), // 3 later feature
    node('feature', 3, 3, 9), // 4 capital probe
    node('error', 1, 3, -1), // 5
    node('logit', 4, 3, 42), // 6 the answer
  ];
  return {
    prompt: 'Dallas is in',
    tokens: [{ id: 0, text: '<s>' }, { id: 11, text: 'Dallas' }, { id: 12, text: 'is' }, { id: 13, text: 'in' }],
    modelName: 'hand-made',
    nLayers: 4,
    nodes,
    edges: { source: Int32Array.from(edges.map((e) => e[0])), target: Int32Array.from(edges.map((e) => e[1])), weight: Float32Array.from(edges.map(() => 0.5)) },
    targets: [{ node: 6, tokenId: 42, token: 'Austin', probability: 0.9 }],
    thresholds: { node: 0.8, edge: 0.98 },
  };
}
const STATE = new Set([featureKey(0, 5)]);
const CAPITAL = new Set([featureKey(3, 9)]);

test('chains: state probe → later feature → answer is found, directly or through other nodes', () => {
  const direct = twoHopChains(graph([[0, 1], [1, 3], [3, 6]]), 1, 6, STATE, CAPITAL);
  assert.deepEqual(direct, { stateProbeInGraph: true, threeStep: true, threeStepDirect: true, threeStepViaCapital: false, shortcut: false });
  // Through an error node between the probe and the later feature: a chain, but not by direct edges.
  const indirect = twoHopChains(graph([[1, 5], [5, 3], [3, 6]]), 1, 6, STATE, CAPITAL);
  assert.equal(indirect.threeStep, true);
  assert.equal(indirect.threeStepDirect, false);
  // Via the capital probe.
  const viaCapital = twoHopChains(graph([[1, 4], [4, 6]]), 1, 6, STATE, CAPITAL);
  assert.equal(viaCapital.threeStepViaCapital, true);
  assert.equal(viaCapital.shortcut, false, 'a route through the state probe is no shortcut');
});

test('chains: no chain without a later feature, without the probe, or at another position', () => {
  // The probe straight into the logit (no later feature) is not a three-step chain.
  assert.equal(twoHopChains(graph([[1, 6]]), 1, 6, STATE, CAPITAL).threeStep, false);
  // The later feature does not reach the answer.
  assert.equal(twoHopChains(graph([[1, 3], [3, 5]]), 1, 6, STATE, CAPITAL).threeStep, false);
  // The probe feature for another state.
  const none = twoHopChains(graph([[1, 3], [3, 6]]), 1, 6, new Set([featureKey(0, 6)]), CAPITAL);
  assert.equal(none.stateProbeInGraph, false);
  assert.equal(none.threeStep, false);
  // The same feature is a probe only at the city's token: asked about position 2, nothing.
  assert.equal(twoHopChains(graph([[1, 3], [3, 6]]), 2, 6, STATE, CAPITAL).threeStep, false);
  // Edges of weight zero are no edges.
  const g = graph([[1, 3], [3, 6]]);
  g.edges.weight[1] = 0;
  assert.equal(twoHopChains(g, 1, 6, STATE, CAPITAL).threeStep, false);
});

test('chains: the shortcut goes from the city token to a capital probe around every state probe', () => {
  // Embedding → capital probe → answer.
  assert.equal(twoHopChains(graph([[0, 4], [4, 6]]), 1, 6, STATE, CAPITAL).shortcut, true);
  // City-only feature → error → capital probe → answer.
  assert.equal(twoHopChains(graph([[2, 5], [5, 4], [4, 6]]), 1, 6, STATE, CAPITAL).shortcut, true);
  // Only through the state probe: no shortcut, but a three-step chain via the capital.
  const through = twoHopChains(graph([[0, 1], [1, 4], [4, 6]]), 1, 6, STATE, CAPITAL);
  assert.equal(through.shortcut, false);
  assert.equal(through.threeStepViaCapital, true);
  // Both routes at once: both are reported.
  const both = twoHopChains(graph([[0, 4], [1, 3], [3, 6], [4, 6]]), 1, 6, STATE, CAPITAL);
  assert.equal(both.shortcut, true);
  assert.equal(both.threeStep, true);
  // A capital probe that does not reach the answer: no shortcut.
  assert.equal(twoHopChains(graph([[0, 4]]), 1, 6, STATE, CAPITAL).shortcut, false);
});

test('city position: the first token whose text is the city', () => {
  assert.equal(cityPosition([{ text: '<s>' }, { text: 'the' }, { text: ' Dallas' }], 'Dallas'), 2);
  assert.equal(cityPosition([{ text: '<s>' }], 'Dallas'), -1);
});
