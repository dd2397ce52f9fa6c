/**
 * The on-disk graph cache: a second request for the same key is a hit that loads the same model, keys
 * differ with any part (weights, kind, version, options), and eviction drops the least recently used
 * entries first while keeping the one just written.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GraphBuilder } from '../../../src/engine/onnx/builder';
import { cacheKey, cachedModel, evict } from '../../../src/engine/onnx/cache';

function tiny(n: number): GraphBuilder {
  const g = new GraphBuilder('t');
  const x = g.input('x', 'float', [n]);
  g.output(g.op('Add', [x, g.constF(new Float32Array(n).fill(1))]), 'y');
  return g;
}

test('cachedModel builds once, then hits with the same model file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ci-cache-'));
  let builds = 0;
  const build = () => (builds++, tiny(4));
  const a = cachedModel(dir, 'k1', build);
  assert.equal(a.hit, false);
  assert.ok(a.model instanceof Uint8Array);
  const b = cachedModel(dir, 'k1', build);
  assert.equal(b.hit, true);
  assert.equal(builds, 1);
  assert.ok(Buffer.from(a.model as Uint8Array).equals(readFileSync(b.model as string)));
});

test('cache keys change with every part', () => {
  const base = { weightsHash: 'abc', kind: 'forward', version: 1, options: { precision: 'f32' } };
  const k = cacheKey(base);
  assert.equal(cacheKey({ ...base }), k);
  for (const v of [{ weightsHash: 'abd' }, { kind: 'encode' }, { version: 2 }, { options: { precision: 'f16' } }]) {
    assert.notEqual(cacheKey({ ...base, ...v }), k, JSON.stringify(v));
  }
});

test('evict drops least recently used entries until the cache fits, never the kept one', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ci-cache-'));
  for (const [i, k] of ['old', 'mid', 'new'].entries()) {
    cachedModel(dir, k, () => tiny(2000));
    const t = new Date(Date.now() - (3 - i) * 60_000);
    utimesSync(join(dir, k, 'complete'), t, t);
  }
  // Each entry is a bit over 8 KB: room for two.
  evict(dir, 20_000, 'old');
  assert.ok(existsSync(join(dir, 'old')), 'the kept entry survives even though it is the oldest');
  assert.ok(!existsSync(join(dir, 'mid')), 'the least recently used other entry goes');
  assert.ok(existsSync(join(dir, 'new')));
});
