import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../../../src/engine/onnx/builder';
import { EngineSession, autoOrder, candidates, firstLine, onRuntimeMessage, resolvePrecision, unavailableReason, vulkanLoaderPresent } from '../../../src/engine/runtime';

function addOne(): Uint8Array {
  const g = new GraphBuilder('add');
  const x = g.input('x', 'float', [3]);
  g.output(g.op('Add', [x, g.constF([1, 2, 3])]), 'y');
  return g.toBytes();
}

test('auto order per platform ends at CPU, and an explicit provider still falls back to CPU', () => {
  assert.deepEqual(autoOrder('linux'), ['cuda', 'webgpu', 'cpu']);
  assert.deepEqual(autoOrder('win32'), ['cuda', 'dml', 'webgpu', 'cpu']);
  assert.deepEqual(autoOrder('darwin'), ['coreml', 'webgpu', 'cpu']);
  assert.deepEqual(candidates('webgpu'), ['webgpu', 'cpu']);
  assert.deepEqual(candidates('cpu'), ['cpu']);
});

test('providers that cannot exist on a platform are refused with the reason', () => {
  assert.match(unavailableReason('dml', 'linux')!, /only on Windows/);
  assert.match(unavailableReason('coreml', 'linux')!, /only on macOS/);
  assert.match(unavailableReason('cuda', 'darwin')!, /not available on macOS/);
  assert.equal(unavailableReason('cpu', 'linux'), undefined);
  // WebGPU on Linux needs the Vulkan loader: without it the provider is skipped with that reason rather
  // than tried (Dawn would print a loader warning on every attempt).
  const webgpu = unavailableReason('webgpu', 'linux');
  if (vulkanLoaderPresent()) assert.ok(!webgpu || !/Vulkan loader/.test(webgpu));
  else assert.match(webgpu ?? '', /libvulkan\.so\.1/);
});

test('precision: auto is f16 on GPU providers and f32 on CPU; f16 is never forced onto CPU', () => {
  assert.equal(resolvePrecision('auto', 'webgpu'), 'f16');
  assert.equal(resolvePrecision('auto', 'cpu'), 'f32');
  assert.equal(resolvePrecision('f16', 'cpu'), 'f32');
  assert.equal(resolvePrecision('f32', 'cuda'), 'f32');
});

test('onnxruntime source locations are stripped from messages', () => {
  const m = firstLine(new Error('/onnxruntime_src/x/webgpu_context.cc:136 lambda() status == Success was false. Failed to get a WebGPU adapter: No supported adapters'));
  assert.match(m, /^Failed to get a WebGPU adapter/);
});

for (const setting of ['cuda', 'tensorrt', 'dml', 'coreml', 'webgpu', 'auto'] as const) {
  test(`asking for ${setting} yields a working session, and every skipped provider has a reason`, async () => {
    const messages: string[] = [];
    const off = onRuntimeMessage((m) => messages.push(m));
    try {
      const s = await EngineSession.create(addOne(), { provider: setting });
      const out = await s.run({ x: new ort.Tensor('float32', Float32Array.of(1, 1, 1), [3]) });
      assert.deepEqual(Array.from(out.y.data as Float32Array), [2, 3, 4]);
      const last = s.attempts[s.attempts.length - 1];
      assert.equal(last.ok, true);
      assert.equal(last.provider, s.provider);
      for (const a of s.attempts.filter((x) => !x.ok)) {
        assert.ok(a.reason && a.reason.length > 10, `${a.provider} has a reason`);
        assert.ok(messages.some((m) => m.includes(a.provider)), `${a.provider}'s fallback was reported`);
      }
      if (s.provider === 'cpu' && setting !== 'auto') assert.ok(s.fallbackReason?.includes(setting));
      await s.release();
    } finally {
      off();
    }
  });
}
