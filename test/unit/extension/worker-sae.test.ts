/**
 * SAE graphs through the editor's path: the engine worker (a real worker_threads Worker, the extension's
 * RPC client) loaded with a residual-stream SAE as its dictionary analyses a prompt into an SAE graph —
 * labelled as such — equal to the engine's own SAE graph of the same prompt (whose edges
 * test/unit/attribution/sae-graph.test.ts checks against autograd), and re-prunes it from the kept
 * attribution. `listDictionaries` names the embedded model's four dictionaries with the graph each gives.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadModelBundle } from '../../../src/engine/bundle/index';
import { loadDictionary } from '../../../src/engine/dictionaries/index';
import { attributeSae, SAE_GRAPH_METHOD } from '../../../src/engine/attribution/sae-graph';
import { decompositionReport } from '../../../src/engine/decompositions/report';
import { ForwardRunner } from '../../../src/engine/forward';
import { toGraphFile, validateGraphFile } from '../../../src/engine/graph-file';
import type { RpcClient } from '../../../src/worker/rpc-endpoints';
import { ROOT, startWorker, type WorkerHarness } from './worker-harness';
import type { ModelInfo } from '../../../src/shared/rpc';

const MODEL = join(ROOT, 'test/fixtures/models/llama-tiny');
const SAE = join(ROOT, 'test/fixtures/saes/llama-tiny');
const PROMPT = 'The capital of Texas is Austin. The capital of Texas is';

let harness: WorkerHarness;
let client: RpcClient;
let cacheDir: string;
let info: ModelInfo;

before(async () => {
  harness = startWorker();
  ({ client, cacheDir } = harness);
  info = await client.call('loadModel', { modelPath: MODEL, transcoderPath: SAE, provider: 'cpu', threads: 1, cacheDir });
});

after(() => harness?.stop());

test('an SAE as the dictionary: hovers read its features, analyze gives the engine\'s SAE graph, labelled, and re-prunes', async () => {
  assert.equal(info.transcoders?.kind, 'sae');
  const fwd = await client.call('forward', { text: PROMPT, topFeatures: 50 });
  assert.ok(fwd.features.some((fs) => fs.length > 0 && fs.every((f) => f.layer === 1)), 'active features at the SAE site (layer 1)');

  const r = await client.call('analyze', { text: PROMPT, nodeThreshold: 0.8, edgeThreshold: 0.98, maxFeatureNodes: 4096, batchSize: 16, slug: 'sae' });
  const g = validateGraphFile(r.graph);
  assert.equal(g.metadata.info?.method, SAE_GRAPH_METHOD, 'labelled as an SAE graph');

  // The same graph computed in this process by the engine's one-call SAE attribution.
  const bundle = await loadModelBundle(MODEL);
  const dict = await loadDictionary(SAE, { dModel: bundle.spec.dModel, nLayers: bundle.spec.nLayers, name: bundle.spec.name });
  const want = toGraphFile(await attributeSae(bundle, dict, PROMPT, { runtime: { provider: 'cpu', threads: 1, cacheDir }, batchSize: 16 }), { slug: 'sae' });
  assert.deepEqual(g.nodes.map((n) => n.node_id).sort(), want.nodes.map((n) => n.node_id).sort(), 'the same nodes');
  const weights = new Map(want.links.map((l) => [`${l.source}>${l.target}`, l.weight]));
  assert.equal(g.links.length, want.links.length, 'the same number of links');
  const scale = Math.max(...want.links.map((l) => Math.abs(l.weight)));
  for (const l of g.links) {
    const w = weights.get(`${l.source}>${l.target}`);
    assert.ok(w !== undefined, `link ${l.source} → ${l.target} in both`);
    assert.ok(Math.abs(l.weight - w) <= 1e-5 * scale, `link ${l.source} → ${l.target}: ${l.weight} vs ${w}`);
  }

  const tighter = await client.call('prune', { nodeThreshold: 0.5, edgeThreshold: 0.98, slug: 'sae' });
  assert.equal(tighter.graph.metadata.info?.method, SAE_GRAPH_METHOD);
  assert.ok(tighter.graph.nodes.length < g.nodes.length, 're-pruned to fewer nodes');
});

test('listDictionaries: the embedded model\'s transcoders, CLT, SAE and e2e SAE, with the graph each gives', async () => {
  const list = await client.call('listDictionaries', { modelPath: join(ROOT, 'models/toy-llama') });
  const by = new Map(list.map((c) => [c.name, c]));
  assert.deepEqual([...by.keys()].sort(), ['clt', 'e2e-sae-resid-post-1', 'sae-resid-post-1', 'transcoders']);
  assert.equal(by.get('transcoders')!.kind, 'transcoders');
  assert.equal(by.get('clt')!.kind, 'clt');
  for (const n of ['sae-resid-post-1', 'e2e-sae-resid-post-1']) {
    assert.equal(by.get(n)!.kind, 'sae');
    assert.equal(by.get(n)!.graph, 'SAE graph');
    assert.deepEqual(by.get(n)!.layers, [1]);
  }
  assert.equal(by.get('clt')!.graph, 'transcoder graph');
});

test('decompositions: the loaded dictionary (the model folder has none) measured as the engine\'s report measures it', async () => {
  const r = await client.call('decompositions', { text: PROMPT });
  assert.deepEqual(r.prompts, [PROMPT]);
  assert.deepEqual(r.dictionaries.map((d) => d.kind), ['sae']);
  const bundle = await loadModelBundle(MODEL);
  const dict = await loadDictionary(SAE, { dModel: bundle.spec.dModel, nLayers: bundle.spec.nLayers, name: bundle.spec.name });
  const runtime = { provider: 'cpu' as const, threads: 1, cacheDir };
  const runner = await ForwardRunner.create(bundle, { ...runtime, precision: 'f32' });
  try {
    const want = (await decompositionReport(runner, bundle, [dict], [PROMPT], { runtime })).dictionaries[0];
    const got = r.dictionaries[0];
    for (const k of ['l0', 'fvu', 'ceClean', 'ceSpliced', 'klSpliced'] as const) assert.ok(Math.abs(got[k] - want[k]) <= 1e-4 * Math.max(1, Math.abs(want[k])), `${k}: ${got[k]} vs ${want[k]}`);
    assert.ok(got.graph && want.graph && Math.abs(got.graph.replacement - want.graph.replacement) <= 1e-4, 'replacement score');
    assert.equal(got.ablation.measured, want.ablation.measured);
  } finally {
    await runner.dispose();
  }
});
