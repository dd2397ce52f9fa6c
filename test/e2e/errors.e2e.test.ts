/**
 * Errors a user can hit appear as a clear notification with an action that helps, never as a stack trace
 * or a blank panel: a model folder whose config.json is corrupt, then (after the user edits the setting)
 * a model folder that does not exist.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { launchVsCode, type VsCode } from './harness';
import { ANALYZE, PROMPT, PROMPT_FILE, waitForErrorToast } from './circuit';

let vs: VsCode;

before(async () => {
  vs = await launchVsCode({
    name: 'errors',
    files: { [PROMPT_FILE]: PROMPT + '\n', 'broken-model/config.json': '{ "architectures": ["LlamaForCausalLM"], ', 'broken-model/tokenizer.json': '{}' },
    // A relative model path resolves against the workspace folder.
    settings: { 'circuitInspector.modelPath': 'broken-model' },
  });
  // The status bar names the configured folder once the extension is up.
  await vs.statusBarItem().filter({ hasText: 'broken-model' }).first().waitFor({ timeout: 120_000 });
  await vs.openFile(PROMPT_FILE);
});
after(async () => {
  await vs?.close();
});

function assertNoStackTrace(text: string): void {
  assert.doesNotMatch(text, /\n\s+at \S+ \(|\.ts:\d+:\d+|\.js:\d+:\d+/, `a stack trace reached the user: ${text}`);
}

test('a corrupt model folder: an error notification that offers to select another model', async () => {
  const toast = await vs.step('corrupt-model', async () => {
    await vs.runCommand(ANALYZE);
    return waitForErrorToast(vs, /Circuit Inspector/);
  });
  assert.match(toast.message, /broken-model|config\.json/, toast.message);
  assert.ok(toast.actions.includes('Select Model Folder'), `actions: ${toast.actions.join(', ')}`);
  assertNoStackTrace(toast.message);
});

test('a model folder that does not exist: the same kind of notification, naming the folder', async () => {
  const toast = await vs.step('missing-model', async () => {
    // The user changes the setting in the Settings editor; the status bar follows it.
    await vs.setUserSetting('circuitInspector.modelPath', 'no-such-model');
    await vs.statusBarItem().filter({ hasText: 'no-such-model' }).first().waitFor({ timeout: 60_000 });
    await vs.runCommand('Notifications: Clear All Notifications');
    await vs.openFile(PROMPT_FILE);
    await vs.runCommand(ANALYZE);
    return waitForErrorToast(vs, /no-such-model/);
  });
  assert.ok(toast.actions.includes('Select Model Folder'), `actions: ${toast.actions.join(', ')}`);
  assertNoStackTrace(toast.message);
});
