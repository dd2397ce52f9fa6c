/**
 * Lazily read weights (bundle/lazy-mat.ts): the ModelSpec's matrices are read from safetensors on first
 * touch, widened and transposed exactly as an independent decode of the file bytes says; a released
 * matrix re-reads the same values; forward graphs over lazy weights are byte-identical to graphs over
 * eager copies of them (so forward outputs are bit-identical); building the graph leaves no matrix in
 * memory, and a graph-cache hit reads no weight at all.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadModelBundle } from '../../../src/engine/bundle/index';
import { isLazyMat, LazyMat, matsOf, releaseWeights } from '../../../src/engine/bundle/lazy-mat';
import { SafetensorsFile, writeSafetensors, type TensorToWrite } from '../../../src/engine/bundle/safetensors';
import { ForwardRunner, logitLens } from '../../../src/engine/forward';
import type { Mat, ModelSpec } from '../../../src/engine/model-spec';
import { buildForwardGraph } from '../../../src/engine/onnx/forward-graph';
import type { ModelBundle } from '../../../src/engine/api';

const FIXTURES = resolve(__dirname, '..', '..', 'fixtures', 'models');
const MODELS = ['llama-tiny', 'llama-tiny-f16', 'llama-tiny-tied', 'gpt2-tiny', 'gemma2-tiny', 'qwen3-tiny'];

/** The spec with every matrix replaced by a plain, eagerly held copy (tied matrices stay one object). */
function eagerCopy(spec: ModelSpec): ModelSpec {
  const copies = new Map<Mat, Mat>();
  const c = (m: Mat): Mat => {
    let e = copies.get(m);
    if (!e) copies.set(m, (e = { data: m.data.slice(), rows: m.rows, cols: m.cols }));
    return e;
  };
  const opt = (m: Mat | undefined) => (m ? c(m) : undefined);
  return {
    ...spec,
    embed: c(spec.embed),
    unembed: c(spec.unembed),
    ...(spec.posEmbed ? { posEmbed: c(spec.posEmbed) } : {}),
    blocks: spec.blocks.map((b) => ({
      ...b,
      attn: { ...b.attn, wq: c(b.attn.wq), wk: c(b.attn.wk), wv: c(b.attn.wv), wo: c(b.attn.wo) },
      mlp: { ...b.mlp, wIn: c(b.mlp.wIn), wOut: c(b.mlp.wOut), ...(b.mlp.wGate ? { wGate: opt(b.mlp.wGate) } : {}) },
    })),
  };
}

function lazyMats(spec: ModelSpec): LazyMat[] {
  const all = matsOf(spec);
  assert.ok(all.length > 0 && all.every(isLazyMat), 'every matrix of a loaded spec is read lazily');
  return all as LazyMat[];
}

/** IEEE half → float, written out here independently of the engine's table. */
function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * Math.pow(2, -24);
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * Math.pow(2, e - 15);
}

test('f16 weights widen exactly and Linear weights are transposed on first read', async () => {
  const dir = join(FIXTURES, 'llama-tiny-f16');
  const b = await loadModelBundle(dir);
  const f = SafetensorsFile.open(join(dir, 'model.safetensors'));
  const raw = f.readBytes('model.layers.1.mlp.down_proj.weight'); // [out = d, in = dMlp], f16
  const half = new Uint16Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
  const w = b.spec.blocks[1].mlp.wOut as LazyMat;
  assert.equal(w.loaded, false, 'nothing is read at load');
  const [dMlp, d] = [w.rows, w.cols];
  for (let i = 0; i < dMlp; i++) for (let o = 0; o < d; o++) assert.equal(w.data[i * d + o], halfToFloat(half[o * dMlp + i]));
});

test('bf16 weights widen exactly (a bf16 copy of llama-tiny)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ci-bf16-'));
  for (const n of readdirSync(join(FIXTURES, 'llama-tiny'))) copyFileSync(join(FIXTURES, 'llama-tiny', n), join(dir, n));
  const src = SafetensorsFile.open(join(FIXTURES, 'llama-tiny', 'model.safetensors'));
  const t: Record<string, TensorToWrite> = {};
  // bf16 = the top 16 bits of the f32 (truncation): the widened value is exactly those bits << 16.
  for (const [name, info] of src.tensors) t[name] = { dtype: 'BF16', shape: info.shape, data: Uint16Array.from(new Uint32Array(src.readF32(name).buffer), (u) => u >>> 16) };
  writeSafetensors(join(dir, 'model.safetensors'), t);
  const b = await loadModelBundle(dir);
  const e = b.spec.embed;
  const bits = t['model.embed_tokens.weight'].data as Uint16Array;
  const want = new Float32Array(new Uint32Array(Array.from(bits, (h) => h << 16)).buffer);
  assert.deepEqual(e.data, want);
  const q = b.spec.blocks[0].attn.wq;
  const qBits = t['model.layers.0.self_attn.q_proj.weight'].data as Uint16Array;
  const one = new Float32Array(new Uint32Array([qBits[5 * q.rows + 3] << 16]).buffer)[0];
  assert.equal(q.data[3 * q.cols + 5], one);
});

