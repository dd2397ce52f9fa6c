/**
 * Lazy initializers (GraphBuilder.initLazy / initMat): serialised models are byte-identical to ones
 * built from the same arrays eagerly, in every serialisation (inline, external data, half precision);
 * with external data no two lazy weights are in memory at once; and each is released after it is
 * written unless it was already in memory before.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { GraphBuilder, type LazyInit } from '../../../src/engine/onnx/builder';
import { LazyMat } from '../../../src/engine/bundle/lazy-mat';

function randomMat(rows: number, cols: number, seed: number): Float32Array {
  let s = seed;
  return Float32Array.from({ length: rows * cols }, () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32) - 0.5);
}

const K = 8;
const WEIGHTS = [randomMat(K, K, 1), randomMat(K, K, 2), randomMat(K, K, 3)];

/** x → x W0 W1 W2 W0 (W0 twice: one initializer), plus a bias. */
function chain(init: (g: GraphBuilder, i: number) => string): GraphBuilder {
  const g = new GraphBuilder('chain');
  let x = g.input('x', 'float', ['n', K]);
  for (const i of [0, 1, 2, 0]) x = g.op('MatMul', [x, init(g, i)]);
  x = g.op('Add', [x, g.constF(new Float32Array(K).fill(0.25))]);
  g.output(x, 'y', 'float', ['n', K]);
  return g;
}

interface Tracker {
  live: number;
  maxLive: number;
  reads: number;
}

function tracked(t: Tracker): LazyInit[] {
  return WEIGHTS.map((w) => ({
    type: 'float',
    numel: w.length,
    read: () => {
      t.reads++;
      t.live++;
      t.maxLive = Math.max(t.maxLive, t.live);
      return w.slice();
    },
    done: () => {
      t.live--;
    },
  }));
}

test('lazy initializers serialise to the same bytes as eager ones, one weight in memory at a time', async () => {
  const eager = chain((g, i) => g.init(`w${i}`, WEIGHTS[i], [K, K]));
  const dir = mkdtempSync(join(tmpdir(), 'ci-lazyinit-'));
  for (const precision of ['f32', 'f16'] as const) {
    const t: Tracker = { live: 0, maxLive: 0, reads: 0 };
    const srcs = tracked(t);
    const lazy = chain((g, i) => g.initLazy(`w${i}`, srcs[i], srcs[i], [K, K]));
    assert.equal(lazy.weightBytes(), eager.weightBytes());
    assert.equal(t.reads, 0, 'building the graph reads nothing');

    assert.ok(Buffer.from(lazy.toBytes({ precision })).equals(Buffer.from(eager.toBytes({ precision }))), `${precision} inline bytes`);
    assert.equal(t.reads, 3, 'W0 used twice is one initializer, read once');
    assert.equal(t.live, 0, 'every read weight was released');

    t.maxLive = 0;
    // Same file name in two folders: the model names its data file.
    const [ld, ed] = [join(dir, `lazy-${precision}`), join(dir, `eager-${precision}`)];
    mkdirSync(ld);
    mkdirSync(ed);
    const lazyModel = lazy.toBytesWithExternalData(join(ld, 'm.onnx.data'), 16, { precision });
    const eagerModel = eager.toBytesWithExternalData(join(ed, 'm.onnx.data'), 16, { precision });
    assert.equal(t.maxLive, 1, 'external data holds one lazy weight at a time');
    assert.equal(t.live, 0);
    assert.ok(readFileSync(join(ld, 'm.onnx.data')).equals(readFileSync(join(ed, 'm.onnx.data'))), `${precision} external data`);
    assert.ok(Buffer.from(lazyModel).equals(Buffer.from(eagerModel)), `${precision} model file`);

    // And it runs: y = x W0 W1 W2 W0 + 0.25 against a direct computation.
    writeFileSync(join(ld, 'm.onnx'), lazyModel);
    const s = await ort.InferenceSession.create(join(ld, 'm.onnx'));
    const x = randomMat(2, K, 9);
    const y = (await s.run({ x: new ort.Tensor('float32', x, [2, K]) })).y.data as Float32Array;
    let ref = Array.from(x);
    for (const i of [0, 1, 2, 0]) ref = Array.from({ length: 2 * K }, (_, p) => ref.slice(Math.floor(p / K) * K, Math.floor(p / K) * K + K).reduce((a, v, k) => a + v * WEIGHTS[i][k * K + (p % K)], 0));
    const tol = precision === 'f16' ? 2e-2 : 1e-5;
    ref.forEach((v, p) => assert.ok(Math.abs(y[p] - (v + 0.25)) < tol, `${precision} y[${p}] = ${y[p]}, want ${v + 0.25}`));
    await s.release();
  }
});

test('initMat releases a LazyMat it read, keeps one already in memory, and dedupes the same Mat', () => {
  const [a, b] = [new LazyMat(K, K, () => WEIGHTS[0].slice(), 'a'), new LazyMat(K, K, () => WEIGHTS[1].slice(), 'b')];
  const inUse = b.data; // someone (the logit lens, say) holds b
  const g = new GraphBuilder('m');
  const x = g.input('x', 'float', [1, K]);
  const wa = g.initMat('wa', a);
  assert.equal(g.initMat('again', a), wa, 'the same Mat (tied embeddings) is one initializer');
  g.output(g.op('MatMul', [g.op('MatMul', [x, wa]), g.initMat('wb', b)]), 'y');
  assert.equal(a.loaded, false, 'declaring the weight reads nothing');
  g.toBytesWithExternalData(join(mkdtempSync(join(tmpdir(), 'ci-initmat-')), 'm.onnx.data'), 16);
  assert.equal(a.readCount, 1);
  assert.equal(a.loaded, false, 'read for serialisation, then released');
  assert.equal(b.data, inUse, 'a matrix in memory before stays');
  // A plain Mat is an ordinary initializer of its array.
  const plain = { data: WEIGHTS[2], rows: K, cols: K };
  const h = new GraphBuilder('p');
  assert.equal(h.initMat('w', plain), h.init('w2', WEIGHTS[2], [K, K]));
});
