import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AttributionGraph, AttributionNode } from '../../../src/engine/attribution/types';
import { EngineError } from '../../../src/engine/errors';
import {
  fromGraphFile, nodeIdOf, parseGraphFile, readGraphFile, serializeGraphFile, toGraphFile, validateGraphFile, writeGraphFile,
  type GraphFile,
} from '../../../src/engine/graph-file';

const SAMPLE = join(__dirname, '../../fixtures/graphs/circuit-tracer-sample.json');

/** A small graph with every node kind, awkward token text, and weights that are not short decimals. */
function makeGraph(): AttributionGraph {
  const nLayers = 3;
  const tokens = [{ id: 1, text: '<s>' }, { id: 57, text: 'Hello' }, { id: 9, text: '\n' }, { id: 300, text: ' "x"\t' }];
  const nodes: AttributionNode[] = [];
  tokens.forEach((t, p) => nodes.push({ kind: 'embedding', layer: -1, position: p, index: t.id, activation: 0, label: `Emb: ${t.text}`, cumulativeInfluence: 0.1 * p }));
  let s = 1;
  const rnd = () => ((s = (s * 16807) % 2147483647) / 2147483647);
  for (let l = 0; l < nLayers; l++) {
    for (let p = 1; p < tokens.length; p++) {
      nodes.push({ kind: 'feature', layer: l, position: p, index: Math.floor(rnd() * 5000), activation: Math.fround(rnd() * 10), label: `feature <b>${l}</b>`, cumulativeInfluence: rnd() });
      nodes.push({ kind: 'error', layer: l, position: p, index: -1, activation: l === 1 ? Math.fround(rnd()) : 0, label: '' });
    }
  }
  nodes.push({ kind: 'logit', layer: nLayers, position: 3, index: 42, activation: 0, label: 'Output " world" (p=0.700)', token: ' world', tokenProb: 0.7 });
  nodes.push({ kind: 'logit', layer: nLayers, position: 3, index: 7, activation: 0, label: 'Output ""\\n" (p=0.200)', token: '"\\n', tokenProb: 0.2 });
  // A custom difference target on the same token as the first logit: its id must not collide.
  nodes.push({ kind: 'logit', layer: nLayers, position: 3, index: 42, minusIndex: 7, activation: 0, label: 'Output " world − x" (p=0.000)', token: ' world − x', tokenProb: 0 });
  const src: number[] = [], tgt: number[] = [], w: number[] = [];
  for (let i = 0; i < nodes.length; i++) {
    for (let j = 0; j < nodes.length; j++) {
      if (nodes[i].kind === 'logit' || nodes[j].kind === 'embedding' || nodes[j].kind === 'error') continue;
      if (nodes[i].layer >= nodes[j].layer || rnd() < 0.5) continue;
      src.push(i); tgt.push(j); w.push((rnd() - 0.5) * 3);
    }
  }
  return {
    prompt: '<s>Hello\n "x"\t',
    tokens,
    modelName: 'toy-llama',
    nLayers,
    nodes,
    edges: { source: Int32Array.from(src), target: Int32Array.from(tgt), weight: Float32Array.from(w) },
    targets: [
      { node: nodes.length - 3, tokenId: 42, token: ' world', probability: 0.7 },
      { node: nodes.length - 2, tokenId: 7, token: '"\\n', probability: 0.2 },
      { node: nodes.length - 1, tokenId: 42, minusTokenId: 7, token: ' world − x', probability: 0 },
    ],
    scores: { replacement: 0.8125, completeness: 0.9375 },
    thresholds: { node: 0.8, edge: 0.98 },
    settings: { maxNLogits: 10, desiredLogitProb: 0.95, batchSize: 64, maxFeatureNodes: 4096 },
    source: { modelPath: '/models/toy', dictionary: 'transcoders', promptFile: 'prompts/a.prompt', createdMs: 1764115200000 },
    view: { pinnedIds: ['E_57_1'], supernodes: [{ label: 'greeting', nodeIds: ['E_57_1', 'E_9_2'] }], linkType: 'both', clickedId: 'E_9_2' },
  };
}