test('a released matrix is re-read with the same values; assigned values are kept', async () => {
  const b = await loadModelBundle(join(FIXTURES, 'gpt2-tiny'));
  const wk = b.spec.blocks[0].attn.wk as LazyMat;
  const first = wk.data;
  const copy = first.slice();
  assert.equal(wk.data, first, 'a loaded matrix is not read again');
  assert.equal(wk.readCount, 1);
  wk.release();
  assert.equal(wk.loaded, false);
  assert.deepEqual(first, copy, 'a holder of the array keeps its values');
  const again = wk.data;
  assert.notEqual(again, first);
  assert.deepEqual(again, copy);
  assert.equal(wk.readCount, 2);

  const mine = new Float32Array(wk.rows * wk.cols).fill(0.5);
  wk.data = mine;
  wk.release();
  assert.equal(wk.data, mine, 'values set by hand cannot be re-read, so release keeps them');
  assert.throws(() => (wk.data = new Float32Array(3)));
  releaseWeights(b.spec);
  assert.equal(wk.loaded, true);
});

describe('lazy vs eager weights', () => {
  for (const model of MODELS) {
    test(`${model}: forward graphs are byte-identical and outputs bit-identical`, async () => {
      const b = await loadModelBundle(join(FIXTURES, model));
      const mats = lazyMats(b.spec);
      const eager = eagerCopy(b.spec);
      releaseWeights(b.spec);
      if (b.spec.unembed === b.spec.embed) assert.equal(eager.unembed, eager.embed);
      for (const precision of ['f32', 'f16'] as const) {
        const lazyBytes = buildForwardGraph(b.spec).builder.toBytes({ precision });
        assert.ok(mats.every((m) => !m.loaded), 'serialising releases the weights it read');
        const eagerBytes = buildForwardGraph(eager).builder.toBytes({ precision });
        assert.ok(Buffer.from(lazyBytes).equals(Buffer.from(eagerBytes)), `${precision} model bytes differ`);
      }
      const ids = [1, 5, 9, 2, 7, 3];
      const lazyRun = await ForwardRunner.create(b, { cacheDir: mkdtempSync(join(tmpdir(), 'ci-lazy-')), threads: 1 });
      const eagerBundle: ModelBundle = { ...b, spec: eager, weightsHash: `${b.weightsHash}-eager` };
      const eagerRun = await ForwardRunner.create(eagerBundle, { cacheDir: mkdtempSync(join(tmpdir(), 'ci-eager-')), threads: 1 });
      const x = await lazyRun.run(ids);
      const y = await eagerRun.run(ids);
      assert.deepEqual([...x.hooks.keys()], [...y.hooks.keys()]);
      for (const [name, h] of x.hooks) assert.ok(Buffer.from(h.data.buffer, h.data.byteOffset, h.data.byteLength).equals(Buffer.from(y.hooks.get(name)!.data.buffer, y.hooks.get(name)!.data.byteOffset, y.hooks.get(name)!.data.byteLength)), `hook ${name} differs`);
      await lazyRun.dispose();
      await eagerRun.dispose();
    });
  }
});

test('building the forward graph with external data streams the weights and releases them', async () => {
  const b = await loadModelBundle(join(FIXTURES, 'gemma2-tiny'));
  const mats = lazyMats(b.spec);
  const cacheDir = mkdtempSync(join(tmpdir(), 'ci-ext-'));
  // A threshold of 1 byte forces the external-data path the big models take.
  const run = await ForwardRunner.create(b, { cacheDir, threads: 1, externalDataThreshold: 1 });
  assert.equal(run.timings.cacheHit, false);
  assert.ok(mats.every((m) => m.readCount === 1 && !m.loaded), 'each weight read once, none kept');
  const eager = eagerCopy(b.spec);
  const ref = await ForwardRunner.create({ ...b, spec: eager, weightsHash: `${b.weightsHash}-eager` }, { cacheDir: mkdtempSync(join(tmpdir(), 'ci-ext-ref-')), threads: 1 });
  const ids = [2, 4, 6, 8, 10, 12, 14];
  assert.deepEqual((await run.run(ids)).logits.data, (await ref.run(ids)).logits.data);
  await run.dispose();
  await ref.dispose();
});

test('a graph-cache hit reads no weight; the logit lens reads only the unembedding', async () => {
  const cacheDir = mkdtempSync(join(tmpdir(), 'ci-hit-'));
  const first = await loadModelBundle(join(FIXTURES, 'llama-tiny'));
  const miss = await ForwardRunner.create(first, { cacheDir, threads: 1 });
  assert.equal(miss.timings.cacheHit, false);
  const ids = [1, 3, 5, 7];
  const want = await miss.run(ids);
  await miss.dispose();

  const b = await loadModelBundle(join(FIXTURES, 'llama-tiny'));
  const mats = lazyMats(b.spec);
  const hit = await ForwardRunner.create(b, { cacheDir, threads: 1 });
  assert.equal(hit.timings.cacheHit, true);
  const got = await hit.run(ids);
  assert.deepEqual(got.logits.data, want.logits.data);
  const reads = () => mats.filter((m) => m.readCount > 0).map((m) => m.source);
  assert.deepEqual(reads(), [], 'a cache hit reads no weight');

  logitLens(b, got, 0, 2, 5);
  assert.deepEqual(reads(), ['lm_head.weight']);
  await hit.dispose();
});
