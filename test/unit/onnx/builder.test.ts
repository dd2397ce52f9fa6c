import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { GraphBuilder, int } from '../../../src/engine/onnx/builder';

// y = softmax(x @ W + b) computed by onnxruntime against a direct computation here.
function reference(x: Float32Array, w: Float32Array, b: Float32Array, n: number, k: number, m: number): Float32Array {
  const y = new Float32Array(n * m);
  for (let i = 0; i < n; i++) {
    let max = -Infinity;
    for (let j = 0; j < m; j++) {
      let s = b[j];
      for (let t = 0; t < k; t++) s += x[i * k + t] * w[t * m + j];
      y[i * m + j] = s;
      max = Math.max(max, s);
    }
    let z = 0;
    for (let j = 0; j < m; j++) z += y[i * m + j] = Math.exp(y[i * m + j] - max);
    for (let j = 0; j < m; j++) y[i * m + j] /= z;
  }
  return y;
}

function build(w: Float32Array, b: Float32Array, k: number, m: number): GraphBuilder {
  const g = new GraphBuilder('t');
  const x = g.input('x', 'float', ['n', k]);
  const wi = g.init('w', w, [k, m]);
  assert.equal(g.init('w', w, [k, m]), wi, 'the same array becomes one initializer');
  const y = g.op('Add', [g.op('MatMul', [x, wi]), g.constF(b)]);
  g.output(g.op('Softmax', [y], { axis: int(-1) }), 'y');
  return g;
}

test('builder graphs run in onnxruntime and match a direct computation (inline and external data)', async () => {
  const n = 3, k = 5, m = 300;
  const rnd = (len: number, seed: number) => Float32Array.from({ length: len }, (_, i) => Math.sin(seed * 7.1 + i * 1.3));
  const x = rnd(n * k, 1), w = rnd(k * m, 2), b = rnd(m, 3);
  const want = reference(x, w, b, n, k, m);
  const inline = await ort.InferenceSession.create(build(w, b, k, m).toBytes());
  const dir = mkdtempSync(join(tmpdir(), 'ci-onnx-'));
  const modelPath = join(dir, 'm.onnx');
  writeFileSync(modelPath, build(w, b, k, m).toBytesWithExternalData(join(dir, 'm.onnx.data'), 64));
  const external = await ort.InferenceSession.create(modelPath);
  for (const s of [inline, external]) {
    const out = await s.run({ x: new ort.Tensor('float32', x, [n, k]) });
    const got = out.y.data as Float32Array;
    assert.deepEqual(out.y.dims, [n, m]);
    for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i] - want[i]) < 1e-6, `y[${i}] ${got[i]} vs ${want[i]}`);
  }
});
