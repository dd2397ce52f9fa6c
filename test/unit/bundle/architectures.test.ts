/**
 * The architecture mappings read what Hugging Face configs and checkpoints say, in the variants real
 * checkpoints come in: GPT-2 with or without the "transformer." prefix, tied embeddings as one object,
 * Llama [out, in] weights transposed, Gemma-2's sliding layers from layer_types or the even-layer
 * default, transformers-v5 rope_parameters, Qwen3's q/k norms.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadModelBundle } from '../../../src/engine/bundle/index';
import { SafetensorsFile, writeSafetensors, type TensorToWrite } from '../../../src/engine/bundle/safetensors';
import { ForwardRunner } from '../../../src/engine/forward';
import { rotaryInvFreq } from '../../../src/engine/onnx/forward-graph';

const FIXTURES = resolve(__dirname, '..', '..', 'fixtures', 'models');

function copyFixture(name: string): string {
  const dir = join(mkdtempSync(join(tmpdir(), 'ci-arch-')), name);
  cpSync(join(FIXTURES, name), dir, { recursive: true });
  return dir;
}

function patchConfig(dir: string, patch: Record<string, unknown>): void {
  const p = join(dir, 'config.json');
  const cfg = { ...JSON.parse(readFileSync(p, 'utf8')) };
  for (const [k, v] of Object.entries(patch)) {
    if (v === undefined) delete cfg[k];
    else cfg[k] = v;
  }
  writeFileSync(p, JSON.stringify(cfg));
}

test('GPT-2: "transformer."-prefixed tensor names load to the same spec and logits; c_attn splits into q, k, v', async () => {
  const plain = await loadModelBundle(join(FIXTURES, 'gpt2-tiny'));
  const dir = copyFixture('gpt2-tiny');
  const f = SafetensorsFile.open(join(dir, 'model.safetensors'));
  const t: Record<string, TensorToWrite> = {};
  for (const [name, info] of f.tensors) t[name.startsWith('transformer.') ? name : `transformer.${name}`] = { dtype: 'F32', shape: info.shape, data: f.readF32(name) };
  writeSafetensors(join(dir, 'model.safetensors'), t);
  const prefixed = await loadModelBundle(dir);
  assert.deepEqual(prefixed.spec.blocks[1].attn.wv.data, plain.spec.blocks[1].attn.wv.data);
  assert.equal(plain.spec.unembed, plain.spec.embed, 'GPT-2 ties its embeddings');

  // q/k/v are column blocks of c_attn: column d + 3 of row 2 is wk[2][3].
  const d = plain.spec.dModel;
  const cAttn = SafetensorsFile.open(join(FIXTURES, 'gpt2-tiny', 'model.safetensors'));
  const name = [...cAttn.tensors.keys()].find((n) => n.endsWith('h.0.attn.c_attn.weight'))!;
  const raw = cAttn.readF32(name);
  assert.equal(plain.spec.blocks[0].attn.wk.data[2 * d + 3], raw[2 * 3 * d + d + 3]);
  assert.equal(plain.spec.blocks[0].attn.wv.data[5 * d + 1], raw[5 * 3 * d + 2 * d + 1]);
});

test('Llama: Linear weights are transposed to [in, out]; tie_word_embeddings makes unembed the same object', async () => {
  const b = await loadModelBundle(join(FIXTURES, 'llama-tiny'));
  const f = SafetensorsFile.open(join(FIXTURES, 'llama-tiny', 'model.safetensors'));
  const q = f.readF32('model.layers.1.self_attn.q_proj.weight'); // [out = H*hd, in = d]
  const { wq } = b.spec.blocks[1].attn;
  assert.deepEqual([wq.rows, wq.cols], [48, 48]);
  assert.equal(wq.data[7 * wq.cols + 11], q[11 * 48 + 7]);
  assert.notEqual(b.spec.unembed, b.spec.embed);
  const tied = await loadModelBundle(join(FIXTURES, 'llama-tiny-tied'));
  assert.equal(tied.spec.unembed, tied.spec.embed);
  assert.equal(b.spec.blocks[0].attn.nKvHeads, 2);
  assert.equal(b.spec.blocks[0].attn.rotary?.scaling?.type, 'llama3');
});

test('Gemma-2: even layers slide by default; layer_types overrides; (1 + w) norms, post-norms, √d embedding scale, soft-caps', async () => {
  const b = await loadModelBundle(join(FIXTURES, 'gemma2-tiny'));
  const s = b.spec;
  assert.deepEqual(s.blocks.map((x) => x.attn.slidingWindow), [4, undefined, 4]);
  assert.ok(s.blocks.every((x) => x.ln1.plusOne && x.ln1Post && x.ln2Post));
  assert.equal(s.embedScale, Math.sqrt(s.dModel));
  assert.equal(s.finalSoftcap, 3);
  assert.equal(s.blocks[0].attn.softcap, 4);
  assert.equal(s.blocks[0].attn.scale, 1 / Math.sqrt(24), 'query_pre_attn_scalar, not head_dim');
  assert.equal(s.unembed, s.embed);

  const dir = copyFixture('gemma2-tiny');
  patchConfig(dir, { layer_types: ['full_attention', 'sliding_attention', 'full_attention'] });
  const b2 = await loadModelBundle(dir);
  assert.deepEqual(b2.spec.blocks.map((x) => x.attn.slidingWindow), [undefined, 4, undefined]);
});

test('Qwen3: per-head q/k RMSNorm of head_dim', async () => {
  const b = await loadModelBundle(join(FIXTURES, 'qwen3-tiny'));
  const a = b.spec.blocks[0].attn;
  assert.equal(a.qNorm?.weight.length, a.headDim);
  assert.equal(a.kNorm?.weight.length, a.headDim);
  assert.equal(b.spec.bosTokenId, undefined, 'Qwen adds no BOS');
});

test('transformers-v5 rope_parameters give the same rotary and logits as v4 rope_theta + rope_scaling', async () => {
  const v4 = await loadModelBundle(join(FIXTURES, 'llama-tiny'));
  const dir = copyFixture('llama-tiny');
  const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  patchConfig(dir, { rope_theta: undefined, rope_scaling: undefined, rope_parameters: { ...cfg.rope_scaling, rope_theta: cfg.rope_theta } });
  const v5 = await loadModelBundle(dir);
  assert.deepEqual(v5.spec.blocks[0].attn.rotary, v4.spec.blocks[0].attn.rotary);
  const cacheDir = mkdtempSync(join(tmpdir(), 'ci-arch-cache-'));
  const ids = v4.tokenizer.encode('The capital of Texas is').map((t) => t.id);
  const a = await (await ForwardRunner.create(v4, { provider: 'cpu', threads: 1, cacheDir })).run(ids);
  const b = await (await ForwardRunner.create(v5, { provider: 'cpu', threads: 1, cacheDir })).run(ids);
  assert.deepEqual(a.logits.data, b.logits.data);
});

test('Llama-3 rotary frequency scaling: high frequencies kept, low divided by factor, smooth band between', () => {
  const dim = 64, base = 500000;
  const plain = rotaryInvFreq(dim, base);
  const scaled = rotaryInvFreq(dim, base, { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 8192 });
  for (let i = 0; i < dim / 2; i++) {
    const wavelen = (2 * Math.PI) / plain[i];
    if (wavelen < 8192 / 4) assert.equal(scaled[i], plain[i]);
    else if (wavelen > 8192) assert.ok(Math.abs(scaled[i] - plain[i] / 8) <= 1e-7 * plain[i]);
    else assert.ok(scaled[i] < plain[i] && scaled[i] > plain[i] / 8, `band ${i}`);
  }
  assert.equal(plain[0], 1);
  assert.ok(Math.abs(plain[1] - 1 / Math.pow(base, 2 / dim)) < 1e-7);
});
