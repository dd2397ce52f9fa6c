/**
 * The node card's QK attribution as the worker computes it (EngineService → the real engine adapter →
 * ModelSession.qk on the kept attribution of the analysed prompt) against `circuit-inspector qk --json`
 * run as a separate process on the same prompt, node and head (its own forward pass, attribution and
 * QK tracing): the same head, positions, score, terms, pairs and contributors, to the last digit. Also:
 * the head list offered by the card, the terms summing to the score, and a node that reads no attention
 * answered with a message.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isEngineError } from '../../../src/engine/errors';
import { ANALYSIS_DEFAULTS } from '../../../src/shared/settings-defaults';
import type { CallContext } from '../../../src/shared/rpc';
import { loadEngine } from '../../../src/worker/engine-adapter';
import { EngineService } from '../../../src/worker/engine-service';
import { EMBEDDED, embeddedPresent, ROOT } from '../attribution/helpers';

const present = EMBEDDED.filter(embeddedPresent).length > 0;
const TEXT = 'Belgus gave the book to Lolor . Belgus gave the book to';
const tmp = mkdtempSync(join(tmpdir(), 'ci-qk-view-'));
const ctx: CallContext = { signal: new AbortController().signal, progress: () => undefined };

interface CliOut {
  layer: number; head: number; kvHead: number; query: number; key: number; scale: number; scorePre: number; score: number; pattern: number;
  terms: { pairwise: number; queryOnly: number; keyOnly: number; biasBias: number };
  pairs: { query: string; key: string; value: number }[];
  queryMarginal: { id: string; value: number }[];
  keyMarginal: { id: string; value: number }[];
}

function cli(...args: string[]): CliOut {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src', 'cli.ts'), 'qk', '--prompt', TEXT, '--threads', '1', '--cache-dir', join(tmp, 'cli-cache'), '--top', '8', '--json', ...args], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as CliOut;
}

test('the node card\'s QK attribution (worker path) equals circuit-inspector qk --json', { skip: !present && 'embedded model not built' }, async () => {
  const service = new EngineService(loadEngine);
  await service.loadModel({ modelPath: join(ROOT, 'models', 'toy-llama'), provider: 'cpu', threads: 1, cacheDir: join(tmp, 'worker-cache') }, ctx);
  const analysis = await service.analyze({ text: TEXT, ...ANALYSIS_DEFAULTS, slug: 'qk-view' }, ctx);
  // The node: looked up in the graph, not by a feature index (a retrained model renumbers features):
  // at the last position, in the deepest layer there, the most influential feature — on the embedded
  // model the one that predicts the name, whose input an induction head carries.
  const last = Math.max(...analysis.graph.nodes.map((n) => n.ctx_idx));
  const feats = analysis.graph.nodes.filter((n) => n.feature_type === 'cross layer transcoder' && n.ctx_idx === last);
  const deepest = Math.max(...feats.map((n) => Number(n.layer)));
  const NODE = feats.filter((n) => Number(n.layer) === deepest).sort((a, b) => (a.influence ?? 1) - (b.influence ?? 1))[0]?.node_id;
  assert.ok(NODE, `the analysed graph has a feature at the last position: ${JSON.stringify(feats.map((n) => n.node_id))}`);
  console.log(`# node ${NODE}`);

  const first = await service.qk({ text: TEXT, nodeId: NODE }, ctx);
  assert.equal(first.nodeId, NODE);
  assert.ok(first.heads.length >= 2, `the card offers the heads carrying the node's cross-position edges (${first.heads.map((h) => `L${h.layer}.H${h.head}`)})`);
  assert.deepEqual([first.heads[0].layer, first.heads[0].head], [first.layer, first.head], 'the default head leads the list');
  assert.ok(Math.abs(first.heads.reduce((s, h) => s + h.share, 0) - 1) < 0.01, 'shares of Σ |head loading| add up to one');
  // The user picks the second head: the same numbers as the CLI for that head.
  const other = first.heads[1];
  for (const [view, head] of [[first, first.heads[0]], [await service.qk({ text: TEXT, nodeId: NODE, head: other }, ctx), other]] as const) {
    const c = cli('--node', NODE, '--head', `${head.layer}.${head.head}`);
    assert.deepEqual([view.layer, view.head, view.kvHead, view.query, view.key], [c.layer, c.head, c.kvHead, c.query, c.key]);
    assert.deepEqual([view.scale, view.scorePre, view.score, view.pattern], [c.scale, c.scorePre, c.score, c.pattern]);
    assert.deepEqual(view.terms, c.terms);
    assert.deepEqual(view.pairs.map((p) => [p.query.id, p.key.id, p.value]), c.pairs.map((p) => [p.query, p.key, p.value]));
    assert.deepEqual(view.queryMarginal.map((s) => [s.id, s.value]), c.queryMarginal.map((s) => [s.id, s.value]));
    assert.deepEqual(view.keyMarginal.map((s) => [s.id, s.value]), c.keyMarginal.map((s) => [s.id, s.value]));
    const t = view.terms;
    assert.ok(Math.abs(t.pairwise + t.queryOnly + t.keyOnly + t.biasBias - view.scorePre) <= 1e-4 * Math.abs(view.scorePre));
    assert.equal(view.queryToken, 'to');
    assert.ok(view.pairs.length === 8 && view.pairs.every((p) => p.query.label && p.key.label), 'every pair names both sources');
  }

  await assert.rejects(service.qk({ text: TEXT, nodeId: 'E_5_3' }, ctx), (e: unknown) => isEngineError(e) && /embedding reads no attention/.test((e as Error).message));
  await assert.rejects(service.qk({ text: TEXT, nodeId: 'nonsense' }, ctx), (e: unknown) => isEngineError(e) && /not a graph-file node id/.test((e as Error).message));
  service.dispose?.();
});
