/**
 * Gemma-2's soft-capped logits in verify, against an independent PyTorch ablation
 * (tools/reference/intervene_ref.py through forward_ref.py's Gemma-2 forward: (1 + w) RMSNorms before
 * and after attention and MLP, the sqrt(d) embedding scale, attention and final logit soft-caps), on
 * the gemma2-tiny fixture whose final cap (3.0) is tight enough to bend every logit. Verify measures the
 * logit before the cap (the quantity the graph's logit nodes stand for: the cap is not part of
 * attribution); in the real model (attention and norms recomputed) the measured effect of ablating each
 * of the graph's most influential features on every target's demeaned pre-cap logit equals the
 * reference's within 1e-4, verify's flags are the reference's under the same rule, and the capped
 * effects differ from it (so measuring after the cap would fail here). With attention and norms frozen,
 * the graph's predictions track the measured pre-cap effects (median ratio near 1). Near the cap, tanh shrinks each
 * change several-fold: measured after the cap, the graph's predictions would look 2–10× too large.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { computeAttribution } from '../../../src/engine/attribution/attribute';
import { influenceOnCsr } from '../../../src/engine/attribution/influence';
import { LINEAR_SEMANTICS, REAL_SEMANTICS } from '../../../src/engine/attribution/semantics';
import { contradicts, topFeatureNodes, verifyGroups } from '../../../src/engine/attribution/verify';
import { FIXTURES, loadFixture, PYTHON, readF32Tensors, ROOT } from '../attribution/helpers';

const F = FIXTURES.find((f) => f.model === 'gemma2-tiny')!;

test('verify on Gemma-2 (soft-capped logits) reproduces the PyTorch ablation in the real model', async () => {
  const { engine, modelDir, dictDir, bundle } = await loadFixture(F);
  assert.equal(bundle.spec.finalSoftcap, 3, 'the fixture caps its logits');
  const raw = await computeAttribution(engine, F.prompt);
  const ids = raw.tokens.map((t) => t.id);
  const targetIds = raw.targets.map((t) => t.tokenId);
  const groups = topFeatureNodes(raw, influenceOnCsr(raw.adjacency, raw.logitWeights), 8).map((k) => [k]);
  const report = await verifyGroups(engine, raw, groups, REAL_SEMANTICS);

  const dir = mkdtempSync(join(tmpdir(), 'ci-verify-gemma-'));
  writeFileSync(join(dir, 'jobs.json'), JSON.stringify(groups.map((g) => g.map((k) => [k.layer, k.position, k.feature]))));
  const r = spawnSync(PYTHON, [join(ROOT, 'tools/reference/intervene_ref.py'), '--model', modelDir, '--transcoders', dictDir, '--ids', ids.join(','), '--jobs', join(dir, 'jobs.json'), '--attention', 'recomputed', '--norms', 'recomputed', '--out', join(dir, 'o.safetensors')], { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '1' } });
  assert.equal(r.status, 0, r.stderr);
  const ref = readF32Tensors(join(dir, 'o.safetensors'));
  const demeaned = (row: Float32Array) => {
    let m = 0;
    for (const v of row) m += v;
    m /= row.length;
    return targetIds.map((id) => row[id] - m);
  };
  const cleanRow = ref.get('clean')!.data;
  // The reference's logits are soft-capped: all inside (−3, 3); before the cap they are not.
  assert.ok(cleanRow.every((v) => Math.abs(v) < 3), 'soft-capped logits');
  assert.ok(ref.get('clean_precap')!.data.some((v) => Math.abs(v) > 3), 'the pre-cap logits pass the cap');
  const clean = demeaned(ref.get('clean_precap')!.data);
  const cleanCapped = demeaned(cleanRow);
  let worst = 0, compared = 0, capGap = 0;
  report.groups.forEach((g, j) => {
    const after = demeaned(ref.get(`job_${j}_precap`)!.data);
    const afterCapped = demeaned(ref.get(`job_${j}`)!.data);
    g.effects.forEach((e, t) => {
      const want = after[t] - clean[t];
      capGap = Math.max(capGap, Math.abs(afterCapped[t] - cleanCapped[t] - want));
      worst = Math.max(worst, Math.abs(e.measured - want) / Math.max(1, Math.abs(want)));
      compared++;
      assert.equal(e.flagged, contradicts(e.predicted, want), `L${g.features[0].layer}#${g.features[0].feature}@${g.features[0].position} → ${e.token}: flag (predicted ${e.predicted}, measured ${e.measured}, reference ${want})`);
    });
  });
  console.log(`# gemma2-tiny real model: ${compared} effects, worst ${worst.toExponential(2)} (capped effects differ by up to ${capGap.toExponential(2)}); flagged ${report.groups.filter((g) => g.flagged).length}/${groups.length}`);
  assert.ok(capGap > 100 * Math.max(worst, 1e-6), 'the soft-cap changes the effects far beyond the tolerance');

  // In the graph's own setting (attention and norms frozen) the prediction tracks the pre-cap measurement
  // (the transcoders' thresholds keep it from being exact). After the cap it read 2–10× smaller.
  const linear = await verifyGroups(engine, raw, groups, LINEAR_SEMANTICS);
  const ratios = linear.groups.map((g) => g.effects[0].measured / g.effects[0].predicted).sort((a, b) => a - b);
  const median = ratios[Math.floor(ratios.length / 2)];
  console.log(`# gemma2-tiny attention and norms frozen, top target: measured / predicted ${ratios.map((r) => r.toFixed(2)).join(' ')}`);
  assert.ok(median > 0.67 && median < 1.5, `frozen setting: the median measured / predicted is ${median} (after the cap it would be several-fold smaller)`);
});
