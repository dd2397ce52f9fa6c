/**
 * QK attribution (src/engine/attention/qk.ts) against independent truth, on GPT-2, Llama, Gemma-2
 * (soft-cap, query_pre_attn_scalar, sliding window), Qwen3 (q/k norms, GQA), a cross-layer transcoder
 * and the embedded model:
 * 1. the sum rule: pairwise + query-only + key-only + bias × bias = the pre-softmax score (≤ 1e-4);
 * 2. that score is the model's: the recomputed scores of every visible key, soft-capped and
 *    softmaxed, give the forward pass's attention pattern row;
 * 3. the PyTorch reference (tools/reference/attention_ref.py), which carries every source forward to
 *    resid_pre(l) and maps it through ln1, W_Q / W_K, q/k norm and rotary itself: every source's query
 *    and key image equals ≤ 1e-4 relative, and so does the score.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { computeAttribution } from '../../../src/engine/attribution/attribute';
import { linearModelOf } from '../../../src/engine/attention/graph-heads';
import { QkTracer } from '../../../src/engine/attention/qk';
import { EMBEDDED, embeddedPresent, FIXTURES, loadFixture } from '../attribution/helpers';
import { runQkReference } from './reference';

for (const f of [...FIXTURES, ...EMBEDDED.filter(embeddedPresent).slice(0, 1)]) {
  test(`QK terms sum to the score, the score is the model's, and match the reference: ${f.model} with ${f.transcoders}`, async () => {
    const { bundle, engine, modelDir, dictDir } = await loadFixture(f);
    const spec = bundle.spec;
    const raw = await computeAttribution(engine, f.prompt, {});
    const zeroBos = raw.tokens[0].special || raw.tokens[0].id === spec.bosTokenId;
    const m = linearModelOf(spec, engine.replacement, raw, zeroBos);
    const tracer = new QkTracer(m);
    const T = raw.frozen.T, L = spec.nLayers;
    const layer = L - 1;
    const a = spec.blocks[layer].attn;
    const head = a.nHeads - 1;
    const query = T - 1;
    // Pattern check: recomputed scores → (soft-cap) → softmax = the forward pass's row.
    const scores = tracer.realScores(layer, head, query);
    let max = -Infinity;
    const capped = Array.from(scores, (s) => (Number.isFinite(s) && a.softcap ? a.softcap * Math.tanh(s / a.softcap) : s));
    for (const s of capped) max = Math.max(max, s);
    const z = capped.reduce((acc, s) => acc + (Number.isFinite(s) ? Math.exp(s - max) : 0), 0);
    const P = raw.frozen.patterns![layer];
    let worstP = 0;
    for (let k = 0; k <= query; k++) {
      const p = Number.isFinite(capped[k]) ? Math.exp(capped[k] - max) / z : 0;
      worstP = Math.max(worstP, Math.abs(p - P[(head * T + query) * T + k]));
    }
    assert.ok(worstP <= 1e-4, `recomputed pattern row differs from the forward pass's by ${worstP}`);
    // A key that is not the query itself: the most attended earlier one.
    let key = 0;
    for (let k = 0; k < query; k++) if (Number.isFinite(scores[k]) && scores[k] > scores[key]) key = k;
    const r = tracer.trace({ layer, head, query, key });
    const sum = r.terms.pairwise + r.terms.queryOnly + r.terms.keyOnly + r.terms.biasBias;
    const mag = Math.abs(r.terms.pairwise) + Math.abs(r.terms.queryOnly) + Math.abs(r.terms.keyOnly) + Math.abs(r.terms.biasBias);
    assert.ok(Math.abs(sum - r.scorePre) <= 1e-4 * Math.max(mag, Math.abs(r.scorePre)), `terms sum to ${sum}, score ${r.scorePre}`);
    assert.ok(Math.abs(r.scorePre - scores[key]) <= 1e-4 * Math.max(1, Math.abs(scores[key])), `score ${r.scorePre} vs the model's ${scores[key]}`);
    const qMargSum = r.queryMarginal.reduce((s, c) => s + c.value, 0);
    assert.ok(r.queryMarginal.length > 0 && r.keyMarginal.length > 0 && r.pairs.length > 0, 'non-empty results');
    if (a.softcap) assert.ok(r.capFactor! > 0 && r.capFactor! <= 1, `cap factor ${r.capFactor}`);
    void qMargSum;

    const n = m.nSources, hd = r.headDim;
    const ref = runQkReference(modelDir, dictDir, raw, zeroBos, { layer, head, query, key, columns: Array.from({ length: n }, (_, i) => i) });
    assert.equal(ref.hd, hd);
    const rel = (mine: Float64Array, theirs: Float32Array) => {
      let num = 0, den = 0;
      for (let i = 0; i < theirs.length; i++) {
        num = Math.max(num, Math.abs(mine[i] - theirs[i]));
        den = Math.max(den, Math.abs(theirs[i]));
      }
      return num / den;
    };
    const eq = rel(r.qVectors, ref.qvec), ek = rel(r.kVectors, ref.kvec);
    assert.ok(eq <= 1e-4 && ek <= 1e-4, `per-source query / key images differ from the reference by ${eq} / ${ek}`);
    assert.ok(Math.abs(r.scorePre - ref.scorePre) <= 1e-4 * Math.max(1, Math.abs(ref.scorePre)), `score ${r.scorePre} vs reference ${ref.scorePre}`);
    assert.ok(Math.abs(r.score - ref.score) <= 1e-4 * Math.max(1, Math.abs(ref.score)), `capped score ${r.score} vs reference ${ref.score}`);
    console.log(`# ${f.model}/${f.transcoders}: L${layer}.H${head} ${query}→${key}: score ${r.scorePre.toFixed(4)} (pattern ${r.pattern.toFixed(3)}); Σ terms error ${Math.abs(sum - r.scorePre).toExponential(2)}; vs reference q ${eq.toExponential(2)}, k ${ek.toExponential(2)}; pattern row ${worstP.toExponential(2)}`);
  });
}
