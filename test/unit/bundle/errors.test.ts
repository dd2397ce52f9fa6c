/**
 * Bad model folders get a typed EngineError whose message names the file or tensor at fault, and
 * nothing crashes. Each case starts from a copy of a valid fixture (llama-tiny, or the sharded
 * llama-tiny-tied) and breaks one thing: the file system, config.json, the safetensors bytes (byte
 * surgery on the header or the data), the tensor set, or the tokenizer.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { encodePrompt, loadModelBundle } from '../../../src/engine/bundle/index';
import { SafetensorsFile, writeSafetensors, type TensorToWrite } from '../../../src/engine/bundle/safetensors';
import { isEngineError, type EngineErrorCode } from '../../../src/engine/errors';

const FIXTURES = resolve(__dirname, '..', '..', 'fixtures', 'models');

function copyFixture(name = 'llama-tiny'): string {
  const dir = join(mkdtempSync(join(tmpdir(), 'ci-bundle-')), name);
  cpSync(join(FIXTURES, name), dir, { recursive: true });
  return dir;
}

async function expectError(p: Promise<unknown> | (() => unknown), code: EngineErrorCode, ...mentions: string[]): Promise<void> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    assert.ok(isEngineError(e), `expected an EngineError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    for (const m of mentions) assert.ok(e.message.includes(m), `message ${JSON.stringify(e.message)} should mention ${JSON.stringify(m)}`);
    return;
  }
  assert.fail(`expected ${code}`);
}

function readAll(path: string): Record<string, TensorToWrite> {
  const f = SafetensorsFile.open(path);
  const out: Record<string, TensorToWrite> = {};
  for (const [name, info] of f.tensors) out[name] = { dtype: 'F32', shape: info.shape, data: f.readF32(name) };
  return out;
}

function setConfig(dir: string, patch: Record<string, unknown>): void {
  const p = join(dir, 'config.json');
  const cfg = JSON.parse(readFileSync(p, 'utf8'));
  for (const [k, v] of Object.entries(patch)) {
    if (v === undefined) delete cfg[k];
    else cfg[k] = v;
  }
  writeFileSync(p, JSON.stringify(cfg));
}

/** A safetensors file from a raw header object and data bytes, for headers writeSafetensors would not write. */
function rawSafetensors(path: string, header: Record<string, unknown>, data: Uint8Array, claimedLen?: number): void {
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(claimedLen ?? json.length));
  writeFileSync(path, Buffer.concat([len, json, data]));
}

test('a valid copy loads (the baseline every other case breaks)', async () => {
  const b = await loadModelBundle(copyFixture());
  assert.equal(b.spec.family, 'llama');
  assert.equal(b.spec.nLayers, 3);
  assert.ok(b.weightBytes > 0);
  assert.match(b.weightsHash, /^[0-9a-f]{32}$/);
});

test('missing folder → MODEL_NOT_FOUND naming it', async () => {
  const dir = join(tmpdir(), 'ci-no-such-model-folder');
  await expectError(loadModelBundle(dir), 'MODEL_NOT_FOUND', dir);
});

test('folder without weights → MODEL_NOT_FOUND saying what is expected', async () => {
  const dir = copyFixture();
  rmSync(join(dir, 'model.safetensors'));
  await expectError(loadModelBundle(dir), 'MODEL_NOT_FOUND', 'model.safetensors');
});

test('missing config.json → CONFIG_INVALID', async () => {
  const dir = copyFixture();
  rmSync(join(dir, 'config.json'));
  await expectError(loadModelBundle(dir), 'CONFIG_INVALID', 'config.json');
});

test('config.json that is not JSON → CONFIG_INVALID naming the file', async () => {
  const dir = copyFixture();
  writeFileSync(join(dir, 'config.json'), '{"model_type": "llama",');
  await expectError(loadModelBundle(dir), 'CONFIG_INVALID', join(dir, 'config.json'));
});

test('config.json missing a required field → CONFIG_INVALID naming the field', async () => {
  const dir = copyFixture();
  setConfig(dir, { hidden_size: undefined });
  await expectError(loadModelBundle(dir), 'CONFIG_INVALID', 'hidden_size');
});

