/**
 * A newcomer's first ten minutes, as `npm start` sets them up (scripts/start-profile.mjs): its clean
 * settings and its own copy of examples/ outside the sources. New Prompt opens a prompt of words the
 * embedded model knows; saved as a file, a word the model does not know is underlined with a message
 * saying which word and what to write, and its quick fix removes the underline; the completion list
 * offers the vocabulary; two blocks of the file are analysed one after the other and each keeps its own
 * hover; Save Graph writes one file per block and asks before replacing one.
 * The steps share one session and build on each other, in order.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Locator } from 'playwright-core';
import { launchVsCode, type VsCode } from './harness';
import { graphSummary, SAVE_GRAPH, waitForActivation } from './circuit';
import { START_SETTINGS, prepareStartWorkspace } from '../../scripts/start-profile.mjs';
import { NEW_PROMPT_TEMPLATE } from '../../src/shared/new-prompt';

const FILE = 'first.prompt';
const BLOCK1 = 'the capital of Texas is';
const BLOCK2 = 'Dallas is in the state whose capital is';
let vs: VsCode;
let home: string;

before(async () => {
  home = mkdtempSync(join(tmpdir(), 'ci-first-run-'));
  const workspace = prepareStartWorkspace(join(home, 'workspace'));
  vs = await launchVsCode({ name: 'first-run', workspace, settings: START_SETTINGS });
});
after(async () => {
  await vs?.close();
  if (home) rmSync(home, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The text of the active editor's lines, top to bottom (Monaco renders spaces as U+00A0). */
async function editorLines(): Promise<string[]> {
  return vs.activeEditor().locator('.view-lines').evaluate((root) =>
    Array.from(root.querySelectorAll('.view-line'))
      .sort((a, b) => a.getBoundingClientRect().top - b.getBoundingClientRect().top)
      .map((l) => (l.textContent ?? '').replace(/\u00a0/g, ' ')),
  );
}

/** The "Analyze" CodeLens links of the active editor, top to bottom. */
async function analyzeLenses() {
  const lenses = vs.activeEditor().locator('.codelens-decoration a', { hasText: /^\s*\S*\s*Analyze\s*$/ });
  await lenses.first().waitFor({ timeout: 60_000 });
  const tops = await lenses.evaluateAll((as) => as.map((a) => a.getBoundingClientRect().top));
  return tops.map((top, i) => ({ top, i })).sort((a, b) => a.top - b.top).map(({ i }) => lenses.nth(i));
}

/** Waits until `n` blocks show their "Show Graph" CodeLens (each appears once that block's graph exists). */
async function waitForShowGraphLenses(n: number, timeout = 300_000): Promise<void> {
  const lenses = vs.activeEditor().locator('.codelens-decoration a', { hasText: 'Show Graph' });
  const deadline = Date.now() + timeout;
  while ((await lenses.count()) < n) {
    const error = vs.page.locator('.notifications-toasts .notification-toast').filter({ has: vs.page.locator('.codicon-error') });
    if (await error.count()) throw new Error(`Analyze reported: ${await error.first().innerText()}`);
    if (Date.now() > deadline) throw new Error(`${n} blocks were not analysed in ${timeout / 1000} s`);
    await sleep(250);
  }
}

/**
 * Runs `act` until `target` shows (up to `tries` times, 15 s each): a key press can be lost while a
 * loaded machine is still settling the editor.
 */
async function untilVisible(target: Locator, act: () => Promise<void>, tries = 4): Promise<void> {
  for (let i = 1; ; i++) {
    await act();
    try {
      await target.waitFor({ state: 'visible', timeout: 15_000 });
      return;
    } catch (e) {
      if (i >= tries) throw e;
    }
  }
}

/**
 * The hover at the start of the line holding `lineText`, opened from the keyboard (Show Hover,
 * Ctrl+K Ctrl+I, with the cursor there): what a mouse hover shows, without the mouse's timing.
 */