function graphFileInvalid(re: RegExp) {
  return (e: unknown) => e instanceof EngineError && e.code === 'GRAPH_FILE_INVALID' && re.test(e.message);
}

test('an attribution graph survives toGraphFile → serialize → parse → fromGraphFile exactly', () => {
  const g = makeGraph();
  assert.ok(g.edges.weight.length > 20);
  const text = serializeGraphFile(toGraphFile(g));
  const back = fromGraphFile(parseGraphFile(text));
  // Tokens come back in circuit-tracer's display form; everything else is identical.
  assert.deepEqual(back.tokens.map((t) => t.text), ['<s>', 'Hello', '⏎', ' "x"→']);
  assert.deepEqual(back.tokens.map((t) => t.id), g.tokens.map((t) => t.id));
  assert.deepEqual({ ...back, tokens: [] }, { ...g, tokens: [] });
  assert.deepEqual(back.nodes.slice(-2).map((n) => nodeIdOf(n, 3)), ['4_7_3', '4_42-7_3']);
  // Float32 weights are written as the shortest decimal that reads back as the same float32.
  assert.deepEqual(back.edges.weight, g.edges.weight);
  assert.ok(!/\d{10}/.test(text.slice(text.indexOf('"links"'))), 'weights are short decimals');
  // Writing the parsed file again gives the same text.
  assert.equal(serializeGraphFile(parseGraphFile(text)), text);
  // The file is also what the webview protocol expects.
  const asJson: GraphFile = parseGraphFile(text);
  assert.equal(asJson.nodes.length, g.nodes.length);
});

test('a circuit-tracer graph file parses with its ids, features, tokens and view state', () => {
  const text = readFileSync(SAMPLE, 'utf8');
  const file = parseGraphFile(text);
  assert.equal(file.nodes.length, 9);
  assert.equal(file.links.length, 8);
  assert.equal(file.metadata.scan, 'gemma-2-2b');
  const g = fromGraphFile(file);
  assert.equal(g.nLayers, 26, 'logits sit at layer nLayers + 1 in circuit-tracer files');
  const byId = new Map(g.nodes.map((n) => [nodeIdOf(n, g.nLayers), n]));
  assert.deepEqual(pick(byId.get('16_25_9')), { kind: 'feature', layer: 16, position: 9, index: 25, activation: 7.25 });
  // An older circuit-tracer error id ("0_{layer}_{pos}") maps to the error node of layer 7.
  assert.deepEqual(pick(byId.get('7_-1_9')), { kind: 'error', layer: 7, position: 9, index: -1, activation: 0 });
  assert.deepEqual(pick(byId.get('E_26865_9')), { kind: 'embedding', layer: -1, position: 9, index: 26865, activation: 0 });
  assert.equal(g.tokens[9].id, 26865);
  assert.equal(g.tokens[9].text, ' Dallas');
  assert.equal(g.tokens[3].id, -1, 'tokens without an embedding node have no known id');
  assert.deepEqual(g.targets.map((t) => [t.token, t.tokenId, t.probability]), [[' Austin', 22605, 0.4521], [' Texas', 9184, 0.0812]]);
  assert.deepEqual(g.view?.supernodes, [{ label: 'Texas', nodeIds: ['20_15589_10', '16_25_9'] }]);
  assert.deepEqual(g.view?.pinnedIds, ['20_15589_10', 'E_26865_9', '27_22605_10']);
  // Edge weights and ends are those of the file.
  const e = [...g.edges.weight].findIndex((w) => w === Math.fround(-0.3662109375));
  assert.equal(nodeIdOf(g.nodes[g.edges.source[e]], g.nLayers), '7_-1_9');
  assert.equal(nodeIdOf(g.nodes[g.edges.target[e]], g.nLayers), '16_25_9');

  // Written back, the node fields circuit-tracer computes (Cantor-paired `feature`, jsNodeId, layer
  // strings, logit clerps) equal those of the file, which were computed independently in Python.
  const out = toGraphFile(g, { slug: 'dallas-austin', scan: 'gemma-2-2b' });
  const orig = new Map(file.nodes.map((n) => [n.node_id, n]));
  for (const n of out.nodes) {
    const o = orig.get(n.node_id === '7_-1_9' ? '0_7_9' : n.node_id);
    assert.ok(o, `node ${n.node_id} comes from the file`);
    const fields = ['feature', 'layer', 'ctx_idx', 'feature_type', 'token_prob', 'is_target_logit', 'influence', 'activation'] as const;
    for (const f of fields) assert.equal(n[f], o[f], `${n.node_id}.${f}`);
    if (n.feature_type !== 'mlp reconstruction error') assert.equal(n.jsNodeId, o.jsNodeId);
    if (n.feature_type === 'logit') assert.equal(n.clerp, o.clerp);
  }
  assert.deepEqual(out.metadata.prompt_tokens, file.metadata.prompt_tokens);
  assert.deepEqual(out.qParams.supernodes, file.qParams.supernodes);
  parseGraphFile(serializeGraphFile(out));
});

