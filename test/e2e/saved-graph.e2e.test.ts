/**
 * Saved graphs (the prompt analyzed through its "Analyze" CodeLens): Save Graph writes NAME.graph.json beside the prompt; after closing everything, opening
 * that file shows it as a graph in the custom editor (not as JSON text), with the same nodes, and its
 * link leads back to the prompt file.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { launchVsCode, type VsCode } from './harness';
import { analyzeByCodeLens, graphSummary, PROMPT, PROMPT_FILE, SAVE_GRAPH, waitForActivation, type GraphSummary } from './circuit';

const GRAPH_FILE = PROMPT_FILE.replace(/\.prompt$/, '.graph.json');
let vs: VsCode;
let analyzed: GraphSummary;

before(async () => {
  vs = await launchVsCode({ name: 'saved-graph', files: { [PROMPT_FILE]: PROMPT + '\n' } });
  await waitForActivation(vs);
  await vs.openFile(PROMPT_FILE);
  // This time through the "Analyze" CodeLens above the prompt (the palette is the analyze scenario's way).
  analyzed = await vs.step('codelens-analyze', () => analyzeByCodeLens(vs));
});
after(async () => {
  await vs?.close();
});

test('Save Graph writes NAME.graph.json beside the prompt', async () => {
  const note = await vs.step('save', async () => {
    await vs.openFile(PROMPT_FILE);
    await vs.runCommand(SAVE_GRAPH);
    return vs.waitForNotification(/saved/);
  });
  assert.match(note, new RegExp(GRAPH_FILE.replace(/\./g, '\\.')));
  const file = join(vs.workspace, GRAPH_FILE);
  assert.ok(existsSync(file), `${file} was not written`);
  const saved = JSON.parse(readFileSync(file, 'utf8'));
  assert.equal(saved.nodes.length, analyzed.nodes, 'the saved graph has a different number of nodes than the panel showed');
  assert.equal(saved.metadata.prompt_file, PROMPT_FILE);
});

test('after closing everything, the saved graph reopens as a graph in the custom editor', async () => {
  const reopened = await vs.step('reopen', async () => {
    await vs.runCommand('View: Close All Editors');
    await vs.page.locator('.notifications-toasts .notification-toast').first().waitFor({ state: 'detached', timeout: 30_000 }).catch(() => {});
    // Through the Explorer: Quick Open's file search does not always see a file written moments ago
    // (code-server's search index lags the disk), the Explorer follows the extension's write at once.
    await vs.openFromExplorer(GRAPH_FILE);
    // A custom editor, not the JSON text editor: no Monaco editor in the active group, a webview instead.
    return graphSummary(vs.webview('editor'));
  });
  assert.equal(await vs.activeEditor().count(), 0, 'the graph file opened as text');
  assert.equal(reopened.nodes, analyzed.nodes);
  assert.equal(reopened.links, analyzed.links);
  const title = await vs.webview('editor').locator('[data-testid="graph-title"]').innerText();
  assert.match(title, /e2e-capital/);
});

test('the saved graph links back to its prompt file', async () => {
  await vs.step('open-prompt-link', async () => {
    await vs.webview('editor').locator('[data-testid="graph-open-prompt"]').click();
    await vs.page.locator('.tabs-container .tab.active', { hasText: PROMPT_FILE }).waitFor();
  });
});
