/**
 * The analyze and intervene commands end to end on a fixture model: analyze writes a graph file that
 * the graph-file reader validates and reads back to the same graph, and prints a summary; intervene
 * parses its feature specs and rejects malformed ones with a usage error.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseFeatureSpec } from '../../../src/cli/intervene';
import { fromGraphFile, readGraphFile } from '../../../src/engine/graph-file';
import { CACHE_DIR, MODELS, ROOT, TRANSCODERS } from './helpers';

function cli(args: string[]) {
  return spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src', 'cli.ts'), ...args], { cwd: ROOT, encoding: 'utf8' });
}

test('analyze writes a valid graph file and prints its summary', () => {
  const out = join(mkdtempSync(join(tmpdir(), 'ci-analyze-')), 'g.json');
  const r = cli(['analyze', '--model', join(MODELS, 'gpt2-tiny'), '--transcoders', join(TRANSCODERS, 'gpt2-tiny'), '--prompt', 'The cat sat on the mat.', '--out', out, '--json', '--provider', 'cpu', '--threads', '1', '--cache-dir', CACHE_DIR, '--node-threshold', '0.9']);
  assert.equal(r.status, 0, r.stderr);
  const summary = JSON.parse(r.stdout);
  const g = fromGraphFile(readGraphFile(out));
  assert.equal(g.nodes.length, summary.nodes.total);
  assert.equal(g.edges.weight.length, summary.edges);
  assert.equal(g.thresholds.node, 0.9);
  assert.equal(g.nodes.filter((n) => n.kind === 'logit').length, summary.targets.length);
  assert.ok(summary.scores.replacement > 0 && summary.scores.replacement < 1);
  assert.ok(summary.paths.length > 0, 'paths into the top logit');
});

test('intervene parses feature specs and rejects malformed ones', () => {
  assert.deepEqual(parseFeatureSpec('2:5:17=3.5'), { layer: 2, feature: 17, positions: [5], mode: 'set', value: 3.5 });
  assert.deepEqual(parseFeatureSpec('0:*:3=x-2'), { layer: 0, feature: 3, mode: 'scale', value: -2 });
  assert.deepEqual(parseFeatureSpec('1:4:9=ablate'), { layer: 1, feature: 9, positions: [4], mode: 'ablate' });
  for (const bad of ['1:2', '1:2:3', 'a:1:2=ablate', '1:2:3=xx', '1:2:3=']) assert.throws(() => parseFeatureSpec(bad), /expected L:POS:IDX/);
  const r = cli(['intervene', '--model', join(MODELS, 'gpt2-tiny'), '--transcoders', join(TRANSCODERS, 'gpt2-tiny'), '--prompt', 'The cat', '--feature', '1:2']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /expected L:POS:IDX/);
  const ok = cli(['intervene', '--model', join(MODELS, 'gpt2-tiny'), '--transcoders', join(TRANSCODERS, 'gpt2-tiny'), '--prompt', 'The cat sat on the mat.', '--feature', '0:*:3=ablate', '--json', '--provider', 'cpu', '--cache-dir', CACHE_DIR]);
  assert.equal(ok.status, 0, ok.stderr);
  const res = JSON.parse(ok.stdout);
  assert.ok(res.before.length === 5 && res.after.length === 5);
});
