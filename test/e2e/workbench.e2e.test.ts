/**
 * The harness itself, without the extension: code-server starts, the workbench renders in Chromium, the
 * palette runs a built-in command, Quick Open opens a file, a hover is read, and close() leaves no process
 * of the run behind. When this fails, the scenarios' failures are about the harness, not the extension.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { launchVsCode, type VsCode } from './harness';

let vs: VsCode;

before(async () => {
  vs = await launchVsCode({
    name: 'workbench',
    extension: false,
    files: { 'hello.ts': 'const answer = 42;\nexport function twice(n: number) { return n * 2 + answer; }\n' },
  });
});
after(async () => {
  await vs?.close();
});

test('the workbench renders with the workspace folder in the explorer', async () => {
  await vs.step('workbench', async () => {
    await vs.page.locator('.part.activitybar').waitFor();
    await vs.page.locator('.explorer-folders-view .monaco-list-row', { hasText: 'hello.ts' }).waitFor();
  });
});

test('the palette runs a built-in command: a new untitled editor opens', async () => {
  await vs.step('palette-new-file', async () => {
    await vs.runCommand('File: New Untitled Text File');
    await vs.page.locator('.tabs-container .tab.active', { hasText: /Untitled-\d/ }).waitFor();
  });
});

test('Quick Open opens a file and its hover is read from the editor', async () => {
  const text = await vs.step('hover', async () => {
    await vs.openFile('hello.ts');
    // The TypeScript server starts lazily; its hover for `answer` carries the inferred literal type.
    return vs.hoverText('answer', { nth: 1, expect: /const answer: 42/ });
  });
  assert.match(text, /const answer: 42/);
});

test('close() stops code-server and every process of the run', async () => {
  const runId = vs.runId;
  await vs.close();
  const left = readdirSync('/proc').filter((d) => {
    if (!/^\d+$/.test(d)) return false;
    try {
      return readFileSync(`/proc/${d}/environ`, 'latin1').includes(`CIRCUIT_INSPECTOR_E2E_RUN=${runId}\0`);
    } catch {
      return false;
    }
  });
  assert.deepEqual(left, []);
});
