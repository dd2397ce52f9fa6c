/**
 * Compare Decompositions from the editor: with the cursor in a prompt, the command computes the
 * decomposition report of every dictionary the embedded model ships (transcoders, CLT, SAE, e2e SAE)
 * in the engine worker and opens it beside the prompt: one row per dictionary with its kind, the graph it
 * gives and its figures; the page keeps its contrast in light, dark and both high-contrast themes
 * (measured from the page, with a screenshot of each).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { launchVsCode, type VsCode } from './harness';
import { waitForActivation } from './circuit';
import { measureContrast, setColorTheme, THEMES } from './contrast';

const FILE = 'e2e-decompositions.prompt';
const PROMPT = 'Dallas is in the state whose capital is';
let vs: VsCode;

before(async () => {
  vs = await launchVsCode({ name: 'decompositions', files: { [FILE]: `${PROMPT}\n` } });
  await waitForActivation(vs);
  await vs.openFile(FILE);
});
after(async () => {
  await vs?.close();
});

test('Compare Decompositions shows transcoders, CLT, SAE and e2e SAE side by side on the prompt', async () => {
  const frame = vs.webview('editor');
  const table = await vs.step('decompositions', async () => {
    await vs.runCommand('Circuit Inspector: Compare Decompositions');
    const t = frame.locator('[data-testid="decompositions-table"]');
    await t.waitFor({ timeout: 600_000 });
    return t;
  });
  assert.equal(await frame.locator('[data-testid="decompositions-prompt"]').innerText(), PROMPT);
  const kinds = await table.locator('td[data-col="kind"]').allInnerTexts();
  assert.deepEqual([...kinds].sort(), ['CLT', 'SAE', 'e2e SAE', 'transcoders']);
  const graphs = await table.locator('td[data-col="graph"]').allInnerTexts();
  assert.equal(graphs.filter((g) => /SAE graph/.test(g)).length, 2);
  // Every figure is a number (or a share): nothing left blank on the embedded model.
  for (const col of ['L0', 'FVU', 'KL spliced', 'replacement', 'completeness']) {
    const cells = await table.locator(`td[data-col="${col}"]`).allInnerTexts();
    assert.equal(cells.length, 4, col);
    for (const c of cells) assert.match(c.replace(' ★', ''), /^-?\d+(\.\d+)?(e-?\d+)?$/, `${col}: ${c}`);
  }
  await vs.screenshot('decompositions');
});

for (const theme of THEMES) {
  test(`decompositions view contrast in ${theme}: text ≥ 4.5:1, computed from the page`, async () => {
    const found = await vs.step(`theme-${theme.toLowerCase().replace(/ /g, '-')}`, async () => {
      await setColorTheme(vs, theme);
      await vs.page.waitForTimeout(800);
      const frame = await vs.webviewFrame('editor');
      return measureContrast(frame, 'h1, h2, p, th, td, dt, dd, code, .prompt, .star', []);
    });
    const bad = found.filter((f) => !(f.ratio >= f.min));
    assert.ok(found.length > 40, `only ${found.length} things were measured`);
    assert.deepEqual(bad.map((b) => `${b.what}: ${b.ratio.toFixed(2)} < ${b.min}`), []);
  });
}
