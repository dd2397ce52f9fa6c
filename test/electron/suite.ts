/**
 * Runs inside a desktop VS Code's extension host (started by test/electron/run.mjs through
 * @vscode/test-electron), where the `vscode` API is real: the extension activates, every command it
 * contributes is registered, and Analyze Prompt on a prompt document produces the graph the
 * side panel shows. Throws (failing the run) on the first unmet expectation.
 */
import * as vscode from 'vscode';
import assert from 'node:assert/strict';

const EXTENSION_ID = 'circuit-inspector.circuit-inspector';

async function check(name: string, fn: () => Promise<void>): Promise<boolean> {
  try {
    await fn();
    console.log(`ok - ${name}`);
    return true;
  } catch (e) {
    console.error(`not ok - ${name}\n${e instanceof Error ? e.stack ?? e.message : String(e)}`);
    return false;
  }
}

export async function run(): Promise<void> {
  const results: boolean[] = [];
  const ext = vscode.extensions.getExtension(EXTENSION_ID);

  results.push(
    await check('the extension is installed and activates', async () => {
      assert.ok(ext, `${EXTENSION_ID} is not loaded`);
      await ext.activate();
      assert.equal(ext.isActive, true);
    }),
  );

  results.push(
    await check('every contributed command is registered', async () => {
      const contributed = ((ext?.packageJSON?.contributes?.commands ?? []) as { command: string }[]).map((c) => c.command);
      assert.ok(contributed.length > 0, 'the manifest contributes no commands');
      const registered = new Set(await vscode.commands.getCommands(true));
      const missing = contributed.filter((c) => !registered.has(c));
      assert.deepEqual(missing, []);
    }),
  );

  results.push(
    await check('Analyze Prompt runs on a prompt document without an error', async () => {
      const doc = await vscode.workspace.openTextDocument({ language: 'circuit-prompt', content: 'the capital of Texas is' });
      await vscode.window.showTextDocument(doc);
      await vscode.commands.executeCommand('circuitInspector.analyzePrompt');
      // activate() returns { inspector }; its store keeps the analysis the hover and the panel read.
      // An error would have been shown as a notification and left no graph there.
      const api = ext?.exports as { inspector?: { store: { get(uri: vscode.Uri): { graph?: { nodes: unknown[]; links: unknown[] } } | undefined } } };
      const graph = api.inspector?.store.get(doc.uri)?.graph;
      assert.ok(graph, 'no graph was kept for the analyzed document');
      assert.ok(graph.nodes.length > 0 && graph.links.length > 0, 'the graph is empty');
    }),
  );

  const failed = results.filter((r) => !r).length;
  if (failed) throw new Error(`${failed} of ${results.length} checks failed`);
}
