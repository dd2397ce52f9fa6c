/**
 * The engine worker end to end on a real (tiny, random-weight) Llama and its transcoders, in a real
 * worker_threads Worker, through the same RPC client the extension uses. Truth comes from the engine's
 * reference pieces run here in the test process: the dictionary's pure-TypeScript encoder for feature
 * activations, the final logits for the last logit-lens row, and the graph-file validator.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadModelBundle } from '../../../src/engine/bundle/index';
import { loadDictionary } from '../../../src/engine/dictionaries/index';
import { isEngineError } from '../../../src/engine/errors';
import { ForwardRunner } from '../../../src/engine/forward';
import { validateGraphFile } from '../../../src/engine/graph-file';
import { hooks } from '../../../src/engine/model-spec';
import type { RpcClient } from '../../../src/worker/rpc-endpoints';
import { ROOT, startWorker, type WorkerHarness } from './worker-harness';
import type { ModelInfo } from '../../../src/shared/rpc';

const MODEL = join(ROOT, 'test/fixtures/models/llama-tiny');
const TRANSCODERS = join(ROOT, 'test/fixtures/transcoders/llama-tiny');
const PROMPT = 'The capital of Texas is Austin. The capital of Texas is';

let harness: WorkerHarness;
let client: RpcClient;
let cacheDir: string;
let info: ModelInfo;

before(async () => {
  harness = startWorker();
  ({ client, cacheDir } = harness);
  info = await client.call('loadModel', { modelPath: MODEL, transcoderPath: TRANSCODERS, provider: 'cpu', threads: 1, cacheDir });
});

after(() => harness?.stop());

test('loadModel reports the model, the provider in use and the transcoders', () => {
  assert.equal(info.nLayers, 3);
  assert.equal(info.provider, 'cpu');
  assert.equal(info.transcoders?.kind, 'transcoders');
  assert.ok((info.transcoders?.nFeatures ?? 0) > 0);
});

test('forward: token spans cover the prompt; features match the reference encoder', async () => {
  const r = await client.call('forward', { text: PROMPT, topFeatures: 1000 });
  for (const t of r.tokens) if (!t.special) assert.equal(PROMPT.slice(t.start, t.end).length, t.end - t.start);
  assert.equal(r.predictions.length, r.tokens.length);
  // Independent truth: hook_resid_mid from a separate forward run, through the dictionary's TS encoder.
  const bundle = await loadModelBundle(MODEL);
  const dict = await loadDictionary(TRANSCODERS, { dModel: bundle.spec.dModel, nLayers: bundle.spec.nLayers });
  const runner = await ForwardRunner.create(bundle, { provider: 'cpu', threads: 1, cacheDir });
  try {
    const cache = await runner.runTokens(r.tokens);
    const T = r.tokens.length;
    let compared = 0;
    for (let l = 0; l < 3; l++) {
      const x = cache.hooks.get(hooks.residMid(l))!.data;
      const acts = dict.encode(l, x, T);
      const F = dict.nFeatures(l);
      // The most active feature of this layer anywhere after BOS (BOS is zeroed, as circuit-tracer does).
      let best = -1, bestT = -1, bestV = 0;
      for (let t = 1; t < T; t++) for (let f = 0; f < F; f++) if (acts[t * F + f] > bestV) [best, bestT, bestV] = [f, t, acts[t * F + f]];
      assert.ok(best >= 0, `layer ${l} has an active feature`);
      const fromWorker = await client.call('featureActivations', { text: PROMPT, layer: l, feature: best });
      for (let t = 1; t < T; t++) {
        const want = acts[t * F + best];
        assert.ok(Math.abs(fromWorker[t] - want) <= 1e-4 * Math.max(1, Math.abs(want)), `L${l} f${best} t${t}: ${fromWorker[t]} vs ${want}`);
        compared++;
      }
      assert.equal(fromWorker[0], 0, 'BOS zeroed');
      const listed = r.features[bestT].find((f) => f.layer === l && f.feature === best);
      assert.ok(listed && Math.abs(listed.activation - bestV) <= 1e-4 * Math.max(1, bestV));
    }
    assert.ok(compared > 10);
  } finally {
    await runner.dispose();
  }
});

test('the logit lens after the last layer gives the model\'s own predictions', async () => {
  const r = await client.call('forward', { text: PROMPT });
  const t = r.tokens.length - 1;
  const lens = await client.call('logitLens', { text: PROMPT, position: t, k: 5 });
  const last = lens.find((row) => row.layer === info.nLayers - 1)!;
  assert.deepEqual(last.predictions.map((p) => p.token), r.predictions[t].map((p) => p.token));
  for (let i = 0; i < 5; i++) assert.ok(Math.abs(last.predictions[i].prob - r.predictions[t][i].prob) < 1e-4);
});

test('interventions: scaling by 1 changes nothing; ablating every active feature changes the prediction', async () => {
  const r = await client.call('forward', { text: PROMPT, topFeatures: 1000 });
  const last = r.tokens.length - 1;
  const feats = r.features[last];
  assert.ok(feats.length > 0);
  const same = await client.call('intervene', { text: PROMPT, interventions: feats.map((f) => ({ layer: f.layer, feature: f.feature, mode: 'scale' as const, value: 1 })), k: 5 });
  assert.deepEqual(same.after, same.before);
  const everywhere = r.features.flatMap((fs) => fs.map((f) => ({ layer: f.layer, feature: f.feature, mode: 'ablate' as const })));
  const off = await client.call('intervene', { text: PROMPT, interventions: everywhere, k: 5 });
  assert.deepEqual(off.before, same.before);
  const diff = off.after.reduce((s, p, i) => s + Math.abs(p.prob - off.before[i].prob), 0) + (off.after[0].token !== off.before[0].token ? 1 : 0);
  assert.ok(diff > 1e-4, 'ablation moved the predictions');
});

test('analyze returns a valid graph file with embeddings for every token and target logits', async () => {
  const stages: string[] = [];
  const r = await client.call('analyze', { text: PROMPT, nodeThreshold: 0.8, edgeThreshold: 0.98, maxFeatureNodes: 4096, batchSize: 16, slug: 'texas' }, { onProgress: (p) => stages.push(p.stage) });
  const g = validateGraphFile(r.graph);
  assert.equal(g.nodes.filter((n) => n.feature_type === 'embedding').length, r.forward.tokens.length);
  assert.ok(g.nodes.some((n) => n.feature_type === 'logit'));
  assert.ok(g.nodes.some((n) => n.feature_type !== 'logit' && n.feature_type !== 'embedding'));
  assert.ok(g.links.length > 0);
  assert.equal(g.metadata.prompt, PROMPT);
  assert.ok(stages.includes('Attribution'));
});

test('a cancelled analysis rejects with CANCELLED and the worker keeps serving', async () => {
  const ac = new AbortController();
  const p = client.call('analyze', { text: PROMPT + ' Austin.', nodeThreshold: 0.8, edgeThreshold: 0.98, maxFeatureNodes: 4096, batchSize: 1, slug: 's' }, { signal: ac.signal });
  ac.abort();
  await assert.rejects(p, (e: unknown) => isEngineError(e) && e.code === 'CANCELLED');
  const r = await client.call('forward', { text: 'The capital' });
  assert.ok(r.tokens.length > 1);
});

test('errors from the engine keep their codes: missing model, too long a prompt', async () => {
  await assert.rejects(client.call('validateModel', { modelPath: join(ROOT, 'no/such/model') }), (e: unknown) => isEngineError(e) && e.code === 'MODEL_NOT_FOUND');
  const ok = await client.call('validateModel', { modelPath: MODEL });
  assert.equal(ok.nLayers, 3);
  const long = 'Texas '.repeat(info.maxPositions + 5);
  await assert.rejects(client.call('forward', { text: long }), (e: unknown) => isEngineError(e) && e.code === 'PROMPT_TOO_LONG');
});
