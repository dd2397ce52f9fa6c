import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkMemory, estimateMemory, largestBatch, SWEEP_GRADIENT_BYTES, sweepBatch, sweepBytesPerSeed } from '../../../src/engine/memory';
import { attentionBlocksFor, DENSE_PATTERN_BYTES } from '../../../src/engine/attribution/frozen';
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

test('blocked attention: the estimate is linear in prompt length at a fixed block length, and blocks start where dense patterns pass their limit', () => {
  const e = (tokens: number, attentionBlocks: number) => estimateMemory({ spec, weightBytes, tokens, batch: 1, bytesPerValue: 4, attentionBlocks }).forward;
  const r = e(8192, 16) / e(4096, 8);
  assert.ok(Math.abs(r - 2) < 1e-9, `ratio ${r}`);
  assert.ok(e(8192, 16) < e(8192, 0) / 4, 'far below the dense estimate');
  // The embedded model's shape: 4 layers × 4 heads.
  const toy = { blocks: Array.from({ length: 4 }, () => ({ attn: { nHeads: 4 } })) } as unknown as Parameters<typeof attentionBlocksFor>[0];
  const dense = (T: number) => 16 * T * T * 4;
  assert.ok(dense(2896) <= DENSE_PATTERN_BYTES && dense(2897) > DENSE_PATTERN_BYTES);
  assert.equal(attentionBlocksFor(toy, 2896), 0);
  assert.equal(attentionBlocksFor(toy, 2897), 8, 'a power of two at or above T / 512');
  assert.equal(attentionBlocksFor(toy, 10000), 32);
  assert.equal(attentionBlocksFor(toy, 64, 3), 3, 'asked for: blocks even on a short prompt');
  assert.equal(attentionBlocksFor(toy, 10000, 0), 0, 'asked for: dense even on a long one');
});

test('the sweep batch is lowered only where its gradients would pass the budget, and then fits it', () => {
  assert.equal(sweepBatch(256, 64, 768), 256);
  assert.equal(sweepBatch(256, 256, 768), 256);
  const b = sweepBatch(64, 10000, 128);
  assert.ok(b < 64 && b >= 1);
  assert.ok(b * sweepBytesPerSeed(10000, 128) <= SWEEP_GRADIENT_BYTES && (b + 1) * sweepBytesPerSeed(10000, 128) > SWEEP_GRADIENT_BYTES);
  assert.equal(sweepBatch(64, 10 ** 9, 4096), 1, 'never below one seed');
});
