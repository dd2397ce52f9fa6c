/**
 * Structural truths of the forward-with-hooks graph that hold whatever the weights, checked on the
 * random-weight fixtures independently of the PyTorch reference: the residual stream is the running
 * sum of the block outputs; attention patterns are causal probability rows (and respect Gemma-2's
 * sliding window); the reported norm scales are the ones a direct computation gives from the hooked
 * inputs; the logits are the final norm + unembedding of the last residual (the logit lens at the top
 * layer); and an mlp_out_delta moves exactly what a hand computation predicts and nothing earlier.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadModelBundle } from '../../../src/engine/bundle/index';
import { ForwardRunner, lensLogits, logitLens, topK, topPredictions } from '../../../src/engine/forward';
import { hooks, type NormSpec } from '../../../src/engine/model-spec';
import type { ActivationCache, ModelBundle } from '../../../src/engine/api';

const FIXTURES = resolve(__dirname, '..', '..', 'fixtures', 'models');
const cacheDir = mkdtempSync(join(tmpdir(), 'ci-inv-'));

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function get(c: ActivationCache, name: string): Float32Array {
  const h = c.hooks.get(name);
  assert.ok(h, `hook ${name} missing`);
  return h.data;
}

function add(a: Float32Array, b: Float32Array): Float32Array {
  return a.map((v, i) => v + b[i]);
}

/** The scale a norm applies at each row of x [T, d], computed here in float64. */
function directScale(n: NormSpec, x: Float32Array, d: number): Float64Array {
  const T = x.length / d;
  const out = new Float64Array(T);
  for (let t = 0; t < T; t++) {
    let mean = 0;
    if (n.kind === 'layer') {
      for (let i = 0; i < d; i++) mean += x[t * d + i];
      mean /= d;
    }
    let ms = 0;
    for (let i = 0; i < d; i++) ms += (x[t * d + i] - mean) ** 2;
    out[t] = 1 / Math.sqrt(ms / d + n.eps);
  }
  return out;
}