async function problemHover(lineText: string, expect: RegExp): Promise<string> {
  const hover = vs.page.locator('.monaco-hover:not(.hidden)').filter({ hasText: expect });
  await untilVisible(hover.first(), async () => {
    await vs.page.keyboard.press('Escape');
    await vs.clickText(lineText);
    await vs.page.keyboard.press('Control+K');
    await vs.page.keyboard.press('Control+I');
  });
  await sleep(300);
  return (await hover.first().innerText()).trim();
}

/** Closes any open hover: a hover left open over the next line would answer for the word beneath it. */
async function closeHover(): Promise<void> {
  await vs.page.mouse.move(5, 500);
  await vs.page.keyboard.press('Escape');
  await vs.page.locator('.monaco-hover:not(.hidden)').filter({ has: vs.page.locator('.hover-contents, .hover-row') }).first().waitFor({ state: 'hidden', timeout: 10_000 }).catch(() => {});
}

async function freshHover(word: string, nth: number, expect: RegExp): Promise<string> {
  await closeHover();
  return vs.hoverText(word, { nth, expect });
}

/** The modal dialog's message and buttons (VS Code's own dialog, drawn in the workbench). */
function dialog() {
  return vs.page.locator('.monaco-dialog-box');
}

test('the first screen is clean: no Welcome page, no Chat, no Restricted Mode; the model is in the status bar', async () => {
  const status = await vs.step('first-screen', () => waitForActivation(vs));
  assert.match(status, /toy-llama/);
  assert.equal(await vs.page.locator('.tabs-container .tab').count(), 0, 'an editor (Welcome?) is open on the first screen');
  assert.equal(await vs.page.locator('.part.auxiliarybar:visible').count(), 0, 'the secondary side bar (Chat) is open');
  assert.doesNotMatch(await vs.page.locator('.part.statusbar').innerText(), /Restricted Mode/);
  // The workspace is npm start's copy of the examples, not the repository's own folder.
  assert.ok(!vs.workspace.includes('/examples') && existsSync(join(vs.workspace, 'two-hop.prompt')), vs.workspace);
});

test('New Prompt opens a prompt in the embedded model\'s language: two blocks, no word underlined', async () => {
  const lines = await vs.step('new-prompt', async () => {
    await vs.runCommand('Circuit Inspector: New Prompt');
    await vs.page.locator('.tabs-container .tab.active', { hasText: /Untitled-\d/ }).waitFor();
    await vs.activeEditor().locator('.view-line', { hasText: 'Dallas' }).waitFor();
    // Saved as a file of the workspace, the way a user keeps it (the simple file dialog of code-server).
    await vs.page.keyboard.press('Control+S');
    const input = vs.page.locator('.quick-input-widget .quick-input-box input');
    await input.waitFor();
    // The dialog fills in its suggested path a moment after it opens (the prompt's first line as the
    // name); typing before that would be overwritten, so wait for it, then replace it.
    const target = join(vs.workspace, FILE);
    const deadline = Date.now() + 30_000;
    while (!/\.prompt$/.test(await input.inputValue()) && Date.now() < deadline) await sleep(200);
    for (let i = 0; i < 5 && (await input.inputValue()) !== target; i++) {
      await input.fill(target);
      await sleep(300);
    }
    assert.equal(await input.inputValue(), target);
    await vs.page.keyboard.press('Enter');
    await vs.page.locator('.tabs-container .tab.active', { hasText: FILE }).waitFor();
    await sleep(1000); // the debounced word check has run on the opened file
    return editorLines();
  });
  assert.deepEqual(lines.filter((l) => l.trim()), NEW_PROMPT_TEMPLATE.trim().split('\n'));
  assert.equal(await vs.activeEditor().locator('.squiggly-warning').count(), 0, 'the template holds a word the model does not know');
  assert.equal(readFileSync(join(vs.workspace, FILE), 'utf8'), NEW_PROMPT_TEMPLATE);
});

