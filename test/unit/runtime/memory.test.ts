import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkMemory, estimateMemory, largestBatch } from '../../../src/engine/memory';
import { isEngineError } from '../../../src/engine/errors';

// A Gemma-2-2B-sized shape (26 layers, d 2304, 8 heads, d_mlp 9216, vocab 256k), only the fields the estimate reads.
const spec = {
  dModel: 2304, nLayers: 26, vocabSize: 256000,
  blocks: [{ attn: { nHeads: 8 }, mlp: { wOut: { rows: 9216 } } }],
} as unknown as Parameters<typeof estimateMemory>[0]['spec'];
const weightBytes = 2.6e9 * 4;

test('the estimate grows linearly in batch and quadratically (through the patterns) in prompt length', () => {
  const e = (tokens: number, batch: number) => estimateMemory({ spec, weightBytes, tokens, batch, bytesPerValue: 4 });
  const b1 = e(512, 1), b8 = e(512, 8);
  assert.ok(Math.abs(b8.perBatch / b1.perBatch - 8) < 1e-9);
  assert.equal(b8.forward, b1.forward);
  // Doubling T more than doubles the forward (T² pattern term) but less than quadruples it.
  const r = e(4096, 1).forward / e(2048, 1).forward;
  assert.ok(r > 2 && r < 4, `ratio ${r}`);
  assert.equal(estimateMemory({ spec, weightBytes, tokens: 8, batch: 1, bytesPerValue: 2 }).weights, weightBytes / 2);
});

test('too large a batch is refused with a batch size that fits, and that batch size does fit', () => {
  const input = { spec, weightBytes, tokens: 2048, batch: 512, bytesPerValue: 4 as const };
  const available = 80 * 1024 ** 3;
  assert.throws(() => checkMemory(input, 'cuda', available), (e: unknown) => {
    assert.ok(isEngineError(e));
    assert.equal(e.code, 'OUT_OF_MEMORY');
    const m = /batchSize to (\d+)/.exec(e.hint ?? '');
    assert.ok(m, e.hint);
    const fits = Number(m[1]);
    assert.doesNotThrow(() => checkMemory({ ...input, batch: fits }, 'cuda', available));
    assert.throws(() => checkMemory({ ...input, batch: fits + 1 }, 'cuda', available));
    return true;
  });
  assert.equal(largestBatch(input, 1e9), 0, 'weights alone exceed 1 GB');
  assert.throws(() => checkMemory(input, 'cuda', 1e9), /before any attribution batch/);
});

test('unknown availability skips the check rather than guessing', () => {
  const est = checkMemory({ spec, weightBytes, tokens: 100000, batch: 4096, bytesPerValue: 4 }, 'webgpu', undefined);
  assert.ok(est.total > 1e12);
});
