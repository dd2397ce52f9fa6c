/**
 * Neuronpedia's newer graph writer: Lorsa (attention) features, an error split into attention and MLP
 * parts (`{layer}_error_attn_{pos}`, `{layer}_error_mlp_{pos}`) and bias nodes. The viewer shows each
 * for what it is; the engine's graph model (one input-free node per layer and position) merges the
 * input-free ones at a place and sums their links, and says so.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fromGraphFile, parseGraphFile, toGraphFile } from '../../../src/engine/graph-file';
import { normalizeGraph } from '../../../webview/graph-model';

const node = (node_id: string, feature_type: string, layer: string, ctx_idx: number, extra: Record<string, unknown> = {}) => ({
  node_id, feature: null, layer, ctx_idx, feature_type, jsNodeId: node_id, clerp: '', ...extra,
});
const file = {
  metadata: { slug: 'newer', scan: 'gemma-2-2b', prompt: 'a b', prompt_tokens: ['<bos>', 'a', 'b'] },
  qParams: { pinnedIds: ['0_error_attn_1'], supernodes: [] },
  nodes: [
    node('E_3_1', 'embedding', 'E', 1),
    node('0_5_1', 'lorsa', '0', 1, { feature: 5, clerp: 'attends to the previous token', influence: 0.3, activation: 1 }),
    node('1_7_1', 'cross layer transcoder', '1', 1, { feature: 7, clerp: 'mlp feature', influence: 0.5, activation: 1 }),
    node('0_error_attn_1', 'lorsa reconstruction error', '0', 1),
    node('0_error_mlp_1', 'mlp reconstruction error', '0', 1),
    node('0_bias_1', 'bias', '0', 1),
    node('27_9_1', 'logit', '27', 1, { feature: 9, clerp: 'Output "c" (p=0.5)', token_prob: 0.5, is_target_logit: true }),
  ],
  links: [
    { source: 'E_3_1', target: '0_5_1', weight: 1 },
    { source: '0_5_1', target: '1_7_1', weight: 0.75 },
    { source: '0_error_attn_1', target: '1_7_1', weight: 0.25 },
    { source: '0_error_mlp_1', target: '1_7_1', weight: 0.125 },
    { source: '0_bias_1', target: '1_7_1', weight: 0.0625 },
    { source: '0_error_mlp_1', target: '27_9_1', weight: -0.5 },
    { source: '1_7_1', target: '27_9_1', weight: 1 },
  ],
};

test('the viewer reads Lorsa features, split errors and bias nodes, each labelled for what it is', () => {
  const g = normalizeGraph(parseGraphFile(JSON.stringify(file)));
  const label = (id: string) => g.byId.get(id)!.label;
  assert.equal(g.byId.get('0_5_1')!.kind, 'feature');
  assert.equal(label('0_error_attn_1'), 'Attn error L0');
  assert.equal(label('0_error_mlp_1'), 'MLP error L0');
  assert.equal(label('0_bias_1'), 'Bias L0');
  assert.equal(g.byId.get('0_bias_1')!.kind, 'error');
  assert.equal(g.links.length, file.links.length);
});

test('the engine merges input-free nodes at one layer and position, sums their links, and warns', () => {
  const warnings: string[] = [];
  const g = fromGraphFile(parseGraphFile(JSON.stringify(file)), { onWarning: (m) => warnings.push(m) });
  const errors = g.nodes.map((n, i) => [n, i] as const).filter(([n]) => n.kind === 'error');
  assert.equal(errors.length, 1);
  const e = errors[0][1];
  const into = (t: number) => {
    let w = 0;
    for (let k = 0; k < g.edges.source.length; k++) if (g.edges.source[k] === e && g.edges.target[k] === t) w += g.edges.weight[k];
    return w;
  };
  const mlp = g.nodes.findIndex((n) => n.kind === 'feature' && n.layer === 1);
  const logit = g.nodes.findIndex((n) => n.kind === 'logit');
  assert.equal(into(mlp), 0.25 + 0.125 + 0.0625);
  assert.equal(into(logit), -0.5);
  // One edge per (source, target): the merged links became one.
  const pairs = new Set<number>();
  for (let k = 0; k < g.edges.source.length; k++) pairs.add(g.edges.source[k] * g.nodes.length + g.edges.target[k]);
  assert.equal(pairs.size, g.edges.source.length);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /0_error_mlp_1/);
  assert.match(warnings[0], /0_bias_1/);
  // The pinned attention error maps to the merged node, and the graph writes back as a valid file.
  assert.deepEqual(g.view?.pinnedIds, [`0_-1_1`]);
  const back = parseGraphFile(JSON.stringify(toGraphFile(g)));
  assert.equal(back.nodes.length, g.nodes.length);
});

test('two features with one id are still refused', () => {
  const bad = { ...file, nodes: [...file.nodes, node('1_7_1', 'cross layer transcoder', '1', 1, { feature: 7 })] };
  assert.throws(() => fromGraphFile(parseGraphFile(JSON.stringify(bad))), /repeats the id|same feature node/);
});
