/**
 * Head loadings are computed once per raw attribution (graph-heads.ts, HeadLoadingMemo): the session's
 * re-prune from the kept attribution (the panel's threshold control) must give exactly the heads a fresh
 * computation gives at that threshold, and must not run the per-head host backward passes again for
 * edges an earlier prune already split. Truth: a fresh toAttributionGraph on a copy of the raw
 * attribution (no memo) with head loadings forced on; the count of FrozenLinearModel.backward calls
 * (the per-target host pass head loadings make), taken around each prune.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { toAttributionGraph, type RawAttribution } from '../../../src/engine/attribution/attribute';
import type { AttributionGraph } from '../../../src/engine/attribution/types';
import { FrozenLinearModel } from '../../../src/engine/attention/linear-model';
import { ModelSession } from '../../../src/engine/session';
import { CACHE_DIR, EMBEDDED, embeddedPresent, ROOT } from '../attribution/helpers';

const present = EMBEDDED.filter(embeddedPresent).length > 0;

/** Counts the host backward passes (head loadings run one per target row with a new cross-position edge). */
function countBackward<T>(f: () => T): { value: T; calls: number } {
  const proto = FrozenLinearModel.prototype;
  const orig = proto.backward;
  let calls = 0;
  proto.backward = function (this: FrozenLinearModel, ...args: Parameters<typeof orig>) {
    calls++;
    return orig.apply(this, args);
  };
  try {
    return { value: f(), calls };
  } finally {
    proto.backward = orig;
  }
}

const nodeKey = (n: AttributionGraph['nodes'][number]) => `${n.kind}/${n.layer}/${n.position}/${n.index}`;
const edgeKeys = (g: AttributionGraph) => Array.from(g.edges.weight, (_, e) => `${nodeKey(g.nodes[g.edges.source[e]])}>${nodeKey(g.nodes[g.edges.target[e]])}`);

/** Edges and their heads as comparable rows (source, target, weight, [layer, head, weight]…). */
function headRows(g: AttributionGraph): string[] {
  const h = g.edgeHeads!;
  const rows: string[] = [];
  for (let e = 0; e < g.edges.weight.length; e++) {
    const heads: number[] = [];
    for (let k = h.offsets[e]; k < h.offsets[e + 1]; k++) heads.push(h.layer[k], h.head[k], h.weight[k]);
    rows.push(`${nodeKey(g.nodes[g.edges.source[e]])}>${nodeKey(g.nodes[g.edges.target[e]])}:${g.edges.weight[e]}:${heads.join(',')}`);
  }
  return rows;
}

test('a re-prune reuses the head loadings: the heads of a fresh computation, no host backward pass for edges split before', { skip: !present && 'embedded model not built' }, async () => {
  const s = await ModelSession.open({ model: join(ROOT, 'models', 'toy-llama'), runtime: { provider: 'cpu', threads: 1, cacheDir: CACHE_DIR } });
  try {
    const prompt = 'Belgus gave the book to Lolor . Belgus gave the book to';
    const { value: first, calls: firstCalls } = await (async () => {
      const run = await s.run(prompt);
      const raw = await s.attribute(run);
      return countBackward(() => ({ run, raw, graph: s.prune(run, raw, { node: 0.8, edge: 0.98 }) }));
    })();
    const { run, raw, graph: g0 } = first;
    assert.ok(g0.edgeHeads, 'the embedded model gets head loadings by default');
    assert.ok(firstCalls > 0, 'the first prune splits its cross-position edges');

    const engine = await s.engineFor(run.dictionary);
    // A copy of the raw attribution is a new object: no head loadings are kept with it.
    const fresh = (node: number, edge: number) => toAttributionGraph(engine, run.dictionary, { ...raw } as RawAttribution, undefined, { nodeThreshold: node, edgeThreshold: edge, headLoadings: true });

    // Every edge a prune has kept so far; a prune must run one host backward pass per target node that
    // has a cross-position edge outside this set, and none for the rest.
    const seen = new Set(edgeKeys(g0));
    const expectedPasses = (g: AttributionGraph) => {
      const targets = new Set<string>();
      edgeKeys(g).forEach((k, e) => {
        const src = g.nodes[g.edges.source[e]], tgt = g.nodes[g.edges.target[e]];
        if (!seen.has(k) && src.position !== tgt.position && (tgt.kind === 'feature' || tgt.kind === 'logit')) targets.add(nodeKey(tgt));
      });
      return targets.size;
    };
    let sawNewEdges = false;
    for (const [node, edge] of [[0.5, 0.9], [0.95, 0.995], [0.95, 0.995], [0.8, 0.98], [0.3, 0.8], [0.5, 0.9]]) {
      const want = expectedPasses(fresh(node, edge));
      const again = countBackward(() => s.prune(run, raw, { node, edge }));
      const truth = countBackward(() => fresh(node, edge));
      assert.equal(again.calls, want, `re-prune at ${node}/${edge}: ${want} host backward passes (targets of edges no earlier prune kept)`);
      assert.ok(again.calls <= truth.calls, `re-prune at ${node}/${edge} recomputes no more than a fresh split (${again.calls} vs ${truth.calls})`);
      assert.deepEqual(headRows(again.value), headRows(truth.value), `re-prune at ${node}/${edge}: the heads of a fresh computation`);
      if (want > 0) sawNewEdges = true;
      for (const k of edgeKeys(again.value)) seen.add(k);
    }
    assert.ok(sawNewEdges, 'a looser threshold brought edges no earlier prune kept');
    assert.equal(countBackward(() => s.prune(run, raw, { node: 0.95, edge: 0.995 })).calls, 0, 'a threshold seen before runs no host backward pass');
    assert.deepEqual(headRows(s.prune(run, raw, { node: 0.8, edge: 0.98 })), headRows(g0));
  } finally {
    await s.dispose();
  }
});
