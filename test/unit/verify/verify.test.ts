/**
 * `verify` against an independent PyTorch ablation (tools/reference/intervene_ref.py, float64):
 * - on the embedded model's Dallas two-hop prompt, the measured effect of ablating each of the graph's
 *   most influential features on every target logit equals the reference's within 1e-4, with attention
 *   and norms frozen (the graph's own setting, real MLPs) and in the real model (nothing frozen);
 * - the features flagged (measured contradicts the graph's linear prediction in sign or by more than 2×)
 *   are exactly those the reference's measurements flag under the same rule; in the real model some are;
 * - keeping the full graph with errors kept recovers the target logits exactly (faithfulness 1); keeping
 *   no feature recovers nothing (0 by definition), and with errors ablated the full graph recovers less.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { computeAttribution } from '../../../src/engine/attribution/attribute';
import { influenceOnCsr } from '../../../src/engine/attribution/influence';
import { LINEAR_SEMANTICS, REAL_SEMANTICS, type InterventionSemantics } from '../../../src/engine/attribution/semantics';
import { allFeatures, contradicts, subgraphFaithfulness, topFeatureNodes, verifyGroups } from '../../../src/engine/attribution/verify';
import { EMBEDDED, embeddedPresent, FIXTURES, loadFixture, PYTHON, readF32Tensors, ROOT } from '../attribution/helpers';

const CASES = embeddedPresent(EMBEDDED[0]) ? EMBEDDED : [FIXTURES[0], FIXTURES[4]];

function reference(modelDir: string, dictDir: string, ids: number[], jobs: number[][][], s: InterventionSemantics) {
  const dir = mkdtempSync(join(tmpdir(), 'ci-verify-'));
  writeFileSync(join(dir, 'jobs.json'), JSON.stringify(jobs));
  const r = spawnSync(PYTHON, [join(ROOT, 'tools/reference/intervene_ref.py'), '--model', modelDir, '--transcoders', dictDir, '--ids', ids.join(','), '--jobs', join(dir, 'jobs.json'), '--attention', s.attention, '--norms', s.norms, '--out', join(dir, 'o.safetensors')], { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '1' } });
  if (r.status !== 0) throw new Error(`intervene_ref.py failed: ${r.stderr}`);
  return readF32Tensors(join(dir, 'o.safetensors'));
}

function demeaned(row: Float32Array, ids: number[]): number[] {
  let m = 0;
  for (const v of row) m += v;
  m /= row.length;
  return ids.map((id) => row[id] - m);
}

for (const F of CASES) {
  test(`verify reproduces the PyTorch ablation and its flags: ${F.model}/${F.transcoders}`, async () => {
    const { engine, modelDir, dictDir } = await loadFixture(F);
    const raw = await computeAttribution(engine, F.prompt);
    const ids = raw.tokens.map((t) => t.id);
    const targetIds = raw.targets.map((t) => t.tokenId);
    const top = topFeatureNodes(raw, influenceOnCsr(raw.adjacency, raw.logitWeights), 10);
    const groups = top.map((k) => [k]);
    let realFlags = 0;
    for (const s of [LINEAR_SEMANTICS, REAL_SEMANTICS]) {
      const report = await verifyGroups(engine, raw, groups, s);
      assert.deepEqual(report.semantics, s);
      const ref = reference(modelDir, dictDir, ids, groups.map((g) => g.map((k) => [k.layer, k.position, k.feature])), s);
      const clean = demeaned(ref.get('clean')!.data, targetIds);
      let worst = 0;
      report.groups.forEach((g, j) => {
        const after = demeaned(ref.get(`job_${j}`)!.data, targetIds);
        g.effects.forEach((e, t) => {
          const want = after[t] - clean[t];
          const err = Math.abs(e.measured - want) / Math.max(1, Math.abs(want));
          worst = Math.max(worst, err);
          assert.equal(e.flagged, contradicts(e.predicted, want), `${s.attention}/${s.norms}: L${g.features[0].layer}#${g.features[0].feature}@${g.features[0].position} → ${e.token}: flag (predicted ${e.predicted}, measured ${e.measured}, reference ${want})`);
        });
      });
      assert.ok(worst <= 1e-4, `${s.attention}/${s.norms}: measured effects differ from the reference by ${worst}`);
      const flagged = report.groups.filter((g) => g.flagged).map((g) => `L${g.features[0].layer}#${g.features[0].feature}@${g.features[0].position}`);
      console.log(`# ${F.transcoders} ${report.setting}: worst ${worst.toExponential(2)}; flagged ${flagged.length}/${groups.length}: ${flagged.join(' ')}`);
      if (s === REAL_SEMANTICS) realFlags = flagged.length;
    }
    if (F.model === 'toy-llama') assert.ok(realFlags > 0, 'in the real model, some features contradict the graph on the Dallas prompt');

    for (const s of [LINEAR_SEMANTICS, REAL_SEMANTICS]) {
      const full = await subgraphFaithfulness(engine, raw, allFeatures(raw), s);
      assert.equal(full.kept, full.active);
      for (const t of full.errorsKept) assert.ok(Math.abs(t.recovered - 1) < 1e-4, `${t.token}: full graph, errors kept: ${t.recovered}`);
      const top0 = full.errorsAblated[0];
      assert.ok(Number.isFinite(top0.recovered), 'errors ablated: a number');
      const part = await subgraphFaithfulness(engine, raw, top, s);
      console.log(`# ${F.transcoders} ${full.setting}: full graph errors ablated ${top0.recovered.toFixed(3)}; top-${top.length} errors kept ${part.errorsKept[0].recovered.toFixed(3)}, ablated ${part.errorsAblated[0].recovered.toFixed(3)}`);
    }
  });
}