test('unknown model_type → UNSUPPORTED_ARCHITECTURE naming it and the supported ones', async () => {
  const dir = copyFixture();
  setConfig(dir, { model_type: 'mamba', architectures: ['MambaForCausalLM'] });
  await expectError(loadModelBundle(dir), 'UNSUPPORTED_ARCHITECTURE', 'mamba', 'llama', 'gpt2');
});

test('unsupported rope scaling → UNSUPPORTED_ARCHITECTURE naming it', async () => {
  const dir = copyFixture();
  setConfig(dir, { rope_scaling: { rope_type: 'yarn', factor: 4 } });
  await expectError(loadModelBundle(dir), 'UNSUPPORTED_ARCHITECTURE', 'yarn');
});

test('truncated safetensors → SAFETENSORS_INVALID naming the file', async () => {
  const dir = copyFixture();
  const p = join(dir, 'model.safetensors');
  truncateSync(p, Math.floor(readFileSync(p).length * 0.7));
  await expectError(loadModelBundle(dir), 'SAFETENSORS_INVALID', p, 'truncated');
});

test('file shorter than the 8-byte length → SAFETENSORS_INVALID', async () => {
  const dir = copyFixture();
  const p = join(dir, 'model.safetensors');
  writeFileSync(p, Buffer.from([1, 2, 3]));
  await expectError(loadModelBundle(dir), 'SAFETENSORS_INVALID', p);
});

test('header length that lies (longer than the file) → SAFETENSORS_INVALID', async () => {
  const dir = copyFixture();
  const p = join(dir, 'model.safetensors');
  const buf = readFileSync(p);
  buf.writeBigUInt64LE(BigInt(buf.length + 100), 0);
  writeFileSync(p, buf);
  await expectError(loadModelBundle(dir), 'SAFETENSORS_INVALID', p, 'header claims');
});

test('header whose offsets lie (span disagrees with shape, or past the data) → SAFETENSORS_INVALID naming the tensor', async () => {
  const dir = copyFixture();
  const p = join(dir, 'model.safetensors');
  rawSafetensors(p, { 'model.norm.weight': { dtype: 'F32', shape: [48], data_offsets: [0, 100] } }, new Uint8Array(192));
  await expectError(loadModelBundle(dir), 'SAFETENSORS_INVALID', 'model.norm.weight');
  rawSafetensors(p, { 'model.norm.weight': { dtype: 'F32', shape: [48], data_offsets: [96, 288] } }, new Uint8Array(192));
  await expectError(loadModelBundle(dir), 'SAFETENSORS_INVALID', 'model.norm.weight', 'truncated');
});

test('unknown dtype in the header → UNSUPPORTED_DTYPE naming the tensor and dtype', async () => {
  const dir = copyFixture();
  const p = join(dir, 'model.safetensors');
  rawSafetensors(p, { 'model.norm.weight': { dtype: 'F8_E4M3', shape: [48], data_offsets: [0, 48] } }, new Uint8Array(48));
  await expectError(loadModelBundle(dir), 'UNSUPPORTED_DTYPE', 'model.norm.weight', 'F8_E4M3');
});

test('an integer weight → UNSUPPORTED_DTYPE naming the tensor', async () => {
  const dir = copyFixture();
  const p = join(dir, 'model.safetensors');
  const t = readAll(p);
  t['model.norm.weight'] = { dtype: 'I32', shape: [48], data: new Int32Array(48) };
  writeSafetensors(p, t);
  await expectError(loadModelBundle(dir), 'UNSUPPORTED_DTYPE', 'model.norm.weight', 'I32');
});

test('missing tensor → TENSOR_MISSING naming it and its expected shape', async () => {
  const dir = copyFixture();
  const p = join(dir, 'model.safetensors');
  const t = readAll(p);
  delete t['model.layers.1.mlp.down_proj.weight'];
  writeSafetensors(p, t);
  await expectError(loadModelBundle(dir), 'TENSOR_MISSING', 'model.layers.1.mlp.down_proj.weight', '[48, 96]');
});

