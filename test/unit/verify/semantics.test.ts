/**
 * One intervention semantics everywhere: the command line (`circuit-inspector intervene`) and the
 * editor's path (the worker's EngineService over the real engine adapter) give the same numbers for the
 * same intervention, both name the setting they used, and that setting is the engine's one default.
 * The test can fail: the two settings give different numbers for this intervention (asserted), so a
 * caller that silently used another default would disagree.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { DEFAULT_SEMANTICS, describeSemantics, resolveSemantics } from '../../../src/engine/attribution/semantics';
import { featureActivations } from '../../../src/engine/attribution/intervene';
import { EngineService } from '../../../src/worker/engine-service';
import { loadEngine, validateModelDir } from '../../../src/worker/engine-adapter';
import { CACHE_DIR, EMBEDDED, embeddedPresent, FIXTURES, loadFixture, ROOT } from '../attribution/helpers';

const F = embeddedPresent(EMBEDDED[0]) ? EMBEDDED[0] : FIXTURES[0];

function cli(args: string[]) {
  return spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src', 'cli.ts'), ...args], { cwd: ROOT, encoding: 'utf8' });
}

test('frozen norms need frozen attention; the default is named', () => {
  assert.throws(() => resolveSemantics({ attention: 'recomputed', norms: 'frozen' }), /Frozen norms need frozen attention/);
  assert.equal(describeSemantics(resolveSemantics()), `attention ${DEFAULT_SEMANTICS.attention}, norms ${DEFAULT_SEMANTICS.norms}`);
});

test(`CLI and editor give the same number for the same intervention (${F.model}/${F.transcoders})`, async () => {
  const { bundle, engine, modelDir, dictDir } = await loadFixture(F);
  const tokens = bundle.tokenizer.encode(F.prompt);
  const ids = tokens.map((t) => t.id);
  const T = ids.length;
  // The strongest layer-0 feature at position 1, scaled ×6: early enough that attention matters.
  const c = await engine.forward.runTokens(tokens);
  const x = c.hooks.get(engine.replacement.inputHook === 'resid_mid' ? 'blocks.0.hook_resid_mid' : 'blocks.0.ln2.hook_normalized')!.data;
  let best = 0, bestAct = 0;
  for (let f = 0; f < engine.replacement.layers[0].wEnc.rows; f++) {
    const a = featureActivations(engine.replacement, 0, f, x, T)[1];
    if (a > bestAct) [best, bestAct] = [f, a];
  }
  assert.ok(bestAct > 0, 'a layer-0 feature is active at position 1');
  const top = Array.from(c.logits.data.subarray((T - 1) * bundle.spec.vocabSize)).reduce((b, v, i, a) => (v > a[b] ? i : b), 0);

  const service = new EngineService(loadEngine, validateModelDir);
  const ctx = { signal: new AbortController().signal, progress: () => {} };
  await service.loadModel({ modelPath: modelDir, transcoderPath: dictDir, provider: 'cpu', threads: 1, cacheDir: CACHE_DIR }, ctx);
  const text = F.prompt;
  const spec = { layer: 0, feature: best, mode: 'scale' as const, value: 6, positions: [1] };
  const editor = await service.intervene({ text, interventions: [spec], k: 5, track: [top] }, ctx);
  const editorReal = await service.intervene({ text, interventions: [spec], k: 5, track: [top], semantics: { attention: 'recomputed' } }, ctx);

  const run = (extra: string[]) => {
    const r = cli(['intervene', '--model', modelDir, '--transcoders', dictDir, '--prompt', text, '--feature', `0:1:${best}=x6`, '--track', `#${top}`, '--json', '--provider', 'cpu', '--threads', '1', '--cache-dir', CACHE_DIR, ...extra]);
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout);
  };
  const cmd = run([]);
  const cmdReal = run(['--attention', 'recomputed']);

  assert.deepEqual(cmd.semantics, DEFAULT_SEMANTICS);
  assert.deepEqual(editor.semantics, DEFAULT_SEMANTICS);
  assert.deepEqual(cmdReal.semantics, { attention: 'recomputed', norms: 'recomputed' });
  assert.deepEqual(editorReal.semantics, cmdReal.semantics);
  const close = (a: number, b: number) => Math.abs(a - b) <= 1e-5 * Math.max(1, Math.abs(b));
  assert.ok(close(editor.tracked![0].logitAfter, cmd.tracked[0].logitAfter), `default: editor ${editor.tracked![0].logitAfter} vs CLI ${cmd.tracked[0].logitAfter}`);
  assert.ok(close(editorReal.tracked![0].logitAfter, cmdReal.tracked[0].logitAfter), `recomputed: editor ${editorReal.tracked![0].logitAfter} vs CLI ${cmdReal.tracked[0].logitAfter}`);
  assert.ok(!close(cmd.tracked[0].deltaLogit, cmdReal.tracked[0].deltaLogit), 'the two settings differ for this intervention');
  editor.after.forEach((p, i) => assert.ok(close(p.logit!, cmd.after[i].logit), `prediction ${i}`));
});

test('verify on the command line: the named setting, flags and faithfulness in JSON', () => {
  const r = cli(['verify', '--model', join(ROOT, 'test/fixtures/models/llama-tiny'), '--transcoders', join(ROOT, 'test/fixtures/transcoders/llama-tiny'), '--prompt', FIXTURES[0].prompt, '--top', '2', '--subgraph', 'top:3', '--json', '--provider', 'cpu', '--threads', '1', '--cache-dir', CACHE_DIR]);
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.deepEqual(j.semantics, { attention: 'recomputed', norms: 'recomputed' });
  assert.equal(j.groups.length, 2);
  for (const g of j.groups) for (const e of g.effects) assert.ok(Number.isFinite(e.predicted) && Number.isFinite(e.measured) && typeof e.flagged === 'boolean');
  assert.equal(j.faithfulness.kept, 3);
  const bad = cli(['verify', '--prompt', 'x', '--node', 'L3x']);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /expected L<layer>#<feature>/);
});
