import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EngineError } from '../../../src/engine/errors';
import { writeSafetensors } from '../../../src/engine/bundle/safetensors';
import { loadDictionary, loadDictionarySync, parseNpy, type Dictionary } from '../../../src/engine/dictionaries';
import { CltDictionary } from '../../../src/engine/dictionaries/clt';

const FIX = join(__dirname, '../../fixtures/dictionaries');
interface Case { layer: number; x: number[][]; acts: number[][]; recon: number[][] }
const EXPECTED = JSON.parse(readFileSync(join(FIX, 'expected.json'), 'utf8')) as Record<string, Case[]>;

const flat = (m: number[][]) => Float32Array.from(m.flat());

function close(actual: Float32Array, expected: number[][], what: string, tol = 1e-5): void {
  const e = expected.flat();
  assert.equal(actual.length, e.length, `${what}: length`);
  for (let i = 0; i < e.length; i++) {
    assert.ok(Math.abs(actual[i] - e[i]) <= tol * (1 + Math.abs(e[i])), `${what}[${i}]: ${actual[i]} vs numpy ${e[i]}`);
  }
}

function code(c: string, re?: RegExp) {
  return (e: unknown) => e instanceof EngineError && e.code === c && (!re || re.test(e.message + ' ' + (e.hint ?? '')));
}

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'ci-dict-'));
}

const KINDS: Record<string, [Dictionary['kind'], Dictionary['format'], string, string]> = {
  plt: ['transcoders', 'circuit-tracer', 'blocks.1.ln2.hook_normalized', 'blocks.1.hook_mlp_out'],
  'plt-topk': ['transcoders', 'circuit-tracer', 'blocks.1.ln2.hook_normalized', 'blocks.1.hook_mlp_out'],
  clt: ['clt', 'circuit-tracer-clt', 'blocks.1.hook_resid_mid', 'blocks.1.hook_mlp_out'],
  'gemma-scope': ['transcoders', 'gemma-scope', 'blocks.1.ln2.hook_normalized', 'blocks.1.hook_mlp_out'],
  saelens: ['sae', 'saelens', 'blocks.1.hook_resid_post', 'blocks.1.hook_resid_post'],
  'saelens-topk': ['sae', 'saelens', 'blocks.1.hook_resid_post', 'blocks.1.hook_resid_post'],
};

test('every format encodes and decodes as numpy computes from the same files', async () => {
  for (const [name, cases] of Object.entries(EXPECTED)) {
    const d = await loadDictionary(join(FIX, name), { dModel: 6, nLayers: 3, name: 'fixture-model' });
    const [kind, format, inHook, outHook] = KINDS[name];
    assert.equal(d.kind, kind, name);
    assert.equal(d.format, format, name);
    assert.equal(d.dModel, 6);
    assert.deepEqual(d.layers, cases.map((c) => c.layer), name);
    assert.equal(d.inputHook(1), inHook, name);
    assert.equal(d.outputHook(1), outHook, name);
    const acts = new Map<number, Float32Array>();
    for (const c of cases) {
      assert.ok(c.acts.flat().some((v) => v !== 0) && c.acts.flat().some((v) => v === 0), `${name}: the fixture has active and inactive features`);
      const a = d.encode(c.layer, flat(c.x), c.x.length);
      close(a, c.acts, `${name} layer ${c.layer} activations`);
      acts.set(c.layer, a);
      assert.equal(d.nFeatures(c.layer), 10);
    }
    for (const c of cases) close(d.decode(c.layer, c.x.length, acts, flat(c.x)), c.recon, `${name} layer ${c.layer} reconstruction`);
  }
});

test('W_enc / W_dec stored either way round give the same features', async () => {
  const a = await loadDictionary(join(FIX, 'plt'));
  const b = await loadDictionary(join(FIX, 'plt-transposed'));
  for (const l of [0, 1, 2]) {
    assert.deepEqual(b.encoder(l), a.encoder(l));
    assert.deepEqual(b.decoder(l), a.decoder(l));
    assert.deepEqual(b.decoderRows(l, [7, 2]), a.decoderRows(l, [7, 2]));
    const x = flat(EXPECTED.plt[l].x);
    assert.deepEqual(b.encode(l, x, 5), a.encode(l, x, 5));
  }
  // No config.yaml: the hooks default to the MLP's input and output, the name to the folder.
  assert.equal(b.inputHook(2), 'blocks.2.ln2.hook_normalized');
  assert.equal(b.name, 'plt-transposed');
  assert.equal(a.name, 'fixture-plt');
  assert.equal(a.modelName, 'fixture-model');
});