function pick(n: AttributionNode | undefined) {
  assert.ok(n);
  return { kind: n.kind, layer: n.layer, position: n.position, index: n.index, activation: n.activation };
}

function sampleObject(): Record<string, unknown> {
  return JSON.parse(readFileSync(SAMPLE, 'utf8')) as Record<string, unknown>;
}
function mutate(fn: (o: { metadata: Record<string, unknown>; nodes: Record<string, unknown>[]; links: Record<string, unknown>[]; qParams: Record<string, unknown> }) => void): string {
  const o = sampleObject();
  fn(o as never);
  return JSON.stringify(o);
}

test('labels with markup stay verbatim plain strings', () => {
  const evil = '<script>alert(1)</script><img src=x onerror=alert(2)>"\u2028';
  const text = mutate((o) => {
    o.nodes[0].clerp = evil;
    o.metadata.prompt_tokens = (o.metadata.prompt_tokens as string[]).map((t, i) => (i === 2 ? '</script>' : t));
  });
  const file = parseGraphFile(text);
  assert.equal(file.nodes[0].clerp, evil);
  const g = fromGraphFile(file);
  assert.equal(g.nodes[0].label, evil);
  assert.equal(g.tokens[2].text, '</script>');
  assert.equal(parseGraphFile(serializeGraphFile(toGraphFile(g))).nodes[0].clerp, evil);
});

test('__proto__ and constructor keys are inert data, never prototypes', () => {
  const text = readFileSync(SAMPLE, 'utf8')
    .replace('"metadata": {', '"metadata": {"__proto__": {"polluted": 1, "slug": "evil"}, "constructor": {"prototype": {"polluted": 2}},')
    .replace('"slug": "dallas-austin",', '"slug": "dallas-austin", "info": {"__proto__": {"polluted": 3}, "title": "t", "nested": {"constructor": {"x": 1}}},')
    .replace('"node_id": "16_25_9",', '"node_id": "16_25_9", "__proto__": {"is_target_logit": true, "polluted": 4},')
    .replace('{\n  "metadata"', '{"__proto__": {"polluted": 5},\n  "metadata"');
  const file = parseGraphFile(text);
  const probe: Record<string, unknown> = {};
  assert.equal(probe.polluted, undefined, 'Object.prototype is untouched');
  for (const o of [file, file.metadata, file.metadata.info!, file.nodes[0], file.qParams]) {
    assert.equal(Object.getPrototypeOf(o), Object.prototype);
    assert.equal((o as Record<string, unknown>).polluted, undefined);
    assert.ok(!Object.prototype.hasOwnProperty.call(o, '__proto__'));
  }
  assert.equal(file.metadata.slug, 'dallas-austin');
  assert.deepEqual(file.metadata.info, { title: 't', nested: {} });
  assert.equal(file.nodes[0].is_target_logit, false);
});

