/**
 * The graph file's weights: the arithmetic shortest-decimal conversion returns exactly what the string
 * definition (toPrecision 6…9, read back as float32) returns, on random float32 bit patterns of every
 * magnitude, on values at and around powers of ten and half-way digits, and on the special values.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { shortF32, shortF32Exact } from '../../../src/engine/short-float';

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
}

test('shortF32 equals the toPrecision definition on float32 values of every kind', () => {
  const r = rng(9);
  const bits = new Uint32Array(1), f32 = new Float32Array(bits.buffer);
  const values: number[] = [0, -0, Infinity, -Infinity, NaN, 1, -1, 0.1, 1 / 3, 2 ** -149, 2 ** -126, 3.4028234663852886e38, 1e-30, 1e30];
  for (let i = 0; i < 200_000; i++) {
    bits[0] = (r() * 2 ** 32) >>> 0;
    values.push(f32[0]);
  }
  // Edge weights as attribution gives them: modest magnitudes, both signs.
  for (let i = 0; i < 100_000; i++) values.push((r() - 0.5) * 10 ** (12 * r() - 9));
  // Powers of ten and their float32 neighbours; decimals with 6–9 digits ending in 5 (half-way points).
  for (let k = -40; k <= 38; k++) {
    const p = Math.fround(10 ** k);
    values.push(p, Math.fround(p * (1 + 2 ** -23)), Math.fround(p * (1 - 2 ** -24)));
  }
  for (let i = 0; i < 20_000; i++) {
    const digits = 6 + Math.floor(r() * 4);
    const m = Math.floor(r() * 10 ** (digits - 1)) * 10 + 5;
    values.push(m * 10 ** (Math.floor(r() * 20) - 15 - digits));
  }
  let checked = 0;
  for (const v of values) {
    const want = shortF32Exact(v), got = shortF32(v);
    assert.ok(Object.is(got, want) || (Number.isNaN(got) && Number.isNaN(want)), `${v} (float32 ${Math.fround(v)}): ${got} vs ${want}`);
    checked++;
  }
  assert.equal(checked, values.length);
});
