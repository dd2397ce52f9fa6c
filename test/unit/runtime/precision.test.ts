import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { onnx } from 'onnx-proto';
import { GraphBuilder, int, ints } from '../../../src/engine/onnx/builder';

// An RMS-normalised two-layer block with a softmax head: the op mix the real graphs use.
function block(): GraphBuilder {
  const d = 16, h = 32;
  const rnd = (n: number, s: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(s * 3.7 + i * 0.91) * 0.5);
  const g = new GraphBuilder('blk');
  const x = g.input('x', 'float', ['t', d]);
  const ms = g.op('ReduceMean', [g.op('Mul', [x, x])], { axes: ints([-1]), keepdims: int(1) });
  const scale = g.op('Reciprocal', [g.op('Sqrt', [g.op('Add', [ms, g.scalar(1e-6)])])]);
  g.output(scale, 'scale');
  const xn = g.op('Mul', [g.op('Mul', [x, scale]), g.constF(rnd(d, 1))]);
  const hid = g.op('Relu', [g.op('MatMul', [xn, g.init('w1', rnd(d * h, 2), [d, h])])]);
  const y = g.op('MatMul', [hid, g.init('w2', rnd(h * d, 3), [h, d])]);
  g.output(g.op('Softmax', [g.op('Add', [x, y])], { axis: int(-1) }), 'p');
  g.output(g.op('ReduceSum', [y, g.constI64([-1])], { keepdims: int(0) }), 'sum');
  g.output(g.op('MatMul', [hid, g.init('w3', rnd(h * 4, 4), [h, 4])]), 'readout');
  return g;
}

test('f16 serialisation stores half weights, keeps f32 inputs/outputs, and matches f32 within half-precision error', async () => {
  const g = block();
  const f32 = await ort.InferenceSession.create(g.toBytes());
  const bytes16 = g.toBytes({ precision: 'f16' });
  const model = onnx.ModelProto.decode(bytes16);
  for (const t of model.graph!.initializer!) {
    if (t.dataType !== onnx.TensorProto.DataType.INT64) assert.equal(t.dataType, onnx.TensorProto.DataType.FLOAT16, `${t.name} is half`);
  }
  for (const io of [...model.graph!.input!, ...model.graph!.output!]) {
    assert.equal(io.type!.tensorType!.elemType, onnx.TensorProto.DataType.FLOAT, `${io.name} stays f32 at the boundary`);
  }
  const reductions = model.graph!.node!.filter((n) => n.opType === 'ReduceSum' || n.opType === 'ReduceMean' || n.opType === 'Softmax');
  assert.ok(reductions.length === 3);
  // Every reduction's inputs come from a Cast to FLOAT: they accumulate in f32.
  const producer = new Map(model.graph!.node!.flatMap((n) => n.output!.map((o) => [o, n] as const)));
  for (const r of reductions) {
    const src = producer.get(r.input![0])!;
    const f32 = (src.opType === 'Cast' && Number(src.attribute![0].i) === onnx.TensorProto.DataType.FLOAT) || src.output![0].includes('_f32');
    assert.ok(f32, `${r.opType} reads an f32 value (from ${src.opType})`);
  }
  // The op computing a graph output accumulates in f32 too (edge weights are such readouts).
  const readout = model.graph!.node!.find((n) => n.opType === 'MatMul' && n.input!.some((i) => producer.get(i)?.input?.[0] === 'w3'))!;
  assert.ok(readout, 'the readout MatMul reads w3 through a Cast');
  for (const i of readout.input!) assert.equal(producer.get(i)?.opType, 'Cast', `readout input ${i} is cast up to f32`);
  const f16 = await ort.InferenceSession.create(bytes16);
  const t = 5;
  const x = new ort.Tensor('float32', Float32Array.from({ length: t * 16 }, (_, i) => Math.cos(i * 0.37) * 2), [t, 16]);
  const a = await f32.run({ x });
  const b = await f16.run({ x });
  for (const name of ['scale', 'p', 'sum', 'readout']) {
    const ra = a[name].data as Float32Array, rb = b[name].data as Float32Array;
    assert.equal(b[name].type, 'float32');
    let maxRel = 0;
    const scale = Math.max(...Array.from(ra, Math.abs));
    for (let i = 0; i < ra.length; i++) maxRel = Math.max(maxRel, Math.abs(ra[i] - rb[i]) / scale);
    // f16 has an 11-bit significand (unit roundoff 4.9e-4); a few roundings through two matmuls stay under
    // 1e-2 of the output's scale. `sum` adds 16 such outputs of both signs: cancellation makes its error
    // relative to its own (smaller) scale up to a few times larger, hence 3e-2 there.
    const tol = name === 'sum' ? 3e-2 : 1e-2;
    assert.ok(maxRel < tol, `${name}: max relative error ${maxRel}`);
    assert.ok(maxRel > 0 || name === 'scale', `${name}: f16 should differ from f32 at all (got identical results)`);
  }
  // Trained models' residual streams reach |x| in the thousands (the toy model: 2.9e3 at BOS), where x²
  // overflows f16 (max 65504). The norm statistics must still come out right.
  const big = new ort.Tensor('float32', Float32Array.from(x.data as Float32Array, (v) => v * 1500), [t, 16]);
  const sa = (await f32.run({ x: big })).scale.data as Float32Array;
  const sb = (await f16.run({ x: big })).scale.data as Float32Array;
  for (let i = 0; i < sa.length; i++) assert.ok(Math.abs(sa[i] - sb[i]) / sa[i] < 1e-3, `norm scale at |x|≈3000: ${sb[i]} vs ${sa[i]}`);
});