test('a file claiming 10⁷ nodes is refused by its count, and oversized files before parsing', () => {
  const o = sampleObject();
  const head = JSON.stringify({ metadata: o.metadata, qParams: o.qParams }).slice(0, -1);
  const huge = `${head},"nodes":[${'0,'.repeat(1e7 - 1)}0],"links":[]}`;
  assert.throws(() => parseGraphFile(huge), graphFileInvalid(/nodes has 10000000 nodes; the limit is 100000/));
  assert.throws(() => parseGraphFile(readFileSync(SAMPLE, 'utf8'), { maxBytes: 1000 }), graphFileInvalid(/the limit is 1000/));
  assert.throws(() => parseGraphFile(readFileSync(SAMPLE), { maxBytes: 1000 }), graphFileInvalid(/bytes long; the limit is 1000/));
  assert.throws(() => parseGraphFile(mutate((x) => { x.links = []; }), { maxNodes: 3 }), graphFileInvalid(/^Invalid graph file: nodes has 9 nodes; the limit is 3/));
  assert.throws(() => parseGraphFile(mutate((x) => { x.nodes[0].clerp = 'x'.repeat(70_000); })), graphFileInvalid(/nodes\[0\]\.clerp is 70000 characters long/));
});

test('NaN and Infinity are refused, in text and in graphs being written', () => {
  const text = readFileSync(SAMPLE, 'utf8').replace('"weight": 1.25', '"weight": NaN');
  assert.throws(() => parseGraphFile(text), graphFileInvalid(/not valid JSON at line \d+, column \d+: it contains NaN, which JSON does not allow/));
  assert.throws(() => parseGraphFile(readFileSync(SAMPLE, 'utf8').replace('"activation": 7.25', '"activation": -Infinity')), graphFileInvalid(/it contains Infinity/));
  const g = makeGraph();
  g.edges.weight[3] = NaN;
  assert.throws(() => serializeGraphFile(toGraphFile(g)), graphFileInvalid(/links\[3\]\.weight must be a finite number, not number NaN/));
  const g2 = makeGraph();
  g2.nodes[5].activation = Infinity;
  assert.throws(() => serializeGraphFile(toGraphFile(g2)), graphFileInvalid(/nodes\[5\]\.activation must be a finite number/));
});

test('malformed files name the wrong field', () => {
  const cases: [string, RegExp][] = [
    [mutate((o) => { o.links[2].target = 'nope_1_2'; }), /links\[2\]\.target "nope_1_2" is not the node_id of any node/],
    [mutate((o) => { o.nodes[4].node_id = '16_25_9'; }), /nodes\[4\]\.node_id "16_25_9" repeats the id of nodes\[0\]/],
    [mutate((o) => { o.links.push({ ...o.links[0] }); }), /links\[8\] repeats the link E_26865_9 → 4_13154_9/],
    [mutate((o) => { o.nodes[1].ctx_idx = '10'; }), /nodes\[1\]\.ctx_idx must be an integer ≥ 0, not the string "10"/],
    [mutate((o) => { o.nodes[1].ctx_idx = -1; }), /nodes\[1\]\.ctx_idx must be an integer ≥ 0, not number -1/],
    [mutate((o) => { o.nodes[1].ctx_idx = 11; }), /nodes\[1\]\.ctx_idx is 11 but the prompt has only 11 tokens/],
    [mutate((o) => { o.nodes[1].layer = 'E'; }), /nodes\[1\]\.layer must be a layer number for a cross layer transcoder node/],
    [mutate((o) => { o.nodes[2].feature_type = 7; }), /nodes\[2\]\.feature_type must be a string, not number 7/],
    [mutate((o) => { o.nodes[3] = [] as never; }), /nodes\[3\] must be an object, not an array/],
    [mutate((o) => { o.links[0].weight = '2.5'; }), /links\[0\]\.weight must be a finite number, not the string "2.5"/],
    [mutate((o) => { o.nodes[7].token_prob = 1.5; }), /nodes\[7\]\.token_prob must lie in \[0, 1\]/],
    [mutate((o) => { o.metadata.prompt_tokens = 'abc'; }), /metadata\.prompt_tokens must be an array, not the string "abc"/],
    [mutate((o) => { o.metadata.schema_version = 2; }), /metadata\.schema_version is 2, newer than the version 1/],
    [mutate((o) => { o.qParams.supernodes = [[]]; }), /qParams\.supernodes\[0\] must start with a label/],
    [mutate((o) => { o.qParams.pinnedIds = [3]; }), /qParams\.pinnedIds\[0\] must be a string/],
    [mutate((o) => { delete (o as Record<string, unknown>).nodes; }), /nodes must be an array, not missing/],
    [mutate((o) => { let x: Record<string, unknown> = {}; o.metadata.info = x; for (let i = 0; i < 30; i++) { const y = {}; x.a = y; x = y; } }), /metadata\.info(\.a)+ is nested too deeply/],
    ['[1, 2', /not valid JSON/],
    ['hello', /not valid JSON/],
    ['{"a": 1,\n "b": [1 2]}', /not valid JSON at line 2, column 10/],
    ['[]', /\(top level\) must be an object, not an array/],
    ['', /not valid JSON/],
  ];
  for (const [text, re] of cases) assert.throws(() => parseGraphFile(text), graphFileInvalid(re), re.source);
  assert.throws(() => parseGraphFile(Uint8Array.from([0x7b, 0xff, 0xfe, 0x7d])), graphFileInvalid(/not UTF-8/));
  // A byte-order mark, missing optional fields and a numeric layer are accepted (Neuronpedia's schema allows them).
  const loose = mutate((o) => {
    delete (o as Record<string, unknown>).qParams;
    delete o.nodes[0].jsNodeId;
    delete o.nodes[0].clerp;
    o.nodes[1].layer = 20;
  });
  const f = parseGraphFile(`\ufeff${loose}`);
  assert.equal(f.nodes[0].jsNodeId, '16_25_9');
  assert.equal(f.nodes[1].layer, '20');
  assert.deepEqual(f.qParams.pinnedIds, []);
});

