import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseFromWebview } from '../../../src/shared/protocol';
import { actionsFor, notificationText } from '../../../src/extension/error-actions';
import { EngineError } from '../../../src/engine/errors';

test('well-formed messages pass, with only the known fields', () => {
  assert.deepEqual(parseFromWebview({ type: 'ready', requestId: 1, extra: 'x' }), { type: 'ready', requestId: 1 });
  assert.deepEqual(parseFromWebview({ type: 'focusFeature', feature: { layer: 2, feature: 9, evil: 1 }, nodeId: '2_9_3' }), {
    type: 'focusFeature',
    feature: { layer: 2, feature: 9 },
    nodeId: '2_9_3',
  });
  assert.deepEqual(parseFromWebview({ type: 'viewState', pinnedIds: ['a'], supernodes: [['Texas', 'a', 'b']] }), { type: 'viewState', pinnedIds: ['a'], supernodes: [['Texas', 'a', 'b']] });
  const iv = parseFromWebview({ type: 'intervene', requestId: 3, interventions: [{ layer: 0, feature: 1, mode: 'scale', value: 2, positions: [4] }] });
  assert.equal(iv?.type, 'intervene');
  assert.deepEqual(parseFromWebview({ type: 'prune', requestId: 4, nodeThreshold: 0.5, edgeThreshold: 0 }), { type: 'prune', requestId: 4, nodeThreshold: 0.5 });
  assert.deepEqual(parseFromWebview({ type: 'searchFeatures', requestId: 5, query: 'Texas', limit: 1e9 }), { type: 'searchFeatures', requestId: 5, query: 'Texas' });
  assert.deepEqual(
    parseFromWebview({ type: 'verify', requestId: 5, groups: [[{ layer: 3, feature: 370, position: 8, x: 1 }]], semantics: { attention: 'frozen', norms: 'frozen', y: 2 }, keep: [{ layer: 0, feature: 1, position: 2 }] }),
    { type: 'verify', requestId: 5, groups: [[{ layer: 3, feature: 370, position: 8 }]], semantics: { attention: 'frozen', norms: 'frozen' }, keep: [{ layer: 0, feature: 1, position: 2 }] },
  );
  assert.deepEqual(parseFromWebview({ type: 'cancel', forRequest: 5, requestId: 9 }), { type: 'cancel', forRequest: 5 });
  assert.deepEqual(parseFromWebview({ type: 'requestQk', requestId: 5, nodeId: '3_385_12' }), { type: 'requestQk', requestId: 5, nodeId: '3_385_12' });
  assert.deepEqual(parseFromWebview({ type: 'requestQk', requestId: 6, nodeId: '3_385_12', head: { layer: 2, head: 1, x: 1 } }), { type: 'requestQk', requestId: 6, nodeId: '3_385_12', head: { layer: 2, head: 1 } });
});

test('malformed messages are rejected', () => {
  const bad: unknown[] = [
    null,
    'ready',
    { type: 'ready' },
    { type: 'ready', requestId: 1.5 },
    { type: 'nope', requestId: 1 },
    { type: 'focusFeature', feature: { layer: -1, feature: 0 }, nodeId: 'x' },
    { type: 'focusFeature', feature: { layer: '1', feature: 0 }, nodeId: 'x' },
    { type: 'intervene', requestId: 1, interventions: [] },
    { type: 'intervene', requestId: 1, interventions: [{ layer: 0, feature: 1, mode: 'scale' }] },
    { type: 'intervene', requestId: 1, interventions: [{ layer: 0, feature: 1, mode: 'set', value: Infinity }] },
    { type: 'intervene', requestId: 1, interventions: [{ layer: 0, feature: 1, mode: 'delete' }] },
    { type: 'intervene', requestId: 1, interventions: [{ layer: 0, feature: 1, mode: 'ablate', positions: [-1] }] },
    { type: 'export', requestId: 1, format: 'exe', data: '' },
    { type: 'export', requestId: 1, format: 'png', data: 5 },
    { type: 'log', level: 'debug', message: 'x' },
    { type: 'viewState', pinnedIds: [1], supernodes: [] },
    { type: 'viewState', pinnedIds: [], supernodes: [[]] },
    { type: 'viewState', pinnedIds: [], supernodes: 'x' },
    { type: 'prune', requestId: 1, nodeThreshold: 0 },
    { type: 'searchFeatures', requestId: 1, query: 5 },
    { type: 'searchFeatures', requestId: 1, query: 'x'.repeat(201) },
    { type: 'verify', requestId: 1, groups: [] },
    { type: 'verify', requestId: 1, groups: [[{ layer: 0, feature: 1 }]] },
    { type: 'verify', requestId: 1, groups: [[{ layer: 0, feature: 1, position: 0 }]], keep: [{ layer: 0, feature: 1, position: -1 }] },
    { type: 'verify', requestId: 1, groups: [[{ layer: 0, feature: 1, position: 0 }]], semantics: { attention: 'live', norms: 'frozen' } },
    { type: 'cancel', forRequest: '5' },
    { type: 'prune', requestId: 1, nodeThreshold: 1.5 },
    { type: 'prune', requestId: 1, nodeThreshold: '0.5' },
    { type: 'prune', nodeThreshold: 0.5 },
    { type: 'requestQk', requestId: 1, nodeId: '' },
    { type: 'requestQk', requestId: 1, nodeId: 'x'.repeat(301) },
    { type: 'requestQk', requestId: 1, nodeId: 5 },
    { type: 'requestQk', requestId: 1, nodeId: '3_1_2', head: { layer: -1, head: 0 } },
    { type: 'requestQk', requestId: 1, nodeId: '3_1_2', head: { layer: 1, head: 0.5 } },
    { type: 'requestQk', requestId: 1, nodeId: '3_1_2', head: '1.0' },
  ];
  for (const b of bad) assert.equal(parseFromWebview(b), undefined, JSON.stringify(b));
});

test('error notifications: message + hint, no stack; an action that fits', () => {
  const e = new EngineError('MODEL_NOT_FOUND', 'Model folder /x does not exist.', 'Pick another.');
  assert.deepEqual(notificationText(e), { code: 'MODEL_NOT_FOUND', text: 'Model folder /x does not exist. Pick another.' });
  const plain = new Error('boom\n    at foo (x.js:1:1)');
  assert.equal(notificationText(plain).text.includes('at foo'), false);
  assert.equal(actionsFor('MODEL_NOT_FOUND')[0].command, 'circuitInspector.selectModel');
  assert.equal(actionsFor('PROVIDER_UNAVAILABLE')[0].command, 'circuitInspector.selectExecutionProvider');
  assert.equal(actionsFor('NO_ACTIVE_FEATURES')[0].command, 'workbench.action.openSettings');
  // Every code offers at least one action.
  for (const c of ['PROMPT_TOO_LONG', 'PROMPT_EMPTY', 'INTERNAL', 'GRAPH_FILE_INVALID', 'OUT_OF_MEMORY', 'whatever']) assert.ok(actionsFor(c).length > 0, c);
});
