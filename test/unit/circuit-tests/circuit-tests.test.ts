/**
 * Circuit tests: the syntax (errors per line, paraphrase families), and `circuit-inspector test` on a
 * prompt file mixing true and false expectations on the embedded model: exactly the false ones fail,
 * with their line numbers, in TAP and JUnit, exit code 1. Truth comes from outside the runner: the
 * model's logits (top1), an intervention through the engine API (ablate), the attribution graph
 * (in-graph), and structure (a logit has no out-edges, so no path leaves Austin).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { attribute } from '../../../src/engine/attribution/attribute';
import { interveneWith } from '../../../src/engine/attribution/intervene';
import { expandFamily, parseBlockLines } from '../../../src/engine/circuit-tests/syntax';
import { globRegex } from '../../../src/cli/test';
import { testItemsOf } from '../../../src/extension/circuit-tests/test-items';
import { CACHE_DIR, EMBEDDED, embeddedPresent, loadFixture, ROOT } from '../attribution/helpers';
import { fillTwoHopFixture } from './two-hop-fixture';

function cli(args: string[]) {
  return spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src', 'cli.ts'), ...args], { cwd: ROOT, encoding: 'utf8' });
}

test('syntax: every documented form parses; mistakes are per-line errors', () => {
  const lines = [
    'group Texas = L2#5, "state Texas"',
    'expect top1 Austin',
    'expect top 3 " Austin"',
    'expect path Dallas -> "state Texas" -> L3#95@8 -> Texas -> Austin',
    'expect ablate L3#95 lowers Austin by >= 2',
    'expect in-graph "state Texas" at 0.8',
    'expect not in-graph L1#2',
    'expect path Dallas',
    'expect ablate L3#95 lowers Austin by 2',
    'expect in-graph x at 2',
    'expect top 0 Austin',
    'expect "top1" Austin',
    'expect path "unclosed -> Austin',
  ].map((text, line) => ({ line, text }));
  const p = parseBlockLines(lines);
  assert.deepEqual(p.groups.get('Texas'), [{ kind: 'feature', layer: 2, feature: 5, position: undefined }, { kind: 'label', text: 'state Texas' }]);
  const [top1, top3, path, ablate, inGraph, notIn, ...bad] = p.items;
  assert.deepEqual(top1.expectation, { kind: 'top', k: 1, token: 'Austin' });
  assert.deepEqual(top3.expectation, { kind: 'top', k: 3, token: ' Austin' });
  assert.deepEqual(path.expectation, { kind: 'path', nodes: [{ kind: 'token', text: 'Dallas' }, { kind: 'label', text: 'state Texas' }, { kind: 'feature', layer: 3, feature: 95, position: 8 }, { kind: 'group', name: 'Texas' }, { kind: 'token', text: 'Austin' }] });
  assert.deepEqual(ablate.expectation, { kind: 'ablate', node: { kind: 'feature', layer: 3, feature: 95, position: undefined }, direction: 'lowers', token: 'Austin', by: 2 });
  assert.deepEqual(inGraph.expectation, { kind: 'in-graph', node: { kind: 'label', text: 'state Texas' }, negate: false, threshold: 0.8 });
  assert.equal(notIn.expectation?.kind === 'in-graph' && notIn.expectation.negate, true);
  assert.deepEqual(bad.map((b) => [b.line, !!b.error, b.expectation]), [7, 8, 9, 10, 11, 12].map((l) => [l, true, undefined]));
  assert.match(bad[1].error!, /ablate NODE lowers\|raises TOKEN by >= X/);
  assert.match(bad[5].error!, /unclosed quote/);
});

test('paraphrase families expand to every combination; globs', () => {
  assert.deepEqual(expandFamily('{Dallas|Houston} is in {Texas|the state}'), ['Dallas is in Texas', 'Dallas is in the state', 'Houston is in Texas', 'Houston is in the state']);
  assert.deepEqual(expandFamily('no family {here}'), ['no family {here}']);
  assert.throws(() => expandFamily('{a|b}{a|b}{a|b}', 4), /more than 4 variants/);
  assert.ok(globRegex('**/*.prompt').test('examples/two-hop.prompt') && globRegex('**/*.prompt').test('a.prompt'));
  assert.ok(!globRegex('*.prompt').test('examples/two-hop.prompt'));
});

test('circuit-inspector test reports exactly the false expectations, with line numbers', { skip: !embeddedPresent(EMBEDDED[0]) && 'embedded model not built' }, async () => {
  // The fixture's model-dependent names (a feature, a label, a second city) are filled from the model
  // at run time (two-hop-fixture.ts), each with its own independent evidence.
  const fill = await fillTwoHopFixture();
  console.log(`# fixture filled from the model: <FEATURE> L${fill.feature.layer}#${fill.feature.index} (ablating it moves Austin ${fill.ablationDelta.toFixed(2)}), <LABEL> ${JSON.stringify(fill.label)}, <CITY2> ${fill.city2}`);
  const dir = mkdtempSync(join(tmpdir(), 'ci-circuit-tests-'));
  const file = join(dir, 'two-hop.prompt');
  writeFileSync(file, fill.text);
  const tap = cli(['test', file, '--cache-dir', CACHE_DIR, '--threads', '1', '--provider', 'cpu']);
  assert.equal(tap.status, 1, tap.stderr);
  const failing = [...tap.stdout.matchAll(/^not ok \d+ - .*two-hop\.prompt:(\d+) /gm)].map((m) => Number(m[1]));
  const passing = [...tap.stdout.matchAll(/^ok \d+ - .*two-hop\.prompt:(\d+) /gm)].map((m) => Number(m[1]));
  assert.deepEqual(failing, [3, 6, 8, 10, 11, 18], `${JSON.stringify({ feature: fill.feature, label: fill.label, city2: fill.city2 })}\n${tap.stdout}`);
  assert.deepEqual(passing, [2, 4, 5, 7, 9, 12, 13, 17]);
  assert.match(tap.stdout, /^1\.\.14$/m);
  assert.match(tap.stdout, /stability over 2 variants/);

  // Independent truth for the model-dependent lines.
  const { engine, dictionary, bundle } = await loadFixture(EMBEDDED[0]);
  const prompt = 'Dallas is in the state whose capital is';
  const c = await engine.forward.run(bundle.tokenizer.encode(prompt).map((t) => t.id));
  const V = bundle.spec.vocabSize, T = c.tokens.length;
  const row = c.logits.data.subarray((T - 1) * V);
  const top = row.reduce((b, v, i, a) => (v > a[b] ? i : b), 0);
  assert.equal(bundle.tokenizer.tokenText(top).trim(), 'Austin', 'line 2 true, line 3 false');
  const austin = top;
  const { layer, index } = fill.feature;
  const r = await interveneWith(engine, prompt, [{ layer, feature: index, mode: 'ablate' }], { track: [austin] });
  assert.ok(r.tracked[0].deltaLogit <= -2, `line 9 true, line 10 false: ${r.tracked[0].deltaLogit}`);
  assert.match(tap.stdout, new RegExp(`logit ${r.tracked[0].logitBefore.toFixed(3)} → ${r.tracked[0].logitAfter.toFixed(3)}`), 'the failure message shows the measured logits');
  const g = await attribute(bundle, dictionary, prompt, { nodeThreshold: 0.8, runtime: { cacheDir: CACHE_DIR, threads: 1, provider: 'cpu' } });
  assert.ok(g.nodes.some((n) => n.kind === 'feature' && n.layer === layer && n.index === index), 'line 7 true, line 8 false');
  assert.ok(g.nodes.some((n) => n.kind === 'feature' && n.label.toLowerCase().includes(fill.label.toLowerCase())), 'line 13 true');

  const junit = cli(['test', file, '--reporter', 'junit', '--cache-dir', CACHE_DIR, '--threads', '1', '--provider', 'cpu']);
  assert.equal(junit.status, 1);
  assert.match(junit.stdout, /<testsuites name="circuit-inspector" tests="14" failures="6">/);
  assert.deepEqual([...junit.stdout.matchAll(/line="(\d+)">\n\s*<failure/g)].map((m) => Number(m[1])), failing);
  rmSync(dir, { recursive: true, force: true });
});

test('Testing view items: a block per prompt with expect lines, a child per expectation, group lines excluded', () => {
  const doc = 'no tests here\n---\nDallas is in\ngroup T = L0#1\n  expect top1 Austin  \nexpect path Dallas -> T\n';
  const items = testItemsOf(doc, 'prompt');
  assert.equal(items.length, 1);
  assert.equal(items[0].line, 2);
  assert.deepEqual(items[0].expectations.map((e) => [e.line, e.label, e.startCol, e.endCol]), [[4, 'expect top1 Austin', 2, 20], [5, 'expect path Dallas -> T', 0, 23]]);
});
