import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lensLayers } from '../../../src/worker/engine-adapter';

test('logit lens: every layer for small models; an even sample with both ends for large vocabularies', () => {
  assert.deepEqual(lensLayers(4, 100, 64), [0, 1, 2, 3]);
  // Llama-3.2-1B-like: 16 layers, vocab 128256, d 2048 → 256M MACs per layer; budget 4e8 → 2 layers... at least 2.
  const big = lensLayers(16, 128256, 2048);
  assert.ok(big.length >= 2 && big.length < 16);
  assert.equal(big[0], 0);
  assert.equal(big[big.length - 1], 15);
  const mid = lensLayers(26, 256000, 2304, 4e9);
  assert.ok(mid.length > 2 && mid.length <= 26);
  for (let i = 1; i < mid.length; i++) assert.ok(mid[i] > mid[i - 1]);
  assert.ok(mid.length * 256000 * 2304 <= 4e9 || mid.length === 2);
});
