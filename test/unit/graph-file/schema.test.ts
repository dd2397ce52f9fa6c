/**
 * The one graph schema (src/shared/graph-schema.ts): the engine's reader and the webview's model agree
 * on every node's kind, feature index and token of real circuit-tracer / Neuronpedia files, and the
 * id / clerp helpers invert each other.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fromGraphFile, readGraphFile } from '../../../src/engine/graph-file';
import {
  displayToken, kindOfFeatureType, logitClerp, nodeIdOf, parseDifferenceLogitId, parseEmbeddingClerp, parseEmbeddingNodeId, parseFeatureNodeId,
  parseLogitClerp, embeddingClerp, tokenLabel,
} from '../../../src/shared/graph-schema';
import { normalizeGraph } from '../../../webview/graph-model';

const FILES = [join(__dirname, '../../fixtures/graphs/circuit-tracer-sample.json')];
const INTEROP = '/work/shared/interop-graphs';
if (existsSync(INTEROP)) for (const f of readdirSync(INTEROP)) if (f.endsWith('.json')) FILES.push(join(INTEROP, f));

test('engine and webview read the same kinds and feature indices from real graph files', () => {
  let read = 0;
  for (const path of FILES) {
    let file;
    try {
      file = readGraphFile(path);
    } catch {
      continue; // Files the engine refuses are the graph-file tests' business, not this agreement's.
    }
    read++;
    const engine = fromGraphFile(file);
    const view = normalizeGraph(file);
    assert.equal(view.nodes.length, engine.nodes.length, path);
    engine.nodes.forEach((n, i) => {
      const v = view.byId.get(file.nodes[i].node_id)!;
      assert.equal(v.kind, n.kind, `${path} ${file.nodes[i].node_id}`);
      if (n.kind === 'feature') assert.equal(v.feature, n.index, `${path} ${file.nodes[i].node_id}`);
      assert.equal(v.ctx, n.position);
    });
  }
  assert.ok(read >= 1);
});

test('feature_type names its kind, leniently, and "E" layers are embeddings only for unknown types', () => {
  assert.equal(kindOfFeatureType('cross layer transcoder'), 'feature');
  assert.equal(kindOfFeatureType('Transcoder'), 'feature');
  assert.equal(kindOfFeatureType('mlp reconstruction error'), 'error');
  assert.equal(kindOfFeatureType('embedding'), 'embedding');
  assert.equal(kindOfFeatureType('Token Embeddings'), 'embedding');
  assert.equal(kindOfFeatureType('logit'), 'logit');
  assert.equal(kindOfFeatureType('', 'E'), 'embedding');
  assert.equal(kindOfFeatureType('', '3'), 'feature');
  assert.equal(kindOfFeatureType('cross layer transcoder', 'E'), 'feature');
});

test('node ids and clerps read back what wrote them', () => {
  assert.deepEqual(parseFeatureNodeId(nodeIdOf({ kind: 'feature', layer: 3, position: 7, index: 1234 }, 12)), { layer: 3, index: 1234, position: 7 });
  assert.deepEqual(parseEmbeddingNodeId(nodeIdOf({ kind: 'embedding', layer: -1, position: 2, index: 50256 }, 12)), { tokenId: 50256, position: 2 });
  assert.equal(nodeIdOf({ kind: 'error', layer: 4, position: 9, index: -1 }, 12), '4_-1_9');
  assert.equal(nodeIdOf({ kind: 'logit', layer: 12, position: 9, index: 42 }, 12), '13_42_9');
  assert.deepEqual(parseDifferenceLogitId(nodeIdOf({ kind: 'logit', layer: 12, position: 9, index: 42, minusIndex: 7 }, 12)), { tokenId: 42, minusIndex: 7, position: 9 });
  assert.equal(parseFeatureNodeId('4_-1_9'), undefined);
  for (const tok of [' Austin', 'say "hi"', '', 'a\nb']) {
    assert.deepEqual(parseLogitClerp(logitClerp(tok, 0.6125)), { token: tok, p: 0.613 });
    assert.equal(parseEmbeddingClerp(embeddingClerp(tok)), tok);
  }
  assert.equal(parseLogitClerp('Output "x"'), undefined);
});

test('token display: the file form makes whitespace visible; the label quotes the rest', () => {
  assert.equal(displayToken('a\nb\tc\rd'), 'a⏎b→c↵d');
  assert.equal(tokenLabel('a\nb'), 'a⏎b');
  assert.equal(tokenLabel('say "hi"'), 'say "hi"');
  assert.equal(tokenLabel('\u0001'), '\\u0001');
  assert.equal(tokenLabel(''), '∅');
  assert.equal(tokenLabel(' '), '␣');
  assert.equal(tokenLabel('   '), '␣␣␣');
  assert.equal(tokenLabel(' Austin'), ' Austin');
});
