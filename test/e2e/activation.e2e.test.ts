/**
 * Opening the examples workspace activates the extension: the status bar shows the embedded model and
 * the execution provider, the side panel's container is in the activity bar, and the extension host
 * logged no activation error.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { launchVsCode, type VsCode } from './harness';
import { waitForActivation } from './circuit';

let vs: VsCode;

before(async () => {
  vs = await launchVsCode({ name: 'activation' });
});
after(async () => {
  await vs?.close();
});

test('the status bar shows the embedded model and the execution provider', async () => {
  const text = await vs.step('status-bar', () => waitForActivation(vs));
  // "toy-llama (embedded) · auto" before the model loads; "<name> · <provider>" after.
  assert.match(text, /toy-llama.*·\s*(auto|cpu|cuda|tensorrt|webgpu|dml|coreml)\b/);
  console.log(`[measure] code-server spawn → extension activated (status bar item): ${vs.elapsed().toFixed(1)} s; ` +
    `server ready ${vs.timings.serverReady.toFixed(1)} s, workbench ${vs.timings.workbench.toFixed(1)} s`);
});

test('the Circuit Inspector container is in the activity bar and opens the graph view', async () => {
  await vs.step('activity-bar', async () => {
    const entry = vs.page.locator('.part.activitybar .action-item a[aria-label^="Circuit Inspector"]');
    await entry.first().click();
    // The view's webview shows its empty state: how to get a graph.
    await vs.webview('view').locator('[data-testid="graph-empty"]').filter({ hasText: 'Analyze Prompt' }).waitFor();
  });
});

test('the extension host reports no activation failure', async () => {
  const log = vs.extensionHostLog();
  assert.match(log, /circuit-inspector\.circuit-inspector/, 'the extension host log does not mention the extension at all');
  assert.doesNotMatch(log, /Activating extension '?circuit-inspector\.circuit-inspector'? failed/i);
});
