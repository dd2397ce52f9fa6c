/**
 * Attribution edges against independent truth:
 * 1. the PyTorch autograd reference (tools/reference/attribution_ref.py) on the same model and
 *    transcoder files, for every architecture fixture and a cross-layer transcoder;
 * 2. the completeness identity: each target's incoming edges plus its bias terms (the reference's
 *    replacement model evaluated with every source at zero) equal the target's pre-activation as the
 *    engine's own forward pass and encoder computed it (for logits: the logit minus the mean logit).
 *    The identity is exact only when nothing is dropped from the replacement model, so it is checked
 *    with BOS zeroing off (zeroing the BOS features and error, as circuit-tracer does, removes the BOS
 *    MLP output from the replacement model; prompts with a BOS are checked both ways for edges).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { computeAttribution } from '../../../src/engine/attribution/attribute';
import type { ModelSpec } from '../../../src/engine/model-spec';
import { EMBEDDED, embeddedPresent, FIXTURES, loadFixture, runReference } from './helpers';

/** Logits before Gemma-2's final soft-cap (the quantity attribution explains), from the capped ones. */
function rawLogits(spec: ModelSpec, row: Float32Array): Float64Array {
  const cap = spec.finalSoftcap;
  return Float64Array.from(row, (v) => (cap ? cap * Math.atanh(v / cap) : v));
}

async function check(f: (typeof FIXTURES)[number], zeroBos: boolean, attentionBlocks?: number): Promise<void> {
    const { bundle, engine, modelDir, dictDir } = await loadFixture(f);
    const spec = bundle.spec;
    const raw = await computeAttribution(engine, f.prompt, { edgeTolerance: 0, batchSize: 7, zeroBos, attentionBlocks });
    assert.equal(Boolean(raw.frozen.blocked), Boolean(attentionBlocks), 'blocked attention exactly when asked for');
    assert.equal(Boolean(raw.frozen.patterns), !attentionBlocks, 'dense patterns exactly when not blocked');
    const ids = raw.frozen.ids;
    const ref = runReference(modelDir, dictDir, ids, zeroBos);
    const feats = raw.features;
    const nF = feats.act.length;
    const L = spec.nLayers, T = ids.length;

    // The same active features (layer, position, index) in the same order, with the same activations.
    assert.ok(nF > 10, `enough active features to test (${nF})`);
    assert.equal(nF, ref.features.length, 'number of active features');
    for (let k = 0; k < nF; k++) {
      assert.deepEqual([feats.layer[k], feats.pos[k], feats.index[k]], ref.features[k], `feature ${k}`);
      assert.ok(Math.abs(feats.act[k] - ref.activations[k]) <= 1e-4 * Math.max(1, Math.abs(ref.activations[k])), `activation ${k}`);
    }
    assert.deepEqual(raw.targets.map((t) => t.tokenId), ref.logitIds, 'target logits');
    assert.equal(raw.selected.length, nF, 'uncapped: every feature is a node');

    // Dense rows of the engine's sparse adjacency, in the reference's layout.
    const a = raw.adjacency;
    const nSrc = nF + L * T + T;
    assert.equal(ref.cols, nSrc);
    const logitsRow = rawLogits(spec, raw.frozen.logits.subarray((T - 1) * spec.vocabSize, T * spec.vocabSize));
    let meanLogit = 0;
    for (const v of logitsRow) meanLogit += v;
    meanLogit /= logitsRow.length;
    let worstEdge = 0, worstCompleteness = 0;
    for (let r = 0; r < ref.rows; r++) {
      const node = r < nF ? r : nSrc + (r - nF);
      const dense = new Float64Array(nSrc);
      for (let p = a.rowPtr[node]; p < a.rowPtr[node + 1]; p++) dense[a.col[p]] = a.val[p];
      let maxRef = 0, maxDiff = 0, sum = 0, l1 = 0;
      for (let c = 0; c < nSrc; c++) {
        const want = ref.edges[r * nSrc + c];
        maxRef = Math.max(maxRef, Math.abs(want));
        maxDiff = Math.max(maxDiff, Math.abs(dense[c] - want));
        sum += dense[c];
        l1 += Math.abs(dense[c]);
      }
      // Check 1: every edge of the row within 1e-4 of the row's largest edge.
      const rel = maxDiff / maxRef;
      worstEdge = Math.max(worstEdge, rel);
      assert.ok(rel <= 1e-4, `row ${r}: edges differ from autograd by ${rel} (relative to the row's largest, ${maxRef})`);
      if (zeroBos) continue;
      // Check 2: Σ incoming edges + bias terms = pre-activation, relative to the size of the terms summed.
      const value = r < nF ? feats.pre[r] : logitsRow[raw.targets[r - nF].tokenId] - meanLogit;
      const err = Math.abs(sum + ref.bias[r] - value) / (l1 + Math.abs(ref.bias[r]));
      worstCompleteness = Math.max(worstCompleteness, err);
      assert.ok(err <= 1e-5, `row ${r}: Σ edges + bias = ${sum + ref.bias[r]}, pre-activation ${value} (relative error ${err})`);
    }
    console.log(`# ${f.model}/${f.transcoders}${zeroBos ? ' (BOS zeroed)' : ''}${attentionBlocks ? ` (attention in ${attentionBlocks} blocks)` : ''}: ${nF} features, ${ref.rows} targets; worst edge error ${worstEdge.toExponential(2)}${zeroBos ? '' : `, worst completeness error ${worstCompleteness.toExponential(2)}`}`);
}

for (const f of FIXTURES) {
  test(`edges match autograd and satisfy completeness: ${f.model} with ${f.transcoders}`, async () => {
    await check(f, false);
  });
}

// The embedded model, trained (its features are sparse and meaningful, unlike the random fixtures').
for (const f of EMBEDDED) {
  test(`edges match autograd on the embedded model: ${f.model} with ${f.transcoders}`, { skip: embeddedPresent(f) ? false : 'the embedded model is not built yet' }, async () => {
    await check(f, false);
    await check(f, true);
  });
}

// circuit-tracer zeroes features and errors at a leading special token; the edges must still match.
for (const f of FIXTURES.filter((x) => ['llama-tiny', 'gemma2-tiny'].includes(x.model))) {
  test(`edges match autograd with the BOS position zeroed: ${f.model} with ${f.transcoders}`, async () => {
    await check(f, true);
  });
}

// Long prompts run attention in blocks and rebuild each block of the patterns inside the sweeps from the
// rotated queries, keys and log-sum-exps (frozen.ts attentionBlocksFor picks it by length); forced here
// on the fixtures' short prompts, with block counts that leave padding (3, 5) and more blocks than
// positions (64: most blocks are padding only). Gemma-2's fixture covers soft-capping and sliding windows.
for (const f of FIXTURES) {
  test(`edges match autograd with blocked attention: ${f.model} with ${f.transcoders}`, async () => {
    await check(f, false, f.model === 'llama-tiny' ? 64 : 3);
    if (f.model === 'gemma2-tiny') await check(f, true, 5);
  });
}