test('mis-shaped tensor → TENSOR_SHAPE naming the tensor, the file, the expected and the found shape', async () => {
  const dir = copyFixture();
  const p = join(dir, 'model.safetensors');
  const t = readAll(p);
  t['model.layers.2.self_attn.k_proj.weight'] = { dtype: 'F32', shape: [48, 48], data: new Float32Array(48 * 48) };
  writeSafetensors(p, t);
  await expectError(loadModelBundle(dir), 'TENSOR_SHAPE', 'model.layers.2.self_attn.k_proj.weight', p, '[48, 48]', '[24, 48]');
});

test('config disagreeing with the weights (GQA heads) → TENSOR_SHAPE', async () => {
  const dir = copyFixture();
  setConfig(dir, { num_key_value_heads: 4 });
  await expectError(loadModelBundle(dir), 'TENSOR_SHAPE', 'k_proj.weight', '[24, 48]', '[48, 48]');
});

test('sharded: a shard listed in the index but absent → MODEL_NOT_FOUND naming the shard', async () => {
  const dir = copyFixture('llama-tiny-tied');
  const index = JSON.parse(readFileSync(join(dir, 'model.safetensors.index.json'), 'utf8')) as { weight_map: Record<string, string> };
  const shard = Object.values(index.weight_map).sort().at(-1)!;
  rmSync(join(dir, shard));
  await expectError(loadModelBundle(dir), 'MODEL_NOT_FOUND', shard);
});

test('sharded: the index maps a tensor to a shard that lacks it → TENSOR_MISSING naming both', async () => {
  const dir = copyFixture('llama-tiny-tied');
  const ip = join(dir, 'model.safetensors.index.json');
  const index = JSON.parse(readFileSync(ip, 'utf8')) as { weight_map: Record<string, string> };
  index.weight_map['model.layers.9.mlp.up_proj.weight'] = Object.values(index.weight_map)[0];
  writeFileSync(ip, JSON.stringify(index));
  await expectError(loadModelBundle(dir), 'TENSOR_MISSING', 'model.layers.9.mlp.up_proj.weight', Object.values(index.weight_map)[0]);
});

test('missing tokenizer.json → TOKENIZER_MISSING naming the folder', async () => {
  const dir = copyFixture();
  rmSync(join(dir, 'tokenizer.json'));
  await expectError(loadModelBundle(dir), 'TOKENIZER_MISSING', 'tokenizer.json', dir);
});

test('tokenizer.json that is not JSON → TOKENIZER_INVALID', async () => {
  const dir = copyFixture();
  writeFileSync(join(dir, 'tokenizer.json'), 'not json');
  await expectError(loadModelBundle(dir), 'TOKENIZER_INVALID', 'tokenizer.json');
});

test('empty prompt → PROMPT_EMPTY; prompt longer than the context → PROMPT_TOO_LONG with both lengths', async () => {
  const b = await loadModelBundle(copyFixture());
  await expectError(() => encodePrompt(b, ''), 'PROMPT_EMPTY');
  await expectError(() => encodePrompt(b, '  \n '), 'PROMPT_EMPTY');
  const long = 'The capital of Texas is Austin. '.repeat(12);
  const n = b.tokenizer.encode(long).length;
  assert.ok(n > 64);
  await expectError(() => encodePrompt(b, long), 'PROMPT_TOO_LONG', String(n), '64');
  assert.ok(encodePrompt(b, 'The capital of Texas is').length > 1);
});

test('weightsHash: equal for identical copies, different when a weight or the config changes', async () => {
  const a = await loadModelBundle(copyFixture());
  const b = await loadModelBundle(copyFixture());
  assert.equal(a.weightsHash, b.weightsHash);
  const dir = copyFixture();
  const p = join(dir, 'model.safetensors');
  const t = readAll(p);
  (t['model.embed_tokens.weight'].data as Float32Array)[0] += 1;
  writeSafetensors(p, t);
  assert.notEqual((await loadModelBundle(dir)).weightsHash, a.weightsHash);
  const dir2 = copyFixture();
  setConfig(dir2, { rms_norm_eps: 1e-6 });
  assert.notEqual((await loadModelBundle(dir2)).weightsHash, a.weightsHash);
});
