/**
 * The compare view opened from a prompt's counterfactual: a prompt block with a `counterfactual:` line
 * gets a "Compare with counterfactual" CodeLens; the command analyses both prompts and opens the
 * compare view beside the prompt, whose answers, token alignment and one-sided features say what the
 * substitution changed; its text and marks keep their contrast in light, dark and both high-contrast
 * themes (measured from the page, with a screenshot of each).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { launchVsCode, type VsCode } from './harness';
import { waitForActivation } from './circuit';
import { measureContrast, setColorTheme, THEMES } from './contrast';

const FILE = 'e2e-counterfactual.prompt';
const PROMPT = 'Louisville is in the state whose capital is';
const COUNTERFACTUAL = 'Dallas is in the state whose capital is';
let vs: VsCode;

before(async () => {
  vs = await launchVsCode({ name: 'compare', files: { [FILE]: `${PROMPT}\ncounterfactual: ${COUNTERFACTUAL}\n` } });
  await waitForActivation(vs);
  await vs.openFile(FILE);
});
after(async () => {
  await vs?.close();
});

test('Compare with Counterfactual opens the compare view with both answers and the substituted token', async () => {
  await vs.step('codelens', () => vs.page.locator('.codelens-decoration a', { hasText: 'Compare with counterfactual' }).first().waitFor({ timeout: 60_000 }));
  const frame = vs.webview('editor');
  const summary = await vs.step('compare', async () => {
    await vs.runCommand('Circuit Inspector: Compare with Counterfactual');
    const s = frame.locator('[data-testid="compare-summary"]');
    await s.waitFor({ timeout: 600_000 });
    return s.innerText();
  });
  assert.match(summary, /only in A/);
  assert.match(summary, /only in B/);
  const targets = await frame.locator('[data-testid="compare-targets"]').innerText();
  assert.match(targets, /Frankfort/);
  assert.match(targets, /Austin/);
  assert.match(await frame.locator('[data-testid="compare-alignment"]').innerText(), /1 substituted/);
  assert.match(await frame.locator('[data-testid="compare-side-b"]').innerText(), new RegExp(COUNTERFACTUAL));
  const onlyA = await frame.locator('circle[data-status="onlyA"]').count();
  const onlyB = await frame.locator('circle[data-status="onlyB"]').count();
  assert.ok(onlyA > 0 && onlyB > 0, `overlay shows ${onlyA} A-only and ${onlyB} B-only nodes`);
  assert.equal(await frame.locator('[data-testid="compare-layer-label"]').count(), 6, 'Emb, L0–L3, Logits');
  await vs.screenshot('compare-counterfactual');
});

for (const theme of THEMES) {
  test(`compare view contrast in ${theme}: text ≥ 4.5:1, nodes and edges ≥ 3:1, computed from the page`, async () => {
    const found = await vs.step(`theme-${theme.toLowerCase().replace(/ /g, '-')}`, async () => {
      await setColorTheme(vs, theme);
      await vs.page.waitForTimeout(800);
      const frame = await vs.webviewFrame('editor');
      return measureContrast(frame, 'p, th, td, span, b, summary, .prompt, svg text', [
        { selector: 'circle.node:not(.error)', property: 'fill' },
        { selector: 'line.edge', property: 'stroke' },
      ]);
    });
    const bad = found.filter((f) => !(f.ratio >= f.min));
    assert.ok(found.length > 20, `only ${found.length} things were measured`);
    assert.deepEqual(bad.map((b) => `${b.what}: ${b.ratio.toFixed(2)} < ${b.min}`), []);
  });
}
