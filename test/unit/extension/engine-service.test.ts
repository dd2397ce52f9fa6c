import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TokenInfo } from '../../../src/engine/api';
import { EngineError, isEngineError } from '../../../src/engine/errors';
import type { InterventionSpec } from '../../../src/shared/protocol';
import { EngineService, predictionsFromLogits, topKIndices, type EngineRun, type LoadedEngine } from '../../../src/worker/engine-service';
import type { CallContext } from '../../../src/shared/rpc';

const ctx: CallContext = { signal: new AbortController().signal, progress: () => undefined };

test('topKIndices agrees with a full sort (ties: lower index first)', () => {
  let seed = 7;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let trial = 0; trial < 20; trial++) {
    const row = Float32Array.from({ length: 200 }, () => Math.round(rnd() * 50));
    for (const k of [0, 1, 5, 200, 300]) {
      const truth = [...row.keys()].sort((a, b) => row[b] - row[a] || a - b).slice(0, k);
      assert.deepEqual(topKIndices(row, k), truth);
    }
  }
});

test('predictions are softmax probabilities of the top logits', () => {
  const row = Float32Array.from([1, 3, 2, 0]);
  const z = [1, 3, 2, 0].reduce((s, x) => s + Math.exp(x), 0);
  const p = predictionsFromLogits(row, 2, (id) => `t${id}`);
  assert.deepEqual(p.map((x) => x.token), ['t1', 't2']);
  assert.ok(Math.abs(p[0].prob - Math.exp(3) / z) < 1e-9);
  assert.ok(Math.abs(p[1].prob - Math.exp(2) / z) < 1e-9);
});

/**
 * A tiny engine with known answers: the "model" predicts token (last id + 1) mod V, and feature f of
 * layer l is active at position t with activation (t + 1) * (l + 1) when (t + f) is even. An intervention
 * scaling any feature shifts the prediction by one token, so "after" differs from "before" knowably.
 */
class ToyEngine implements LoadedEngine {
  runs = 0;
  readonly info = { name: 'toy', dir: '/toy', nLayers: 2, dModel: 4, vocabSize: 6, maxPositions: 8, provider: 'cpu', transcoders: { dir: '/toy/tc', kind: 'transcoders', nFeatures: 8 } };
  tokenize(text: string): TokenInfo[] {
    const out: TokenInfo[] = [{ id: 0, text: '<s>', start: 0, end: 0, special: true }];
    let pos = 0;
    for (const w of text.split(' ')) {
      out.push({ id: (w.length % 5) + 1, text: w, start: pos, end: pos + w.length, special: false });
      pos += w.length + 1;
    }
    return out;
  }
  async intervene(run: EngineRun, iv: InterventionSpec[], k: number) {
    const steered = await this.run(run.tokens, undefined, iv);
    const V = this.info.vocabSize;
    const last = (r: EngineRun) => r.logits.data.subarray((r.tokens.length - 1) * V, r.tokens.length * V);
    return { semantics: { attention: 'frozen' as const, norms: 'recomputed' as const }, before: predictionsFromLogits(last(run), k, (id) => this.tokenText(id)), after: predictionsFromLogits(last(steered), k, (id) => this.tokenText(id)) };
  }
  async run(tokens: TokenInfo[], _s?: AbortSignal, iv?: InterventionSpec[]): Promise<EngineRun> {
    this.runs++;
    const V = this.info.vocabSize;
    const T = tokens.length;
    const logits = new Float32Array(T * V);
    tokens.forEach((tok, t) => (logits[t * V + ((tok.id + 1 + (iv?.length ? 1 : 0)) % V)] = 5));
    const features = [0, 1].map((l) => ({
      indices: tokens.map((_, t) => Int32Array.from([0, 1, 2, 3].filter((f) => (t + f) % 2 === 0))),
      values: tokens.map((_, t) => Float32Array.from([0, 1, 2, 3].filter((f) => (t + f) % 2 === 0).map(() => (t + 1) * (l + 1)))),
    }));
    return { tokens, logits: { shape: [T, V], data: logits }, features };
  }
  lens() {
    return [];
  }
  tokenText(id: number) {
    return `tok${id}`;
  }
  async attribute() {
    return this.prune();
  }
  prune() {
    const metadata = { slug: '', scan: '', transcoder_list: [], prompt_tokens: [], prompt: '', schema_version: 1 };
    return { graph: { metadata, qParams: { pinnedIds: [], supernodes: [], linkType: 'both', clickedId: '', sg_pos: '' }, nodes: [], links: [] } };
  }
  card(ref: { layer: number; feature: number }) {
    return { ...ref, label: `f${ref.feature}`, examples: [], topLogits: [], bottomLogits: [] };
  }
  label(ref: { layer: number; feature: number }) {
    return `L${ref.layer}f${ref.feature}`;
  }
  dispose() {}
}

