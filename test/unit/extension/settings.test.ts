import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analysisSettings, providerSetting, resolveTrustedPath } from '../../../src/extension/settings';

test('restricted mode never takes a model path from workspace settings', () => {
  const insp = { defaultValue: '', globalValue: '/home/me/models/llama', workspaceValue: '/tmp/evil', workspaceFolderValue: undefined };
  assert.deepEqual(resolveTrustedPath(insp, true), { value: '/tmp/evil', from: 'workspace' });
  const r = resolveTrustedPath(insp, false);
  assert.equal(r.value, '/home/me/models/llama');
  assert.equal(r.from, 'user');
  assert.equal(r.ignoredWorkspaceValue, '/tmp/evil');
  const folder = resolveTrustedPath({ defaultValue: '', workspaceFolderValue: './m' }, false);
  assert.equal(folder.value, undefined);
  assert.equal(folder.ignoredWorkspaceValue, './m');
  assert.deepEqual(resolveTrustedPath({ defaultValue: '' }, false), { value: undefined, from: 'default' });
  assert.deepEqual(resolveTrustedPath(undefined, true), { value: undefined, from: 'default' });
});

test('analysis settings: documented defaults, clamped', () => {
  assert.deepEqual(analysisSettings(() => undefined), { nodeThreshold: 0.8, edgeThreshold: 0.98, maxFeatureNodes: 4096, batchSize: 64 });
  const s = analysisSettings((k) => ({ nodeThreshold: 3, edgeThreshold: -1, maxFeatureNodes: 12.6, batchSize: 'x' })[k]);
  assert.deepEqual(s, { nodeThreshold: 1, edgeThreshold: 0, maxFeatureNodes: 13, batchSize: 64 });
  assert.equal(providerSetting('cuda'), 'cuda');
  assert.equal(providerSetting('vulkan'), 'auto');
});
