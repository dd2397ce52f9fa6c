/**
 * Circuit tests in the Testing view: a prompt file mixing true and false `expect` lines appears as a
 * test tree (file → prompt block → expectations); Run All Tests marks exactly the false expectations
 * failed (the same lines `circuit-inspector test` reports, test/unit/circuit-tests), and a failure's
 * message opens at its line.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { launchVsCode, repoRoot, type VsCode } from './harness';
import { waitForActivation } from './circuit';

const FILE = 'two-hop-tests.prompt';
const TEXT = readFileSync(join(repoRoot, 'test/fixtures/circuit-tests/two-hop.prompt'), 'utf8');
const lines = TEXT.split('\n');
// 0-based lines of the expectations the unit test shows to be false.
const FALSE = [3, 6, 8, 10, 11, 18].map((l) => lines[l - 1].trim());
const TRUE = [2, 4, 5, 7, 9, 12, 13, 17].map((l) => lines[l - 1].trim());

let vs: VsCode;

before(async () => {
  vs = await launchVsCode({ name: 'circuit-tests', files: { [FILE]: TEXT } });
  await waitForActivation(vs);
});
after(async () => {
  await vs?.close();
});

/** The Testing view's rows: label and the state VS Code gives each (from its aria-label). */
async function rows(): Promise<{ label: string; aria: string }[]> {
  return vs.page.locator('.test-explorer .monaco-list-row').evaluateAll((els) =>
    els.map((e) => ({ label: (e.querySelector('.label-name') as HTMLElement | null)?.innerText ?? (e as HTMLElement).innerText, aria: e.getAttribute('aria-label') ?? '' })),
  );
}

test('the Testing view shows the expectations and fails exactly the false ones', async () => {
  await vs.step('open-testing-view', async () => {
    await vs.openFile(FILE);
    await vs.runCommand('Testing: Focus on Test Explorer View');
    await vs.page.locator('.test-explorer .monaco-list-row').first().waitFor({ timeout: 60_000 });
    await vs.runCommand('Test: Expand All Tests').catch(() => undefined);
  });
  await vs.step('run-all', async () => {
    await vs.runCommand('Test: Run All Tests');
    // Done when no row is queued or running and every expectation row has a result.
    await vs.page.waitForFunction(
      (n) => {
        const r = [...document.querySelectorAll('.test-explorer .monaco-list-row')];
        const done = r.filter((e) => /\b(Passed|Failed|Errored)\b/i.test(e.getAttribute('aria-label') ?? ''));
        return done.length >= n && !r.some((e) => /\b(Queued|Running)\b/i.test(e.getAttribute('aria-label') ?? ''));
      },
      FALSE.length + TRUE.length,
      { timeout: 300_000, polling: 1000 },
    );
  });
  const rs = await vs.step('results', async () => {
    await vs.page.waitForTimeout(800);
    return rows();
  });
  const state = (label: string) => rs.find((r) => r.label.trim() === label)?.aria ?? '';
  for (const l of FALSE) assert.match(state(l), /Failed/i, `${l}: ${state(l)}`);
  for (const l of TRUE) assert.match(state(l), /Passed/i, `${l}: ${state(l)}`);
});

test("a failure's message opens at its line", async () => {
  await vs.step('peek-failure', async () => {
    const row = vs.page.locator('.test-explorer .monaco-list-row', { hasText: 'expect top1 Houston' }).first();
    await row.dblclick();
    const peek = vs.page.locator('.test-output-peek, .peekview-widget').first();
    await peek.waitFor({ timeout: 30_000 });
    await vs.page.waitForTimeout(800);
    const text = await peek.innerText();
    assert.match(text, /top 1: "Austin"/, text);
  });
});
