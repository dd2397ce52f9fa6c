/**
 * The decoder blocks' memory and the stored rows' arena are kept from one analysis to the next on the same backward session
 * (decoder-memory.ts): reused when it fits, never shared by two analyses at once, and an analysis on
 * reused memory gives bit for bit the adjacency it gives alone.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { computeAttribution, type RawAttribution } from '../../../src/engine/attribution/attribute';
import { takeDecoderMemory } from '../../../src/engine/attribution/decoder-memory';
import { RowArena } from '../../../src/engine/attribution/sparse';
import { CACHE_DIR, FIXTURES, loadFixture } from './helpers';

after(() => rmSync(CACHE_DIR, { recursive: true, force: true }));

test('memory is reused when it fits, grown when it does not, and never handed out twice at once', () => {
  const owner = {};
  const a = takeDecoderMemory(owner, 100);
  assert.ok(a.data.length >= 100);
  const busy = takeDecoderMemory(owner, 10);
  assert.notEqual(busy.data.buffer, a.data.buffer, 'a second analysis while the first runs gets its own memory');
  busy.release();
  a.release();
  const b = takeDecoderMemory(owner, 50);
  assert.equal(b.data.buffer, a.data.buffer, 'a smaller analysis after it reuses the memory');
  a.release(); // a late second release must not hand out the memory b holds
  assert.notEqual(takeDecoderMemory(owner, 50).data.buffer, b.data.buffer);
  b.release();
  const c = takeDecoderMemory(owner, 1000);
  assert.ok(c.data.length >= 1000);
  c.release();
  assert.notEqual(takeDecoderMemory({}, 50).data.buffer, c.data.buffer, 'another session has its own memory');
});

const same = (x: RawAttribution, y: RawAttribution, what: string) => {
  assert.deepEqual(x.adjacency.rowPtr, y.adjacency.rowPtr, `${what}: rows`);
  assert.deepEqual(x.adjacency.col, y.adjacency.col, `${what}: columns`);
  assert.deepEqual(x.adjacency.val, y.adjacency.val, `${what}: values`);
};

test('analyses after a larger or smaller one, and two at once, give the adjacency each gives alone', async () => {
  const f = FIXTURES.find((x) => x.transcoders === 'llama-tiny-clt')!;
  const { engine } = await loadFixture(f);
  const { engine: fresh } = await loadFixture(f);
  const long = f.prompt, short = 'The capital of';
  const opts = { batchSize: 8, maxFeatureNodes: 64 };
  // Each alone, on an engine of its own (no memory left by another prompt).
  const shortAlone = await computeAttribution(fresh, short, opts);
  const { engine: fresh2 } = await loadFixture(f);
  const longAlone = await computeAttribution(fresh2, long, opts);
  // On one engine: long, then short (reuses long's larger memory), then long again.
  same(await computeAttribution(engine, long, opts), longAlone, 'long first');
  same(await computeAttribution(engine, short, opts), shortAlone, 'short on the long prompt\'s memory');
  same(await computeAttribution(engine, long, opts), longAlone, 'long after short');
  // Two at once: their sweeps interleave; each must keep its own decoder blocks.
  const [l2, s2] = await Promise.all([computeAttribution(engine, long, opts), computeAttribution(engine, short, opts)]);
  same(l2, longAlone, 'long, concurrently');
  same(s2, shortAlone, 'short, concurrently');
});

test('the row arena hands out disjoint rows, fits rows larger than a chunk, and reuses its memory after a rewind', () => {
  const arena = new RowArena(64); // 8 entries a chunk
  const rows = [3, 5, 20, 1, 8].map((n) => arena.alloc(n));
  rows.forEach((r, i) => {
    assert.equal(r.col.length, [3, 5, 20, 1, 8][i]);
    r.col.fill(i + 1);
    r.val.fill(-(i + 1));
  });
  rows.forEach((r, i) => {
    assert.ok(r.col.every((x) => x === i + 1), `row ${i}'s columns were overwritten`);
    assert.ok(r.val.every((x) => x === -(i + 1)), `row ${i}'s values were overwritten`);
  });
  const first = rows[0].col.buffer;
  arena.rewind();
  assert.equal(arena.alloc(2).col.buffer, first, 'after a rewind the first chunk is handed out again');
});