test('layouts: encoderT is the transpose, decoder rows match the decoder, skip is x @ W', async () => {
  const d = await loadDictionary(join(FIX, 'plt'));
  const E = d.encoder(1);
  const ET = d.encoderT(1);
  assert.deepEqual([E.rows, E.cols, ET.rows, ET.cols], [10, 6, 6, 10]);
  for (let f = 0; f < 10; f++) for (let k = 0; k < 6; k++) assert.equal(ET.data[k * 10 + f], E.data[f * 6 + k]);
  const fresh = loadDictionarySync(join(FIX, 'plt'));
  const rows = fresh.decoderRows(2, [9, 0, 4]); // read by byte range, before the decoder is loaded
  const D = d.decoder(2);
  assert.deepEqual(rows, Float32Array.from([...D.data.subarray(54, 60), ...D.data.subarray(0, 6), ...D.data.subarray(24, 30)]));
  // The skip term: decode with zero activations is b_dec + x @ wSkip.
  const x = flat(EXPECTED.plt[0].x);
  const S = d.wSkip(0)!;
  const rec = d.decode(0, 5, new Map([[0, new Float32Array(50)]]), x);
  const b = d.bDec(0);
  for (let t = 0; t < 5; t++) for (let k = 0; k < 6; k++) {
    let s = b[k];
    for (let i = 0; i < 6; i++) s += x[t * 6 + i] * S.data[i * 6 + k];
    assert.ok(Math.abs(rec[t * 6 + k] - s) < 1e-5);
  }
  assert.equal(d.activation.kind, 'jumprelu');
  assert.equal(d.threshold(0)?.length, 10);
  assert.equal((await loadDictionary(join(FIX, 'plt-topk'))).threshold(0), undefined);
});

test('CLT decoders are read lazily, and a row slice is the target layer\'s vector', async () => {
  const d = await loadDictionary(join(FIX, 'clt'));
  assert.ok(d instanceof CltDictionary);
  d.encode(0, flat(EXPECTED.clt[0].x), 5);
  assert.ok(![0, 1, 2].some((l) => d.decoderCached(l)), 'loading and encoding read no decoder');
  const rows = d.decoderRows(0, [3, 8], 2);
  assert.ok(!d.decoderCached(0), 'a row slice does not load the whole decoder');
  const D = d.decoder(0); // [F, 3·d]: target layer 2 is columns 12…17
  assert.deepEqual([D.rows, D.cols], [10, 18]);
  assert.deepEqual(rows, Float32Array.from([...D.data.subarray(3 * 18 + 12, 3 * 18 + 18), ...D.data.subarray(8 * 18 + 12, 8 * 18 + 18)]));
  assert.deepEqual(d.decoderRows(0, [3, 8], 2), rows, 'the cached path agrees with the byte-range path');
  assert.equal(d.decoder(2).cols, 6);
  assert.throws(() => d.decoderRows(1, [0], 0), code('INTERNAL', /write into layers 1…2, not 0/));
  d.release();
  assert.ok(!d.decoderCached(0));
});

test('feature labels are read lazily from features/layer_{i}.json', async () => {
  const d = await loadDictionary(join(FIX, 'plt'));
  assert.ok(d.hasFeatureInfo);
  const f = d.featureInfo(1, 3)!;
  assert.equal(f.label, 'feature 1/3 <b>bold</b>');
  assert.deepEqual(f.examples, [{ tokens: ['a', 'b'], values: [0.5, 3] }]);
  assert.deepEqual([f.posStr, f.posValues, f.negStr, f.negValues, f.fracNonzero], [['x'], [1.5], ['y'], [-1], 0.25]);
  assert.equal(d.featureInfo(1, 99), undefined);
  const clt = await loadDictionary(join(FIX, 'clt'));
  assert.equal(clt.hasFeatureInfo, false);
  assert.equal(clt.featureInfo(0, 0), undefined);
});