test('a word the model does not know is underlined, and the hover says which word and what to write', async () => {
  const hover = await vs.step('unknown-word', async () => {
    await vs.activeEditor().click();
    await vs.page.keyboard.press('Control+End');
    await vs.page.keyboard.type('---\nThe capital of California is ');
    await vs.activeEditor().locator('.squiggly-warning').first().waitFor({ timeout: 30_000 });
    await vs.page.keyboard.press('Escape');
    // The hover of "The" itself: under load the debounced check can run while the line is still being
    // typed and underline the partial word ("T") first, then replace that diagnostic.
    return problemHover('The capital of California', /"The" is not a word/);
  });
  assert.match(hover, /"The" is not a word toy-llama knows: it reads it as <unk>\. Write "the" instead\./, hover);
  assert.equal(await vs.activeEditor().locator('.squiggly-warning').count(), 1, 'one word is underlined');
});

test('a completion from the vocabulary is accepted; the quick fix rewrites the unknown word; no underline is left', async () => {
  const lines = await vs.step('completion', async () => {
    await vs.page.mouse.move(5, 500);
    await vs.page.keyboard.press('Escape');
    await vs.activeEditor().click();
    await vs.page.keyboard.press('Control+End');
    await vs.page.keyboard.type('Sacr');
    await vs.page.keyboard.press('Control+Space');
    const row = vs.page.locator('.suggest-widget.visible .monaco-list-row', { hasText: 'Sacramento' });
    await row.first().waitFor({ timeout: 30_000 });
    const text = await row.first().innerText();
    assert.match(text, /a word toy-llama knows/, `the completion is not the vocabulary's: ${text}`);
    await vs.screenshot('completion-list');
    await vs.page.keyboard.press('Enter');
    await vs.activeEditor().locator('.view-line', { hasText: 'Sacramento' }).waitFor();
    // The quick fix of the underlined word (Ctrl+. with the cursor on it).
    const fix = vs.page.locator('.action-widget .monaco-list-row', { hasText: 'Change to "the"' });
    await untilVisible(fix.first(), async () => {
      await vs.page.keyboard.press('Escape');
      await vs.clickText('The capital of California');
      await vs.page.keyboard.press('Control+.');
    });
    await vs.screenshot('quick-fix');
    await fix.first().click();
    await vs.activeEditor().locator('.view-line', { hasText: 'the capital of California is Sacramento' }).waitFor();
    await vs.activeEditor().locator('.squiggly-warning').first().waitFor({ state: 'detached', timeout: 30_000 });
    return editorLines();
  });
  assert.equal(lines.filter((l) => l.trim()).pop(), 'the capital of California is Sacramento');
  assert.equal(await vs.activeEditor().locator('.squiggly-warning').count(), 0);
});

test('two blocks analysed one after the other: each keeps its own hover', async () => {
  const [first, second] = await vs.step('analyze-two-blocks', async () => {
    await vs.page.keyboard.press('Control+S');
    const lenses = await analyzeLenses();
    assert.equal(lenses.length, 3, 'one Analyze CodeLens per block');
    await lenses[0].click();
    await waitForShowGraphLenses(1);
    const a = await graphSummary(vs.webview('view'));
    await (await analyzeLenses())[1].click();
    await waitForShowGraphLenses(2);
    return [a, await graphSummary(vs.webview('view'))];
  });
  assert.ok(first.nodes > 0 && second.nodes > 0, `${first.text} / ${second.text}`);
  const texas = await vs.step('hover-block-1', () => freshHover('Texas', 0, /token \d+: Texas/));
  const dallas = await vs.step('hover-block-2', () => freshHover('Dallas', 0, /token \d+: Dallas/));
  assert.match(texas, /Next token:/, texas);
  assert.match(dallas, /Next token:/, dallas);
  // "capital" is word 2 of block 1 and word 7 of block 2: the hovers count tokens within their own block.
  const tokenNo = (s: string) => Number(/token (\d+): capital/.exec(s)?.[1]);
  const c1 = tokenNo(await freshHover('capital', 0, /token \d+: capital/));
  const c2 = tokenNo(await freshHover('capital', 1, /token \d+: capital/));
  // Block 3 was never analysed: the mouse on it brings no Circuit Inspector hover (hover delay 200 ms).
  await closeHover();
  const at = await vs.activeEditor().locator('.view-line', { hasText: 'Sacramento' }).evaluate((line) => {
    const walker = document.createTreeWalker(line, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const i = (n as Text).data.indexOf('Sacramento');
      if (i < 0) continue;
      const r = document.createRange();
      r.setStart(n, i);
      r.setEnd(n, i + 'Sacramento'.length);
      const b = r.getBoundingClientRect();
      return { x: b.left + b.width / 2, y: b.top + b.height / 2 };
    }
    return null;
  });
  assert.ok(at, 'Sacramento is not on screen');
  await vs.page.mouse.move(at.x, at.y, { steps: 4 });
  await sleep(2500);
  const shown = await vs.page.locator('.monaco-hover:not(.hidden)').filter({ hasText: 'Circuit Inspector' }).count();
  assert.equal(shown, 0, 'a hover for a block that was never analysed');
  assert.equal(c2 - c1, BLOCK2.split(' ').indexOf('capital') - BLOCK1.split(' ').indexOf('capital'), `capital: token ${c1} in block 1, ${c2} in block 2`);
});

