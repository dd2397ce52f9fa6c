/** Save Graph's file names (one per prompt block) and the local paths a saved graph may carry. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { blockGraphFileName, shareableOwnMetadata, shareablePath } from '../../../src/shared/saved-graph';

test('one prompt block: NAME.graph.json; several: NAME.K.graph.json, a file per block', () => {
  assert.equal(blockGraphFileName('capital.prompt', 0, 1), 'capital.graph.json');
  assert.equal(blockGraphFileName('capital.prompt', -1, 0), 'capital.graph.json');
  assert.equal(blockGraphFileName('two.prompt', 0, 3), 'two.1.graph.json');
  assert.equal(blockGraphFileName('two.prompt', 2, 3), 'two.3.graph.json');
  assert.equal(blockGraphFileName('notes.prompt.md', 1, 2), 'notes.2.graph.json');
  // A selection outside every block of a multi-block file: the file's own name.
  assert.equal(blockGraphFileName('two.prompt', -1, 3), 'two.graph.json');
  const names = new Set([0, 1, 2, 3].map((i) => blockGraphFileName('x.prompt', i, 4)));
  assert.equal(names.size, 4);
  for (const n of names) assert.match(n, /\.graph\.json$/);
});

test('local paths: relative to the workspace folder that holds them, else left out', () => {
  const ws = ['/home/ana/work/circuits', '/data/models'];
  assert.equal(shareablePath('/home/ana/work/circuits/models/toy', ws, 'relative'), 'models/toy');
  assert.equal(shareablePath('/data/models/gemma/transcoders', ws, 'relative'), 'gemma/transcoders');
  assert.equal(shareablePath('/home/ana/work/circuits', ws, 'relative'), '.');
  assert.equal(shareablePath('/home/ana/work/circuits-old/m', ws, 'relative'), undefined);
  assert.equal(shareablePath('/home/ana/.vscode/extensions/ci/models/toy-llama', ws, 'relative'), undefined);
  assert.equal(shareablePath('/home/ana/work/circuits/../secret', ws, 'relative'), undefined);
  assert.equal(shareablePath('C:\\Users\\ana\\w\\m', ['C:\\Users\\ana\\w'], 'relative'), 'm');
  assert.equal(shareablePath('/home/ana/work/circuits/models/toy', ws, 'omit'), undefined);
  const ci = { model: 'toy-llama', model_path: '/ext/models/toy-llama', dictionary: '/home/ana/work/circuits/tc', n_layers: 4 };
  assert.deepEqual(shareableOwnMetadata(ci, ws, 'relative'), { model: 'toy-llama', dictionary: 'tc', n_layers: 4 });
  assert.deepEqual(shareableOwnMetadata(ci, ws, 'omit'), { model: 'toy-llama', n_layers: 4 });
  assert.equal(ci.model_path, '/ext/models/toy-llama', 'the analysis keeps its own metadata');
});
