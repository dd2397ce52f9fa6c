/**
 * `circuit-inspector qk` as a user runs it, on the embedded model's induction prompt
 * (examples/induction.prompt: "Belgus gave the book to Lolor . Belgus gave the book to" → "Lolor"):
 * the JSON agrees with the engine called directly and its terms sum to the score; the head chosen for
 * the feature that predicts the name (looked up in the graph at run time) is an induction head (from the second "to" to "Lolor", the token
 * after the first "to"), whose key side is carried by the previous token's features ("to"@5, moved to
 * position 6 by earlier attention) and whose query side by the current token's; bad input exits 2
 * with a message, never a stack trace.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { attribute } from '../../../src/engine/attribution/attribute';
import { EMBEDDED, embeddedPresent, loadFixture, ROOT } from '../attribution/helpers';

const tmp = mkdtempSync(join(tmpdir(), 'ci-qk-cli-'));
const PROMPT = join(ROOT, 'examples', 'induction.prompt');

function cli(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src', 'cli.ts'), 'qk', '--prompt-file', PROMPT, '--threads', '1', '--cache-dir', join(tmp, 'cache'), ...args], { cwd: ROOT, encoding: 'utf8' });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

interface Out {
  layer: number; head: number; query: number; key: number; scorePre: number; pattern: number; tokens: string[];
  terms: { pairwise: number; queryOnly: number; keyOnly: number; biasBias: number };
  queryMarginal: { id: string; value: number }[];
  keyMarginal: { id: string; value: number }[];
  qk_tracing_results: { pair_wise_contributors: [string, string, number][]; top_q_marginal_contributors: [string, number][]; top_k_marginal_contributors: [string, number][] };
}

const present = EMBEDDED.filter(embeddedPresent).length > 0 && existsSync(PROMPT);

/**
 * The nodes the tests query, looked up in the model at run time (never by a feature index, which a
 * retrained model renumbers): of the deepest layer's features at the last position, the one with the
 * largest direct edge into the answer's logit (the one that predicts the name), and a layer-0 feature
 * active at that position.
 */
async function nodes(): Promise<{ predictor: string; early: string }> {
  const { bundle, dictionary } = await loadFixture(EMBEDDED[0]);
  const prompt = readFileSync(PROMPT, 'utf8').trim();
  const g = await attribute(bundle, dictionary, prompt, { runtime: { cacheDir: join(tmp, 'cache'), threads: 1, provider: 'cpu' } });
  const answer = g.targets[0];
  const into = new Map<number, number>();
  for (let e = 0; e < g.edges.source.length; e++) if (g.edges.target[e] === answer.node) into.set(g.edges.source[e], g.edges.weight[e]);
  const last = g.tokens.length - 1;
  const at = g.nodes.map((n, i) => ({ n, w: into.get(i) ?? 0 })).filter((c) => c.n.kind === 'feature' && c.n.position === last);
  const deepest = Math.max(...at.map((c) => c.n.layer));
  const best = at.filter((c) => c.n.layer === deepest).sort((a, b) => b.w - a.w)[0]?.n;
  const early = at.find((c) => c.n.layer === 0)?.n;
  assert.ok(best && best.layer > 0 && early, `the graph has features at the last position: ${at.map((c) => `L${c.n.layer}#${c.n.index}`).join(' ')}`);
  return { predictor: `L${best.layer}#${best.index}@${last}`, early: `L0#${early.index}@${last}` };
}

test('qk on the induction prompt: an induction head, keyed on the previous token, queried by the current one', { skip: !present && 'embedded model not built' }, async () => {
  const { predictor } = await nodes();
  const r = cli('--node', predictor, '--top', '200', '--json');
  assert.equal(r.code, 0, r.stderr);
  const o = JSON.parse(r.stdout) as Out;
  const toks = o.tokens;
  assert.equal(readFileSync(PROMPT, 'utf8').trim().split(/\s+/).length + 1, toks.length, 'BOS + the prompt\'s words');
  const sum = o.terms.pairwise + o.terms.queryOnly + o.terms.keyOnly + o.terms.biasBias;
  assert.ok(Math.abs(sum - o.scorePre) <= 1e-4 * Math.abs(o.scorePre), `terms ${sum} vs score ${o.scorePre}`);
  // The head attends from the second "to" to the token after the first "to": induction.
  assert.equal(o.query, toks.length - 1);
  assert.equal(toks[o.key - 1], toks[o.query], `key ${o.key} follows an earlier copy of the query token`);
  assert.ok(o.pattern > 0.5, `the head attends there (${o.pattern})`);
  // Where the score comes from, by position: key side from the previous token, query side from the current one.
  const pos = (id: string) => Number(id.split('_').pop());
  const byPos = (xs: { id: string; value: number }[]) => xs.reduce((m, c) => m.set(pos(c.id), (m.get(pos(c.id)) ?? 0) + c.value), new Map<number, number>());
  const k = byPos(o.keyMarginal), q = byPos(o.queryMarginal);
  const prevTok = k.get(o.key - 1) ?? 0;
  console.log(`# key side by position: ${JSON.stringify([...k].map(([p, v]) => [toks[p], p, +v.toFixed(3)]))}; query side: ${JSON.stringify([...q].map(([p, v]) => [toks[p], p, +v.toFixed(3)]))}; terms ${JSON.stringify(o.terms)}`);
  assert.ok(prevTok > 0.1 * o.scorePre, `the previous token's sources raise the score (${prevTok} of ${o.scorePre})`);
  const qHere = q.get(o.query) ?? 0;
  assert.ok(qHere > 0.5 * o.scorePre, `the query side is the current token's (${qHere} of ${o.scorePre})`);
  console.log(`# induction: L${o.layer}.H${o.head} ${JSON.stringify(toks[o.query])}@${o.query} → ${JSON.stringify(toks[o.key])}@${o.key} (weight ${o.pattern.toFixed(3)}), score ${o.scorePre.toFixed(3)}; key side by position: ${[...k].sort((a, b) => b[1] - a[1]).slice(0, 3).map(([p, v]) => `${JSON.stringify(toks[p])}@${p} ${v.toFixed(2)}`).join(', ')}; query side: ${[...q].sort((a, b) => b[1] - a[1]).slice(0, 2).map(([p, v]) => `${JSON.stringify(toks[p])}@${p} ${v.toFixed(2)}`).join(', ')}`);
  const t = o.qk_tracing_results;
  assert.ok(t.pair_wise_contributors.length > 0 && t.pair_wise_contributors.every((x) => x.length === 3 && typeof x[2] === 'number'));
  assert.deepEqual(t.top_k_marginal_contributors.map((x) => x[0]), o.keyMarginal.map((x) => x.id));
});

test('qk: a bad node or head is a usage or engine error with a message, not a stack trace', { skip: !present && 'embedded model not built' }, async () => {
  const { predictor, early } = await nodes();
  const layer = predictor.slice(1, predictor.indexOf('#'));
  // A head of a layer that does not exist; a head of a later layer than the node; a key after the query.
  for (const args of [['--node', 'nonsense'], ['--node', 'E_5_3'], ['--node', predictor, '--head', '9.0'], ['--node', early, '--head', `${layer}.0`], ['--node', predictor, '--head', `${layer}.0`, '--key', '13']]) {
    const r = cli(...args);
    assert.equal(r.code, 2, `${args.join(' ')}: exit ${r.code}\n${r.stderr}`);
    assert.ok(r.stderr.length > 0 && !/^\s+at .+:\d+:\d+\)?$/m.test(r.stderr), r.stderr);
  }
});