async function service() {
  const engine = new ToyEngine();
  const s = new EngineService(async () => engine);
  await s.loadModel({ modelPath: '/toy', provider: 'cpu' }, ctx);
  return { s, engine };
}

test('forward: top features per token by activation, labelled; predictions per token', async () => {
  const { s } = await service();
  const r = await s.forward({ text: 'ab cde f', topFeatures: 3 }, ctx);
  assert.equal(r.tokens.length, 4);
  // Position 2: active features are 0 and 2 in both layers; layer 1 has twice the activation.
  assert.deepEqual(r.features[2].map((f) => [f.layer, f.feature, f.activation, f.label]), [
    [1, 0, 6, 'L1f0'],
    [1, 2, 6, 'L1f2'],
    [0, 0, 3, 'L0f0'],
  ]);
  // Token 'cde' has id 4; the toy model predicts id 5.
  assert.equal(r.predictions[2][0].token, 'tok5');
});

test('featureActivations reads one feature across positions (zeros where inactive)', async () => {
  const { s } = await service();
  const acts = await s.featureActivations({ text: 'ab cde f', layer: 1, feature: 1 }, ctx);
  assert.deepEqual(acts, [0, 4, 0, 8]);
  assert.deepEqual(await s.featureActivations({ text: 'ab cde f', layer: 9, feature: 1 }, ctx), [0, 0, 0, 0]);
});

test('runs are cached per text: hovers and decorations do not re-run the model', async () => {
  const { s, engine } = await service();
  await s.forward({ text: 'one two' }, ctx);
  await s.featureActivations({ text: 'one two', layer: 0, feature: 0 }, ctx);
  await s.logitLens({ text: 'one two', position: 1, k: 3 }, ctx);
  assert.equal(engine.runs, 1);
  for (const t of ['a', 'b', 'c', 'd', 'e']) await s.forward({ text: t }, ctx);
  await s.forward({ text: 'one two' }, ctx);
  assert.equal(engine.runs, 7, 'the oldest text was evicted and re-run');
});

test('intervene reports before and after at the last position', async () => {
  const { s } = await service();
  const r = await s.intervene({ text: 'ab cde', interventions: [{ layer: 0, feature: 1, mode: 'ablate' }], k: 2 }, ctx);
  assert.equal(r.before[0].token, 'tok5');
  assert.equal(r.after[0].token, 'tok0');
});

test('clear errors: no model, empty prompt, too long, no active features', async () => {
  const none = new EngineService(async () => {
    throw new EngineError('MODEL_NOT_FOUND', 'x');
  });
  await assert.rejects(none.forward({ text: 'a' }, ctx), (e: unknown) => isEngineError(e) && e.code === 'MODEL_NOT_FOUND');
  const { s, engine } = await service();
  await assert.rejects(s.forward({ text: '   ' }, ctx), (e: unknown) => isEngineError(e) && e.code === 'PROMPT_EMPTY');
  await assert.rejects(s.forward({ text: 'a b c d e f g h i' }, ctx), (e: unknown) => isEngineError(e) && e.code === 'PROMPT_TOO_LONG' && /at most 8/.test(e.message));
  engine.run = async (tokens) => ({ tokens, logits: { shape: [tokens.length, 6], data: new Float32Array(tokens.length * 6) }, features: [{ indices: tokens.map(() => new Int32Array()), values: tokens.map(() => new Float32Array()) }] });
  await assert.rejects(
    s.analyze({ text: 'q r', nodeThreshold: 0.8, edgeThreshold: 0.98, maxFeatureNodes: 10, batchSize: 4, slug: 's' }, ctx),
    (e: unknown) => isEngineError(e) && e.code === 'NO_ACTIVE_FEATURES',
  );
});
