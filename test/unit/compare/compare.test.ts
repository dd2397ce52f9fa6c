/**
 * Graph comparison: token alignment on constructed sequences, a graph against itself (and against a
 * copy with its nodes shuffled) shows no difference, and a prompt against its counterfactual on the
 * embedded model shows what causality says it must: an identical prefix, the substituted token's own
 * features on one side only, the answers swapped.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { alignTokens } from '../../../src/engine/compare/align-tokens';
import { compareGraphs } from '../../../src/engine/compare/compare-graphs';
import { attribute } from '../../../src/engine/attribution/index';
import type { AttributionGraph } from '../../../src/engine/attribution/types';
import { loadModelBundle } from '../../../src/engine/bundle/index';
import { loadDictionary } from '../../../src/engine/dictionaries/index';
import { serializeGraphFile, toGraphFile } from '../../../src/engine/graph-file';
import { CACHE_DIR, ROOT } from '../attribution/helpers';

const TOY = join(ROOT, 'models', 'toy-llama');

test('token alignment: identity, substitution, insertion, deletion', () => {
  const same = alignTokens(['a', 'b', 'c'], ['a', 'b', 'c']);
  assert.deepEqual(same.columns.map((c) => [c.a, c.b, c.same]), [[0, 0, true], [1, 1, true], [2, 2, true]]);
  const sub = alignTokens(['<bos>', 'dallas', 'is', 'in'], ['<bos>', 'houston', 'is', 'in']);
  assert.deepEqual(sub.columns.map((c) => [c.a, c.b, c.same]), [[0, 0, true], [1, 1, false], [2, 2, true], [3, 3, true]]);
  const ins = alignTokens(['x', 'is', 'in', 'the'], ['x', 'really', 'is', 'in', 'the']);
  assert.deepEqual(ins.columns.map((c) => [c.a, c.b]), [[0, 0], [null, 1], [1, 2], [2, 3], [3, 4]]);
  assert.deepEqual(Array.from(ins.columnOfB), [0, 1, 2, 3, 4]);
  assert.deepEqual(Array.from(ins.columnOfA), [0, 2, 3, 4]);
  const del = alignTokens(['a', 'b', 'c', 'd'], ['a', 'd']);
  assert.equal(del.columns.filter((c) => c.a !== null && c.b !== null).length, 2);
  assert.ok(del.columns.every((c) => c.a === null || c.b === null || c.same), 'only a and d pair');
  // Different lengths still pair the last tokens (where the prediction is read).
  const ends = alignTokens(['p', 'q', 'r', 'is'], ['s', 'is']);
  assert.deepEqual(ends.columns[ends.columns.length - 1], { a: 3, b: 1, same: true });
});

async function graphs(promptA: string, promptB: string, prune: boolean): Promise<[AttributionGraph, AttributionGraph]> {
  const bundle = await loadModelBundle(TOY);
  const dict = await loadDictionary(join(TOY, 'transcoders'), { dModel: bundle.spec.dModel, nLayers: bundle.spec.nLayers, name: bundle.spec.name });
  const opts = { prune, runtime: { provider: 'cpu' as const, threads: 1, cacheDir: CACHE_DIR } };
  const a = await attribute(bundle, dict, promptA, opts);
  const b = await attribute(bundle, dict, promptB, opts);
  return [a, b];
}

function shuffled(g: AttributionGraph): AttributionGraph {
  const n = g.nodes.length;
  const perm = Array.from({ length: n }, (_, i) => (i * 7 + 3) % n);
  // (7, n) coprime unless n is a multiple of 7; fall back to reversal then.
  const order = new Set(perm).size === n ? perm : perm.map((_, i) => n - 1 - i);
  const newIndex = new Int32Array(n);
  order.forEach((old, i) => (newIndex[old] = i));
  return {
    ...g,
    nodes: order.map((old) => g.nodes[old]),
    edges: {
      source: g.edges.source.map((s) => newIndex[s]),
      target: g.edges.target.map((t) => newIndex[t]),
      weight: g.edges.weight.slice(),
    },
    targets: g.targets.map((t) => ({ ...t, node: newIndex[t.node] })),
  };
}

test('a graph compared with itself (and with its nodes shuffled) shows no difference', async () => {
  const [a] = await graphs('Louisville is in the state whose capital is', 'Dallas is in the state whose capital is', true);
  for (const b of [a, shuffled(a)]) {
    const c = compareGraphs(a, b);
    assert.equal(c.summary.identical, true);
    assert.equal(c.summary.onlyA + c.summary.onlyB, 0);
    assert.equal(c.summary.both, a.nodes.length);
    assert.equal(c.summary.edgesBoth, a.edges.weight.length);
    assert.equal(c.gained.length + c.lost.length + c.changedEdges.length, 0);
    assert.ok(Math.abs(c.summary.influenceOverlap - 1) < 1e-9);
  }
});

test('a prompt and its counterfactual: identical prefix, token-specific features on one side, answers swapped', async () => {
  const [a, b] = await graphs('Louisville is in the state whose capital is', 'Dallas is in the state whose capital is', false);
  const c = compareGraphs(a, b);
  assert.equal(c.alignBy, 'feature');
  const subs = c.columns.filter((col) => col.a !== null && col.b !== null && !col.same);
  assert.equal(subs.length, 1, 'exactly one substituted token');
  const p = subs[0].a!;
  assert.equal(subs[0].b, p);
  assert.equal(a.tokens[p].text, 'Louisville');

  // Causality: nothing before the substituted token can differ.
  for (const n of c.nodes.filter((x) => x.kind !== 'logit' && x.column < p)) {
    assert.equal(n.status, 'both', `${n.key} precedes the substitution`);
    assert.equal(n.a!.activation, n.b!.activation);
  }
  // At the substituted token, the features active on one side only are exactly those the comparison
  // reports as one-sided (computed here straight from each graph's nodes).
  const at = (g: AttributionGraph) => new Set(g.nodes.filter((n) => n.kind === 'feature' && n.position === p).map((n) => `${n.layer}|${n.index}`));
  const fa = at(a);
  const fb = at(b);
  const onlyA = [...fa].filter((k) => !fb.has(k)).sort();
  const onlyB = [...fb].filter((k) => !fa.has(k)).sort();
  const reported = (st: string) => c.nodes.filter((n) => n.kind === 'feature' && n.column === p && n.status === st).map((n) => `${n.layer}|${n.index}`).sort();
  assert.deepEqual(reported('onlyA'), onlyA);
  assert.deepEqual(reported('onlyB'), onlyB);
  assert.ok(onlyA.length > 0 && onlyB.length > 0, 'each city has features of its own');
  // The substituted embeddings are one-sided; every other embedding is shared.
  const embOneSided = c.nodes.filter((n) => n.kind === 'embedding' && n.status !== 'both');
  assert.deepEqual(embOneSided.map((n) => n.column), [p, p]);
  // The answers: Frankfort only in A, Austin only in B.
  const ta = c.targets.find((t) => t.token === a.targets[0].token)!;
  const tb = c.targets.find((t) => t.token === b.targets[0].token)!;
  assert.notEqual(a.targets[0].token, b.targets[0].token);
  assert.ok(ta.probabilityA !== undefined && ta.probabilityB === undefined);
  assert.ok(tb.probabilityB !== undefined && tb.probabilityA === undefined);
});

test('compare CLI: graph files in, the same comparison out; a file against itself is identical', async () => {
  const [a, b] = await graphs('Louisville is in the state whose capital is', 'Dallas is in the state whose capital is', true);
  const dir = mkdtempSync(join(tmpdir(), 'ci-compare-'));
  const fa = join(dir, 'a.graph.json');
  const fb = join(dir, 'b.graph.json');
  writeFileSync(fa, serializeGraphFile(toGraphFile(a)));
  writeFileSync(fb, serializeGraphFile(toGraphFile(b)));
  const cli = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src', 'cli.ts'), 'compare', ...args], { cwd: ROOT, encoding: 'utf8' });
  const self = cli([fa, fa]);
  assert.equal(self.status, 0, self.stderr);
  assert.match(self.stdout, /identical/);
  const ab = cli([fa, fb, '--json']);
  assert.equal(ab.status, 0, ab.stderr);
  const j = JSON.parse(ab.stdout);
  assert.equal(j.summary.identical, false);
  assert.ok(j.summary.onlyA > 0 && j.summary.onlyB > 0);
  const bad = cli([fa]);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /exactly two graph files/);
});