for (const model of ['llama-tiny', 'gpt2-tiny', 'gemma2-tiny']) {
  describe(`forward invariants: ${model}`, () => {
    let bundle: ModelBundle;
    let runner: ForwardRunner;
    let cache: ActivationCache;
    let ids: number[];

    before(async () => {
      bundle = await loadModelBundle(join(FIXTURES, model));
      runner = await ForwardRunner.create(bundle, { provider: 'cpu', threads: 1, cacheDir });
      ids = bundle.tokenizer.encode('The cat sat on the mat. The cat sat on the').map((t) => t.id);
      cache = await runner.run(ids);
    });

    test('every hook of model-spec.ts is output with its documented shape', () => {
      const s = bundle.spec;
      const T = ids.length;
      const want = new Map<string, number[]>([[hooks.embed, [T, s.dModel]], [hooks.lnFinalScale, [T]], [hooks.logits, [T, s.vocabSize]]]);
      if (s.posEmbed) want.set(hooks.posEmbed, [T, s.dModel]);
      s.blocks.forEach((b, l) => {
        for (const n of [hooks.residPre(l), hooks.attnOut(l), hooks.residMid(l), hooks.mlpIn(l), hooks.mlpOut(l), hooks.residPost(l)]) want.set(n, [T, s.dModel]);
        for (const n of [hooks.ln1Scale(l), hooks.ln2Scale(l)]) want.set(n, [T]);
        if (b.ln1Post) want.set(hooks.ln1PostScale(l), [T]);
        if (b.ln2Post) want.set(hooks.ln2PostScale(l), [T]);
        want.set(hooks.pattern(l), [b.attn.nHeads, T, T]);
      });
      assert.deepEqual(new Set(cache.hooks.keys()), new Set(want.keys()));
      for (const [n, shape] of want) assert.deepEqual(cache.hooks.get(n)!.shape, shape, n);
    });

    test('the residual stream is the running sum: resid_mid = resid_pre + attn_out, resid_post = resid_mid + mlp_out', () => {
      const s = bundle.spec;
      let expected = get(cache, hooks.embed);
      if (s.posEmbed) expected = add(expected, get(cache, hooks.posEmbed));
      for (let l = 0; l < s.nLayers; l++) {
        assert.ok(maxAbsDiff(get(cache, hooks.residPre(l)), expected) < 1e-6, `resid_pre ${l}`);
        const mid = add(get(cache, hooks.residPre(l)), get(cache, hooks.attnOut(l)));
        assert.ok(maxAbsDiff(get(cache, hooks.residMid(l)), mid) < 1e-5, `resid_mid ${l}`);
        const post = add(get(cache, hooks.residMid(l)), get(cache, hooks.mlpOut(l)));
        assert.ok(maxAbsDiff(get(cache, hooks.residPost(l)), post) < 1e-5, `resid_post ${l}`);
        expected = get(cache, hooks.residPost(l));
      }
    });

    test('attention patterns are causal probability rows (inside the sliding window where there is one)', () => {
      const T = ids.length;
      bundle.spec.blocks.forEach((b, l) => {
        const p = get(cache, hooks.pattern(l));
        const w = b.attn.slidingWindow;
        for (let h = 0; h < b.attn.nHeads; h++) {
          for (let q = 0; q < T; q++) {
            let sum = 0;
            for (let k = 0; k < T; k++) {
              const v = p[(h * T + q) * T + k];
              const visible = k <= q && (w === undefined || q - k < w);
              if (!visible) assert.equal(v, 0, `layer ${l} head ${h}: query ${q} sees key ${k}`);
              else assert.ok(v > 0, `layer ${l} head ${h}: visible key ${k} of query ${q} has weight ${v}`);
              sum += v;
            }
            assert.ok(Math.abs(sum - 1) < 1e-5, `row sums to ${sum}`);
          }
        }
      });
      if (model === 'gemma2-tiny') assert.ok(bundle.spec.blocks.some((b) => b.attn.slidingWindow !== undefined && b.attn.slidingWindow < ids.length), 'the window must bind for this test to mean anything');
    });

    test('norm scales equal 1/sqrt(mean(x²)+eps) (RMS) or 1/sqrt(var+eps) (LayerNorm) of the hooked input', () => {
      const s = bundle.spec;
      const d = s.dModel;
      const rel = (a: Float32Array, b: Float64Array) => maxAbsDiff(a, b) / Math.max(...b);
      s.blocks.forEach((b, l) => {
        assert.ok(rel(get(cache, hooks.ln1Scale(l)), directScale(b.ln1, get(cache, hooks.residPre(l)), d)) < 1e-5, `ln1 ${l}`);
        assert.ok(rel(get(cache, hooks.ln2Scale(l)), directScale(b.ln2, get(cache, hooks.residMid(l)), d)) < 1e-5, `ln2 ${l}`);
      });
      assert.ok(rel(get(cache, hooks.lnFinalScale), directScale(s.lnFinal, get(cache, hooks.residPost(s.nLayers - 1)), d)) < 1e-5);
    });

    test('logits are the logit lens of the last residual; topPredictions are sorted softmax probabilities', () => {
      const s = bundle.spec;
      const T = ids.length;
      const last = get(cache, hooks.residPost(s.nLayers - 1));
      for (const t of [0, T - 1]) {
        const lens = lensLogits(s, last.subarray(t * s.dModel, (t + 1) * s.dModel));
        assert.ok(maxAbsDiff(lens, cache.logits.data.subarray(t * s.vocabSize, (t + 1) * s.vocabSize)) < 1e-4, `position ${t}`);
      }
      const row = cache.logits.data.subarray((T - 1) * s.vocabSize);
      const top = topPredictions(bundle, row, 5);
      const sorted = [...row].map((v, i) => [v, i]).sort((a, b) => b[0] - a[0]).slice(0, 5).map((x) => x[1]);
      assert.deepEqual(top.map((p) => p.tokenId), sorted);
      const z = [...row].reduce((a, v) => a + Math.exp(v), 0);
      for (const p of top) assert.ok(Math.abs(p.prob - Math.exp(p.logit) / z) < 1e-6);
      assert.deepEqual(logitLens(bundle, cache, s.nLayers - 1, T - 1, 5).map((p) => p.tokenId), sorted);
    });

    test('mlp_out_delta at the last layer shifts logits as the hand computation predicts; at layer 0 it leaves earlier positions unchanged', async () => {
      const s = bundle.spec;
      const T = ids.length;
      const d = s.dModel;
      const L = s.nLayers;
      const t = T - 3;
      const dir = Float32Array.from({ length: d }, (_, i) => Math.cos(i * 0.7) * 0.5);
      const delta = new Float32Array(L * T * d);
      delta.set(dir, ((L - 1) * T + t) * d);
      const steered = await runner.run(ids, { mlpOutDelta: delta });
      const resid = get(cache, hooks.residPost(L - 1)).slice(t * d, (t + 1) * d);
      const predicted = lensLogits(s, add(resid, dir));
      const got = steered.logits.data.subarray(t * s.vocabSize, (t + 1) * s.vocabSize);
      assert.ok(maxAbsDiff(got, predicted) < 1e-4);
      assert.ok(maxAbsDiff(got, cache.logits.data.subarray(t * s.vocabSize, (t + 1) * s.vocabSize)) > 1e-2, 'the delta must move the logits');
      assert.ok(maxAbsDiff(get(steered, hooks.mlpOut(L - 1)).subarray(t * d, (t + 1) * d), add(get(cache, hooks.mlpOut(L - 1)).subarray(t * d, (t + 1) * d), dir)) < 1e-5,
        'hook_mlp_out includes the delta');

      const early = new Float32Array(L * T * d);
      early.set(dir, t * d);
      const e = await runner.run(ids, { mlpOutDelta: early });
      const V = s.vocabSize;
      assert.equal(maxAbsDiff(e.logits.data.subarray(0, t * V), cache.logits.data.subarray(0, t * V)), 0, 'positions before the delta are untouched');
      assert.ok(maxAbsDiff(e.logits.data.subarray(t * V), cache.logits.data.subarray(t * V)) > 1e-3);
    });

    test('a second runner for the same weights loads the cached graph and gives identical results', async () => {
      const again = await ForwardRunner.create(bundle, { provider: 'cpu', threads: 1, cacheDir });
      assert.equal(again.timings.cacheHit, true);
      const c2 = await again.run(ids);
      assert.equal(maxAbsDiff(c2.logits.data, cache.logits.data), 0);
      await again.dispose();
    });

    test('a graph written with external data (as models past 1.5 GB are) gives identical results', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'ci-ext-'));
      const ext = await ForwardRunner.create(bundle, { provider: 'cpu', threads: 1, cacheDir: dir, externalDataThreshold: 0 });
      const files = readdirSync(join(dir, readdirSync(dir)[0]));
      assert.ok(files.includes('model.onnx.data'), `external data file written: ${files}`);
      const c2 = await ext.run(ids);
      assert.equal(maxAbsDiff(c2.logits.data, cache.logits.data), 0);
      await ext.dispose();
    });
  });
}

test('topK returns the indices of the k largest values, largest first', () => {
  const v = Float32Array.from([0.5, 3, -1, 3, 2, 7, 0]);
  assert.deepEqual(topK(v, 3), [5, 1, 3]);
  assert.deepEqual(topK(v, 10).length, 7);
  assert.deepEqual(topK(v, 0), []);
});
