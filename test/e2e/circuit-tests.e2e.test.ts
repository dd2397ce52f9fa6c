/**
 * Circuit tests in the Testing view: a prompt file mixing true and false `expect` lines appears as a
 * test tree (file → prompt block → expectations); Run All Tests marks exactly the false expectations
 * failed (the same lines `circuit-inspector test` reports, test/unit/circuit-tests), and a failure's
 * message opens at its line.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { launchVsCode, type VsCode } from './harness';
import { fillTwoHopFixture, type TwoHopFill } from '../unit/circuit-tests/two-hop-fixture';
import { waitForActivation } from './circuit';

const FILE = 'two-hop-tests.prompt';
// 1-based lines of the expectations the unit test (test/unit/circuit-tests) shows false and true.
const FALSE_LINES = [3, 6, 8, 10, 11, 18];
const TRUE_LINES = [2, 4, 5, 7, 9, 12, 13, 17];

let vs: VsCode;
let fill: TwoHopFill;

before(async () => {
  // The fixture's model-dependent names (a feature, a label, a second city) filled from the embedded
  // model, as the unit test does (test/unit/circuit-tests/two-hop-fixture.ts).
  fill = await fillTwoHopFixture();
  assert.ok(fill.text.split('\n')[2].startsWith('expect top1 Houston'), 'the fixture is the one the unit test checks');
  vs = await launchVsCode({ name: 'circuit-tests', files: { [FILE]: fill.text } });
  await waitForActivation(vs);
});
after(async () => {
  await vs?.close();
});

/** Lines (1-based) carrying the Testing view's failed / passed glyphs in the editor, and the inline messages by line. */
async function gutter(): Promise<{ failed: number[]; passed: number[]; text: string }> {
  // A string, not a function: the test runner's TypeScript transform would add helpers the page lacks.
  return vs.page.evaluate(GUTTER_JS) as Promise<{ failed: number[]; passed: number[]; text: string }>;
}

const GUTTER_JS = `(() => {
  const ed = document.querySelector('.part.editor .monaco-editor');
  if (!ed) return { failed: [], passed: [], messages: {} };
  // Each margin / glyph element sits in a row positioned by its style.top; line numbers map tops to lines.
  const topOf = (e) => {
    for (let x = e; x && x !== ed; x = x.parentElement) if (x.style && x.style.top) return Math.round(parseFloat(x.style.top));
    return NaN;
  };
  const lineTop = new Map();
  for (const l of ed.querySelectorAll('.line-numbers')) lineTop.set(topOf(l), Number(l.innerText.trim()));
  const lines = (sel) => [...new Set([...ed.querySelectorAll(sel)].map((e) => lineTop.get(topOf(e))).filter((n) => n !== undefined))].sort((a, b) => a - b);
  return { failed: lines('.codicon-testing-failed-icon'), passed: lines('.codicon-testing-passed-icon'), text: ed.innerText };
})()`;

test('Run All Tests: the Testing view fails exactly the false expectations, each message at its line', async () => {
  await vs.step('open-testing-view', async () => {
    await vs.openFile(FILE);
    await vs.runCommand('Testing: Focus on Test Explorer View');
    await vs.page.locator('.test-explorer .monaco-list-row').first().waitFor({ timeout: 60_000 });
  });
  const g = await vs.step('run-all', async () => {
    await vs.runCommand('Test: Run All Tests');
    // Done when every expectation line (and both blocks) carries a result glyph in the editor.
    const want = FALSE_LINES.length + TRUE_LINES.length + 2;
    const deadline = Date.now() + 300_000;
    let seen = await gutter();
    while (seen.failed.length + seen.passed.length < want && Date.now() < deadline) {
      await vs.page.waitForTimeout(1000);
      seen = await gutter();
    }
    await vs.page.waitForTimeout(800);
    return gutter();
  });
  assert.deepEqual(g.failed, [1, ...FALSE_LINES, 15].sort((a, b) => a - b), `failed glyphs: ${JSON.stringify(g)}`);
  assert.deepEqual(g.passed, TRUE_LINES);
  // The failures' messages, inline beside their lines.
  assert.match(g.text, /top 1: "Austin"/, g.text);
  assert.match(g.text, /needs ≥ \+2\) with attention frozen, norms recomputed/);
  assert.match(g.text, new RegExp(`"${fill.city2} is in the state whose capital is": Dallas is not in the graph`));
  assert.match(await vs.page.locator('.test-explorer').first().innerText(), /8\/16/, 'the summary: 8 of 16 passed');
});
