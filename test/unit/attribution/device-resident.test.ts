/**
 * Device-resident constants: binding the prompt's frozen patterns, norm scales, errors and decoder rows
 * into a per-prompt backward session (what GPU providers use so that only seeds travel per batch) must
 * give the same edges as feeding them with every batch. Run on the CPU, where both paths exist.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { computeAttribution } from '../../../src/engine/attribution/attribute';
import { bindInputs } from '../../../src/engine/onnx/bind-constants';
import { GraphBuilder } from '../../../src/engine/onnx/builder';
import { onnx } from 'onnx-proto';
import { FIXTURES, loadFixture, relMaxErr } from './helpers';

for (const f of [FIXTURES[0], FIXTURES[2], FIXTURES[4]]) {
  test(`bound constants give the same edges as fed ones: ${f.model} with ${f.transcoders}`, async () => {
    const { engine } = await loadFixture(f);
    const fed = await computeAttribution(engine, f.prompt, { edgeTolerance: 0, batchSize: 5, deviceResidentConstants: false });
    const bound = await computeAttribution(engine, f.prompt, { edgeTolerance: 0, batchSize: 5, deviceResidentConstants: true });
    assert.equal(fed.deviceResident, false);
    assert.equal(bound.deviceResident, true, 'the backward graph could be rebuilt with the constants bound');
    assert.ok(fed.sweeps > 2, 'several batches ran against the same bound session');
    assert.deepEqual(Array.from(bound.adjacency.rowPtr), Array.from(fed.adjacency.rowPtr));
    assert.deepEqual(Array.from(bound.adjacency.col), Array.from(fed.adjacency.col));
    const err = relMaxErr(bound.adjacency.val, fed.adjacency.val);
    assert.ok(err < 1e-6, `edge weights differ by ${err}`);
  });
}

test('binding turns exactly the named inputs into initializers', async () => {
  const { engine } = await loadFixture(FIXTURES[0]);
  const names = engine.backward.inputNames.filter((n) => !/seed|active/.test(n));
  assert.ok(names.length > 4, `constants to bind: ${names.join(', ')}`);
  const g = new GraphBuilder('t');
  const a = g.input('a', 'float', [2]);
  const b = g.input('b', 'float', [2]);
  g.output(g.op('Add', [a, b]), 'y');
  const bytes = bindInputs(g.toBytes(), { b: { type: 'float32', dims: [2], data: Float32Array.of(1, 2) } })!;
  const m = onnx.ModelProto.decode(bytes);
  assert.deepEqual(m.graph!.input!.map((i) => i.name), ['a']);
  assert.deepEqual(m.graph!.initializer!.map((i) => i.name), ['b']);
  assert.equal(bindInputs(g.toBytes(), { nope: { type: 'float32', dims: [1], data: Float32Array.of(1) } }), undefined, 'unknown input names are refused');
});