test('validateGraphFile returns fresh objects that drop unknown fields', () => {
  const raw = sampleObject();
  (raw.nodes as Record<string, unknown>[])[0].vis_link = 'javascript:alert(1)';
  const f: GraphFile = validateGraphFile(raw);
  assert.notEqual(f.nodes[0], (raw.nodes as unknown[])[0]);
  assert.equal((f.nodes[0] as unknown as Record<string, unknown>).vis_link, undefined);
});

test('graph files are written and read from disk, refusing oversized files before reading them', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ci-graph-'));
  const p = join(dir, 'g.graph.json');
  const g = makeGraph();
  writeGraphFile(p, toGraphFile(g));
  assert.deepEqual(fromGraphFile(readGraphFile(p)).edges, g.edges);
  assert.throws(() => readGraphFile(p, { maxBytes: 100 }), graphFileInvalid(/g\.graph\.json is \d+ bytes long; the limit is 100/));
  assert.throws(() => readGraphFile(join(dir, 'missing.json')), graphFileInvalid(/The graph file .*missing\.json does not exist\./));
  assert.throws(() => readGraphFile(dir), graphFileInvalid(/The graph file .* is a folder, not a file\./));
  assert.throws(() => parseGraphFile(readFileSync(join(__dirname, '../../../package.json'))), graphFileInvalid(/is JSON but not an attribution graph: it has no "metadata", "nodes" or "links" \(its keys: "name"/));
});

test('label evidence on feature nodes survives a write and a read (optional label_* fields), and bad scores are rejected', () => {
  const g = makeGraph();
  const f = g.nodes.find((n) => n.kind === 'feature')!;
  f.labelEvidence = { f1: 0.31, precision: 0.2, recall: 0.7, latent: 'predict:Frankfort', against: 'ground-truth latents of held-out text' };
  const file = JSON.parse(serializeGraphFile(toGraphFile(g)));
  const fn = file.nodes.find((n: { clerp: string }) => n.clerp === f.label);
  assert.equal(fn.label_f1, 0.31);
  assert.equal(fn.label_latent, 'predict:Frankfort');
  const back = fromGraphFile(validateGraphFile(file));
  const b = back.nodes.find((n) => n.kind === 'feature' && n.layer === f.layer && n.index === f.index && n.position === f.position)!;
  assert.deepEqual(b.labelEvidence, f.labelEvidence);
  assert.equal(back.nodes.filter((n) => n.labelEvidence).length, 1, 'only the node that had evidence');
  fn.label_f1 = 1.5;
  assert.throws(() => validateGraphFile(file), /label_f1/);
});
