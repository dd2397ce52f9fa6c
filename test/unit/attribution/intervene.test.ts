/**
 * Interventions against independent truth:
 * - with attention recomputed, the intervened logits equal those of the independent PyTorch forward
 *   (tools/reference/forward_ref.py --mlp-out-delta) given the steering vector computed here from the
 *   dictionary's reference encoder/decoder on the reference's own activations;
 * - the frozen-attention forward graph with no intervention reproduces the model's logits;
 * - an intervention at the last layer and last position cannot reach attention, so frozen and
 *   recomputed attention must agree; one at an early layer changes later attention, so they differ.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { interveneWith } from '../../../src/engine/attribution/intervene';
import { FrozenAttentionRunner } from '../../../src/engine/attribution/frozen-forward';
import { freezeForward } from '../../../src/engine/attribution/frozen';
import { hooks } from '../../../src/engine/model-spec';
import { CACHE_DIR, FIXTURES, loadFixture, PYTHON, readF32Tensors, relMaxErr, ROOT } from './helpers';

function forwardRef(modelDir: string, ids: number[], delta?: Float32Array): Map<string, { shape: number[]; data: Float32Array }> {
  const dir = mkdtempSync(join(tmpdir(), 'ci-intervene-'));
  const args = [join(ROOT, 'tools', 'reference', 'forward_ref.py'), '--model', modelDir, '--ids', ids.join(','), '--out', join(dir, 'h.safetensors')];
  if (delta) {
    writeFileSync(join(dir, 'delta.f32'), Buffer.from(delta.buffer, delta.byteOffset, delta.byteLength));
    args.push('--mlp-out-delta', join(dir, 'delta.f32'));
  }
  const r = spawnSync(PYTHON, args, { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '1' } });
  if (r.status !== 0) throw new Error(`forward_ref.py failed: ${r.stderr}`);
  return readF32Tensors(join(dir, 'h.safetensors'));
}

for (const f of [FIXTURES[0], FIXTURES[4]]) {
  test(`recomputed-attention interventions match the reference forward with the same steering: ${f.transcoders}`, async () => {
    const { bundle, engine, dictionary, modelDir } = await loadFixture(f);
    const spec = bundle.spec;
    const L = spec.nLayers, d = spec.dModel, V = spec.vocabSize;
    const ids = bundle.tokenizer.encode(f.prompt).map((t) => t.id);
    const T = ids.length;
    const ref0 = forwardRef(modelDir, ids);
    // The most active layer-0 feature at the last position, set to three times its value; and the
    // same feature ablated wherever it fires after BOS.
    const x = ref0.get(dictionary.inputHook(0))!.data;
    const acts = dictionary.encode(0, x, T);
    const F = dictionary.nFeatures(0);
    let best = 0;
    for (let j = 0; j < F; j++) if (acts[(T - 1) * F + j] > acts[(T - 1) * F + best]) best = j;
    assert.ok(acts[(T - 1) * F + best] > 0, 'a feature is active at the last position');
    for (const mode of ['set', 'ablate'] as const) {
      const positions = mode === 'set' ? [T - 1] : Array.from({ length: T - 1 }, (_, p) => p + 1).filter((p) => acts[p * F + best] !== 0);
      const delta = new Float32Array(L * T * d);
      for (const p of positions) {
        const now = acts[p * F + best];
        const next = mode === 'set' ? 3 * now : 0;
        for (let j = 0; j < (dictionary.kind === 'clt' ? L : 1); j++) {
          const row = dictionary.decoderRows(0, [best], j);
          for (let i = 0; i < d; i++) delta[(j * T + p) * d + i] += (next - now) * row[i];
        }
      }
      const want = forwardRef(modelDir, ids, delta).get('logits')!.data.subarray((T - 1) * V, T * V);
      const res = await interveneWith(engine, ids, [{ layer: 0, feature: best, mode, value: mode === 'set' ? 3 * acts[(T - 1) * F + best] : undefined, positions: mode === 'set' ? [T - 1] : undefined }], { attention: 'recomputed', zeroBos: true });
      assert.equal(res.applied.length, positions.length, `${mode}: positions acted on`);
      const err = relMaxErr(res.logits, want);
      assert.ok(err < 1e-4, `${mode}: intervened logits differ from the reference by ${err}`);
      const base = ref0.get('logits')!.data.subarray((T - 1) * V, T * V);
      assert.ok(relMaxErr(base, want) > 1e-3, `${mode}: the intervention changes the logits`);
    }
  });
}

for (const f of FIXTURES) {
  test(`frozen-attention forward reproduces the model and agrees where attention cannot matter: ${f.model}/${f.transcoders}`, async () => {
    const { bundle, engine } = await loadFixture(f);
    const spec = bundle.spec;
    const L = spec.nLayers, d = spec.dModel, V = spec.vocabSize;
    const tokens = bundle.tokenizer.encode(f.prompt);
    const T = tokens.length;
    const cache = await engine.forward.runTokens(tokens);
    const frozen = freezeForward(spec, cache, engine.replacement.inputHook);
    const runner = await FrozenAttentionRunner.create(bundle, engine.replacement, 'intervention', { cacheDir: CACHE_DIR, threads: 1, provider: 'cpu' });
    const out = await runner.run(frozen, new Float32Array(L * T * d));
    assert.ok(relMaxErr(out.logits, frozen.logits) < 1e-5, 'no intervention: the logits of the forward pass');
    for (let l = 0; l < L; l++) assert.ok(relMaxErr(out.tcIn[l], cache.hooks.get(engine.replacement.inputHook === 'resid_mid' ? hooks.residMid(l) : hooks.mlpIn(l))!.data) < 1e-5, `layer ${l} input`);

    // Strongest last-layer feature at the last position, scaled: frozen = recomputed attention.
    const last = await interveneWith(engine, tokens.map((t) => t.id), [{ layer: L - 1, feature: strongest(engine, frozen.inputs[L - 1], T, L - 1), positions: [T - 1], mode: 'scale', value: 4 }], { attention: 'frozen' });
    const lastFree = await interveneWith(engine, tokens.map((t) => t.id), [{ layer: L - 1, feature: last.applied[0].feature, positions: [T - 1], mode: 'scale', value: 4 }], { attention: 'recomputed' });
    assert.ok(relMaxErr(last.logits, frozen.logits.subarray((T - 1) * V)) > 1e-4, 'the last-layer intervention changes the logits');
    assert.ok(relMaxErr(last.logits, lastFree.logits) < 1e-5, 'attention frozen or not: the same logits after a last-layer, last-position intervention');
    // A layer-0 intervention at an early position reaches later positions through attention.
    const p = 1;
    const early = { layer: 0, feature: strongest(engine, frozen.inputs[0], T, 0, p), positions: [p], mode: 'scale' as const, value: 6 };
    const a = await interveneWith(engine, tokens.map((t) => t.id), [early], { attention: 'frozen' });
    const b = await interveneWith(engine, tokens.map((t) => t.id), [early], { attention: 'recomputed' });
    assert.ok(relMaxErr(a.logits, b.logits) > 1e-6, 'frozen and recomputed attention differ after an early intervention');
  });
}

/** The feature of `layer` with the largest activation at `pos` (default: the last position). */
function strongest(engine: Awaited<ReturnType<typeof loadFixture>>['engine'], x: Float32Array, T: number, layer: number, pos = T - 1): number {
  const t = engine.replacement.layers[layer];
  const d = t.wEnc.cols;
  let best = 0, bestAct = -Infinity;
  for (let f = 0; f < t.wEnc.rows; f++) {
    let pre = t.bEnc[f];
    for (let i = 0; i < d; i++) pre += x[pos * d + i] * t.wEnc.data[f * d + i];
    const act = engine.replacement.activation === 'relu' ? Math.max(0, pre) : pre > t.threshold![f] ? pre : 0;
    if (act > bestAct) {
      bestAct = act;
      best = f;
    }
  }
  return best;
}
