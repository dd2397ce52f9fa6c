/**
 * The max-feature-nodes cap: features are visited in order of their partial influence on the logits,
 * re-ranked after each queue (circuit-tracer's phase 4). The expected choice is recomputed here with a
 * dense influence over the rows known at each step, from the uncapped graph's rows (a row does not
 * depend on which other rows were computed). Also: progress stages, and cancellation between batches.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { computeAttribution } from '../../../src/engine/attribution/attribute';
import { isEngineError } from '../../../src/engine/errors';
import { FIXTURES, loadFixture } from './helpers';

/** Dense partial influence: w·Â + w·Â² + … over the rows in `known` (node ids), Â row-normalised |A|. */
function denseInfluence(rows: Map<number, Float64Array>, w: Float64Array): Float64Array {
  const n = w.length;
  const inf = new Float64Array(n);
  let cur = Float64Array.from(w);
  for (let it = 0; it < 100; it++) {
    const next = new Float64Array(n);
    for (const [r, row] of rows) {
      if (!cur[r]) continue;
      let s = 0;
      for (const v of row) s += Math.abs(v);
      for (let c = 0; c < n; c++) next[c] += (cur[r] * Math.abs(row[c])) / Math.max(s, 1e-10);
    }
    if (!next.some((v) => v !== 0)) break;
    for (let i = 0; i < n; i++) inf[i] += next[i];
    cur = next;
  }
  return inf;
}

test('capped attribution visits features by partial influence, as circuit-tracer does', async () => {
  const { engine } = await loadFixture(FIXTURES[0]);
  const full = await computeAttribution(engine, FIXTURES[0].prompt, { edgeTolerance: 0 });
  const nF = full.features.act.length;
  const nAll = full.adjacency.nNodes;
  const nLogits = full.targets.length;
  const rowOf = (node: number) => {
    const row = new Float64Array(nAll);
    for (let p = full.adjacency.rowPtr[node]; p < full.adjacency.rowPtr[node + 1]; p++) row[full.adjacency.col[p]] = full.adjacency.val[p];
    return row;
  };
  const B = 6;
  const known = new Map<number, Float64Array>();
  for (let j = 0; j < nLogits; j++) known.set(nAll - nLogits + j, rowOf(nAll - nLogits + j));
  const visited = new Set<number>();
  for (let round = 0; round < 3; round++) {
    const inf = denseInfluence(known, full.logitWeights);
    const order = Array.from({ length: nF }, (_, k) => k).filter((k) => !visited.has(k)).sort((a, b) => inf[b] - inf[a] || a - b);
    for (const k of order.slice(0, B)) {
      visited.add(k);
      known.set(k, rowOf(k));
    }
  }
  const capped = await computeAttribution(engine, FIXTURES[0].prompt, { edgeTolerance: 0, maxFeatureNodes: 3 * B, batchSize: B, updateInterval: 1 });
  assert.deepEqual([...capped.selected], [...visited].sort((a, b) => a - b), 'features chosen by partial influence');
  assert.equal(capped.sweeps, Math.ceil(nLogits / B) + 3, 'one sweep per batch');

  // The capped graph's rows are the uncapped rows restricted to the chosen features' columns.
  const sel = [...capped.selected];
  const colMap = (c: number) => (c < nF ? sel.indexOf(c) : c - (nF - sel.length));
  for (let i = 0; i < sel.length; i++) {
    const want = rowOf(sel[i]);
    const got = new Map<number, number>();
    for (let p = capped.adjacency.rowPtr[i]; p < capped.adjacency.rowPtr[i + 1]; p++) got.set(capped.adjacency.col[p], capped.adjacency.val[p]);
    for (let c = 0; c < nAll; c++) {
      const m = colMap(c);
      if (m < 0 || want[c] === 0) continue;
      assert.ok(Math.abs((got.get(m) ?? 0) - want[c]) <= 1e-6 * Math.abs(want[c]) + 1e-9, `row of feature ${sel[i]}, column ${c}`);
    }
  }
});

test('attribution reports progress by stage and stops when cancelled', async () => {
  const { engine } = await loadFixture(FIXTURES[1]);
  const stages: string[] = [];
  let last = 0;
  await computeAttribution(engine, FIXTURES[1].prompt, { batchSize: 16 }, {
    onProgress(stage, f) {
      if (stages[stages.length - 1] !== stage) stages.push(stage);
      if (stage === 'attribute') {
        assert.ok(f >= last && f <= 1, 'attribute fraction increases');
        last = f;
      }
    },
  });
  assert.deepEqual(stages, ['tokenize', 'forward', 'encode', 'attribute']);
  assert.equal(last, 1);

  const ac = new AbortController();
  let batches = 0;
  await assert.rejects(
    computeAttribution(engine, FIXTURES[1].prompt, { batchSize: 4 }, {
      signal: ac.signal,
      onProgress(stage) {
        if (stage === 'attribute' && ++batches === 3) ac.abort();
      },
    }),
    (e: unknown) => isEngineError(e) && e.code === 'CANCELLED',
  );
  assert.equal(batches, 3, 'no batch ran after the cancellation');
});