test('mismatches with the model name both sides', async () => {
  await assert.rejects(loadDictionary(join(FIX, 'plt'), { dModel: 2304, nLayers: 3, name: 'google/gemma-2-2b' }),
    code('DICTIONARY_MISMATCH', /transcoder fixture-plt \(trained on fixture-model\) layer 0 has d_model 6 but the model google\/gemma-2-2b has 2304/));
  await assert.rejects(loadDictionary(join(FIX, 'clt'), { dModel: 6, nLayers: 26, name: 'm' }),
    code('DICTIONARY_MISMATCH', /covers 3 layers but the model m has 26/));
  await assert.rejects(loadDictionary(join(FIX, 'plt'), { dModel: 6, nLayers: 2 }),
    code('DICTIONARY_MISMATCH', /covers layers 0–2 but the model has only 2 layers/));
  await assert.rejects(loadDictionary(join(FIX, 'saelens'), { dModel: 6, nLayers: 1 }),
    code('DICTIONARY_MISMATCH', /SAE .* covers layer 1 but the model has only 1 layers/));
  // An SAE needs only its own layer to exist.
  await loadDictionary(join(FIX, 'saelens'), { dModel: 6, nLayers: 12 });
  // A layer whose d_model differs from layer 0's.
  const dir = tmp();
  cpSync(join(FIX, 'plt-transposed'), dir, { recursive: true });
  writeSafetensors(join(dir, 'layer_1.safetensors'), {
    W_enc: { dtype: 'F32', shape: [10, 5], data: new Float32Array(50) }, W_dec: { dtype: 'F32', shape: [10, 5], data: new Float32Array(50) },
    b_enc: { dtype: 'F32', shape: [10], data: new Float32Array(10) }, b_dec: { dtype: 'F32', shape: [5], data: new Float32Array(5) },
    'activation_function.threshold': { dtype: 'F32', shape: [10], data: new Float32Array(10) },
  });
  await assert.rejects(loadDictionary(dir), code('DICTIONARY_MISMATCH', /layer_1\.safetensors \(layer 1\) has d_model 5 but the dictionary's other layers have 6/));
});

function configWithPath(p: string): string {
  return `model_kind: transcoder_set\nfeature_input_hook: ln2.hook_normalized\nfeature_output_hook: hook_mlp_out\ntranscoders:\n  - ${JSON.stringify(p)}\n`;
}

test('config paths stay inside the dictionary folder', async () => {
  const outside = tmp();
  copyFileSync(join(FIX, 'plt', 'layer_0.safetensors'), join(outside, 'secret.safetensors'));
  const cases: [string, RegExp][] = [
    ['../secret.safetensors', /leaves the dictionary folder/],
    [join(outside, 'secret.safetensors'), /absolute path/],
    ['hf://mwhanna/gemma-scope-transcoders/layer_0.npz', /Hugging Face URI.*does not download[\s\S]*Download it/],
    ['file:///etc/passwd', /a URL/],
    ['sub/../../secret.safetensors', /leaves the dictionary folder/],
    ['link.safetensors', /is a link to .*outside the dictionary folder/],
    ['missing.safetensors', /does not exist/],
  ];
  for (const [p, re] of cases) {
    const dir = join(outside, `d${cases.findIndex((c) => c[0] === p)}`);
    mkdirSync(dir);
    symlinkSync(join(outside, 'secret.safetensors'), join(dir, 'link.safetensors'));
    writeFileSync(join(dir, 'config.yaml'), configWithPath(p));
    await assert.rejects(loadDictionary(dir), code('DICTIONARY_INVALID', re), p);
  }
  // A link that stays inside the folder is fine.
  const ok = join(outside, 'ok');
  mkdirSync(join(ok, 'real'), { recursive: true });
  copyFileSync(join(FIX, 'plt', 'layer_0.safetensors'), join(ok, 'real', 'l0.safetensors'));
  symlinkSync(join(ok, 'real', 'l0.safetensors'), join(ok, 'l0.safetensors'));
  writeFileSync(join(ok, 'config.yaml'), configWithPath('l0.safetensors'));
  assert.equal((await loadDictionary(ok)).nLayers, 1);
});

test('corrupt and malformed files are DICTIONARY_INVALID naming the file', async () => {
  const dir = tmp();
  cpSync(join(FIX, 'plt'), dir, { recursive: true });
  truncateSync(join(dir, 'layer_1.safetensors'), 300);
  await assert.rejects(loadDictionary(dir), code('DICTIONARY_INVALID', /layer_1\.safetensors.*truncated/));

  const gs = tmp();
  cpSync(join(FIX, 'gemma-scope'), gs, { recursive: true });
  writeFileSync(join(gs, 'layer_2/width_10/average_l0_3/params.npz'), 'PK\u0003\u0004 this is not a zip');
  const d = await loadDictionary(gs); // .npz layers past the first are checked when first read
  assert.throws(() => d.encode(2, new Float32Array(6), 1), code('DICTIONARY_INVALID', /layer_2\/width_10\/average_l0_3\/params\.npz is not a valid \.npz/));

  const sq = tmp();
  writeSafetensors(join(sq, 'layer_0.safetensors'), {
    W_enc: { dtype: 'F32', shape: [6, 6], data: new Float32Array(36) }, W_dec: { dtype: 'F32', shape: [6, 6], data: new Float32Array(36) },
    b_enc: { dtype: 'F32', shape: [6], data: new Float32Array(6) }, b_dec: { dtype: 'F32', shape: [6], data: new Float32Array(6) },
  });
  await assert.rejects(loadDictionary(sq), code('DICTIONARY_INVALID', /W_enc is square .*weight_layout: features_first/));
  writeFileSync(join(sq, 'config.yaml'), 'model_kind: transcoder_set\nweight_layout: features_first\n');
  assert.equal((await loadDictionary(sq)).activation.kind, 'relu', 'no thresholds and no config activation: ReLU');

  const wrong = tmp();
  writeSafetensors(join(wrong, 'layer_0.safetensors'), {
    W_enc: { dtype: 'F32', shape: [10, 7], data: new Float32Array(70) }, W_dec: { dtype: 'F32', shape: [10, 6], data: new Float32Array(60) },
    b_enc: { dtype: 'F32', shape: [10], data: new Float32Array(10) }, b_dec: { dtype: 'F32', shape: [6], data: new Float32Array(6) },
  });
  await assert.rejects(loadDictionary(wrong), code('DICTIONARY_INVALID', /layer_0\.safetensors: W_enc has shape \[10, 7\], which is neither \[10, 6\] nor \[6, 10\]/));

  const gap = tmp();
  copyFileSync(join(FIX, 'plt', 'layer_0.safetensors'), join(gap, 'layer_0.safetensors'));
  copyFileSync(join(FIX, 'plt', 'layer_2.safetensors'), join(gap, 'layer_2.safetensors'));
  await assert.rejects(loadDictionary(gap), code('DICTIONARY_INVALID', /not for layer 1/));

  const yamlBad = tmp();
  writeFileSync(join(yamlBad, 'config.yaml'), 'model_kind: [unclosed');
  await assert.rejects(loadDictionary(yamlBad), code('DICTIONARY_INVALID', /config\.yaml .* is not valid YAML/));

  const hook = tmp();
  cpSync(join(FIX, 'plt'), hook, { recursive: true });
  writeFileSync(join(hook, 'config.yaml'), readFileSync(join(FIX, 'plt', 'config.yaml'), 'utf8').replace('hook_mlp_out', 'attn.hook_z'));
  await assert.rejects(loadDictionary(hook), code('DICTIONARY_INVALID', /feature_output_hook is "attn\.hook_z", a hook Circuit Inspector does not provide/));

  await assert.rejects(loadDictionary(tmp()), code('DICTIONARY_INVALID', /holds no dictionary/));
  await assert.rejects(loadDictionary(join(tmp(), 'nope')), code('DICTIONARY_INVALID', /does not exist/));

  const two = tmp();
  cpSync(join(FIX, 'gemma-scope'), two, { recursive: true });
  cpSync(join(two, 'layer_1/width_10'), join(two, 'layer_1/width_20'), { recursive: true });
  await assert.rejects(loadDictionary(two), code('DICTIONARY_INVALID', /layer_1 holds 2 Gemma Scope variants[\s\S]*config\.yaml/));

  const gated = tmp();
  cpSync(join(FIX, 'saelens'), gated, { recursive: true });
  const cfg = JSON.parse(readFileSync(join(gated, 'cfg.json'), 'utf8'));
  writeFileSync(join(gated, 'cfg.json'), JSON.stringify({ ...cfg, architecture: 'gated' }));
  await assert.rejects(loadDictionary(gated), code('DICTIONARY_INVALID', /architecture "gated" is not supported/));
  writeFileSync(join(gated, 'cfg.json'), JSON.stringify({ ...cfg, normalize_activations: 'expected_average_only_in' }));
  await assert.rejects(loadDictionary(gated), code('DICTIONARY_INVALID', /normalize_activations/));
});

test('the .npy parser reads numpy files and refuses what it cannot read exactly', () => {
  const npy = (n: string) => readFileSync(join(FIX, 'npy', n));
  const good = parseNpy(npy('good.npy'), 'good.npy');
  assert.deepEqual(good.shape, [2, 3]);
  assert.deepEqual(good.data, Float32Array.from([0, 1, 2, 3, 4, 5]));
  assert.deepEqual(parseNpy(npy('v2.npy'), 'v2.npy').data, good.data);
  const scalar = parseNpy(npy('scalar.npy'), 'scalar.npy');
  assert.deepEqual([scalar.shape, [...scalar.data]], [[], [2.5]]);
  assert.throws(() => parseNpy(npy('fortran.npy'), 'fortran.npy'), code('DICTIONARY_INVALID', /fortran\.npy .*Fortran order/));
  assert.throws(() => parseNpy(npy('int32.npy'), 'int32.npy'), code('UNSUPPORTED_DTYPE', /int32\.npy has dtype <i4/));
  assert.throws(() => parseNpy(npy('bigendian.npy'), 'bigendian.npy'), code('UNSUPPORTED_DTYPE', />f4/));
  const g = npy('good.npy');
  assert.throws(() => parseNpy(g.subarray(0, g.length - 4), 't.npy'), code('DICTIONARY_INVALID', /needs 24 bytes of data but it has 20/));
  assert.throws(() => parseNpy(Buffer.from('not numpy at all'), 'x.npy'), code('DICTIONARY_INVALID', /magic/));
  const evil = Buffer.from(g);
  evil.write("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'x': 1}", 10, 'latin1');
  assert.throws(() => parseNpy(evil, 'e.npy'), code('DICTIONARY_INVALID', /e\.npy/));
});

test('a config.yaml may list Gemma Scope params.npz files, and reads Gemma Scope 2 safetensors', async () => {
  const dir = tmp();
  cpSync(join(FIX, 'gemma-scope'), dir, { recursive: true });
  writeFileSync(join(dir, 'config.yaml'), [
    'model_name: google/gemma-2-2b', 'model_kind: transcoder_set', 'scan: gemmascope-fixture',
    'feature_input_hook: ln2.hook_normalized', 'feature_output_hook: hook_mlp_out', 'transcoders:',
    ...[0, 1, 2].map((l) => `  - layer_${l}/width_10/average_l0_3/params.npz`), '',
  ].join('\n'));
  const d = await loadDictionary(dir);
  assert.equal(d.name, 'gemmascope-fixture');
  assert.equal(d.activation.kind, 'jumprelu');
  for (const c of EXPECTED['gemma-scope']) close(d.encode(c.layer, flat(c.x), 5), c.acts, `listed npz layer ${c.layer}`);

  // Gemma Scope 2 names its tensors in lower case, stores w_enc [d, F] and an affine skip applied as
  // x @ affine. The same weights in circuit-tracer's layout (W_enc = w_encᵀ, W_skip = affineᵀ, applied
  // as x @ W_skipᵀ) must give the same dictionary.
  const ref = await loadDictionary(join(FIX, 'plt'));
  const gs2 = tmp();
  const ct = tmp();
  const t = (shape: number[], data: Float32Array) => ({ dtype: 'F32' as const, shape, data });
  const affine = Float32Array.from({ length: 36 }, (_, i) => Math.sin(i) * 0.1);
  const affineT = Float32Array.from({ length: 36 }, (_, i) => affine[(i % 6) * 6 + Math.floor(i / 6)]);
  writeSafetensors(join(gs2, 'layer_0.safetensors'), {
    w_enc: t([6, 10], ref.encoderT(0).data), w_dec: t([10, 6], ref.decoder(0).data), b_enc: t([10], ref.bEnc(0)),
    b_dec: t([6], ref.bDec(0)), threshold: t([10], ref.threshold(0)!), affine_skip_connection: t([6, 6], affine),
  });
  writeSafetensors(join(ct, 'layer_0.safetensors'), {
    W_enc: t([10, 6], ref.encoder(0).data), W_dec: t([10, 6], ref.decoder(0).data), b_enc: t([10], ref.bEnc(0)),
    b_dec: t([6], ref.bDec(0)), 'activation_function.threshold': t([10], ref.threshold(0)!), W_skip: t([6, 6], affineT),
  });
  const a = await loadDictionary(gs2);
  const b = await loadDictionary(ct);
  assert.deepEqual(a.encoder(0), b.encoder(0));
  assert.deepEqual(a.wSkip(0), b.wSkip(0));
  assert.deepEqual(a.wSkip(0)!.data, affine);
  const x = flat(EXPECTED.plt[0].x);
  assert.deepEqual(a.decode(0, 5, new Map([[0, a.encode(0, x, 5)]]), x), b.decode(0, 5, new Map([[0, b.encode(0, x, 5)]]), x));
});