test('Save Graph writes one file per block and asks before replacing one', async () => {
  const file1 = join(vs.workspace, 'first.1.graph.json');
  const file2 = join(vs.workspace, 'first.2.graph.json');
  await vs.page.mouse.move(5, 500);
  await vs.step('save-block-1', async () => {
    await vs.clickText(BLOCK1);
    await vs.runCommand(SAVE_GRAPH);
    await vs.waitForNotification(/saved first\.1\.graph\.json/);
  });
  const written = readFileSync(file1, 'utf8');
  const before = statSync(file1).mtimeMs;
  const asked = await vs.step('save-again-asks', async () => {
    await vs.clickText(BLOCK1);
    await vs.runCommand(SAVE_GRAPH);
    await dialog().waitFor();
    await sleep(500);
    return dialog().innerText();
  });
  assert.match(asked, /first\.1\.graph\.json already exists\. Replace it/, asked);
  assert.match(asked, /Replace/);
  await vs.step('cancel-keeps-file', async () => {
    await dialog().locator('.monaco-button', { hasText: /^\s*Cancel\s*$/ }).click();
    await dialog().waitFor({ state: 'detached' });
  });
  assert.equal(readFileSync(file1, 'utf8'), written, 'Cancel changed the file');
  await vs.step('replace', async () => {
    await vs.clickText(BLOCK1);
    await vs.runCommand(SAVE_GRAPH);
    await dialog().locator('.monaco-button', { hasText: /^\s*Replace\s*$/ }).click();
    await dialog().waitFor({ state: 'detached' });
    // Written again: the file's modification time moves.
    const deadline = Date.now() + 30_000;
    while (statSync(file1).mtimeMs === before && Date.now() < deadline) await sleep(200);
    await vs.waitForNotification(/saved first\.1\.graph\.json/);
  });
  assert.notEqual(statSync(file1).mtimeMs, before, 'Replace did not write the file');
  await vs.step('save-block-2', async () => {
    await vs.clickText(BLOCK2);
    await vs.runCommand(SAVE_GRAPH);
    await vs.waitForNotification(/saved first\.2\.graph\.json/);
  });
  assert.equal(await dialog().count(), 0, 'a new file needs no question');
  const g1 = JSON.parse(readFileSync(file1, 'utf8'));
  const g2 = JSON.parse(readFileSync(file2, 'utf8'));
  assert.equal(g1.metadata.prompt, BLOCK1);
  assert.equal(g2.metadata.prompt, BLOCK2);
  assert.equal(g1.metadata.prompt_file, FILE);
  // The embedded model lives in the extension's folder, outside the workspace: no path of this machine.
  for (const text of [readFileSync(file1, 'utf8'), readFileSync(file2, 'utf8')]) {
    const ci = JSON.parse(text).metadata.circuit_inspector;
    assert.equal(ci.model, 'toy-llama');
    assert.equal(ci.model_path, undefined);
    assert.doesNotMatch(text, /"\/(home|tmp|root|work|usr)\//, 'an absolute local path in the saved graph');
  }
});
