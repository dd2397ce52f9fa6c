/**
 * Influence, pruning and graph scores on the sparse adjacency against circuit-tracer's dense
 * definitions, computed independently in PyTorch by tools/reference/attribution_ref.py --prune on the
 * reference's own edges; and the graph attribute() returns against the same masks.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { attribute, computeAttribution } from '../../../src/engine/attribution/attribute';
import { pruneCsr, type NodeLayout } from '../../../src/engine/attribution/prune';
import { scoresOnCsr } from '../../../src/engine/attribution/scores';
import { csrFromCoo } from '../../../src/engine/attribution/sparse';
import { nodeIdOf } from '../../../src/engine/graph-file';
import { CACHE_DIR, FIXTURES, loadFixture, runReference, type Reference } from './helpers';

/** The reference's rows as a sparse adjacency over [features, errors, tokens, logits]. */
function referenceCsr(ref: Reference, L: number, T: number) {
  const n = ref.features.length, k = ref.logitIds.length;
  const N = n + L * T + T + k;
  const src: number[] = [], dst: number[] = [], w: number[] = [];
  for (let r = 0; r < ref.rows; r++) {
    const node = r < n ? r : N - k + (r - n);
    for (let c = 0; c < ref.cols; c++) {
      const v = ref.edges[r * ref.cols + c];
      if (v !== 0) {
        src.push(c);
        dst.push(node);
        w.push(v);
      }
    }
  }
  const lw = new Float64Array(N);
  ref.logitProbs.forEach((p, j) => (lw[N - k + j] = p));
  const layout: NodeLayout = { nFeatures: n, nErrors: L * T, nTokens: T, nLogits: k };
  return { csr: csrFromCoo(N, Int32Array.from(dst), Int32Array.from(src), Float32Array.from(w)), lw, layout, N };
}

for (const f of [FIXTURES[0], FIXTURES[1], FIXTURES[4]]) {
  test(`influence, pruning and scores match circuit-tracer's definitions: ${f.model} with ${f.transcoders}`, async () => {
    const { bundle, engine, dictionary, modelDir, dictDir } = await loadFixture(f);
    const L = bundle.spec.nLayers;
    const raw = await computeAttribution(engine, f.prompt, { edgeTolerance: 0 });
    const T = raw.frozen.T;
    const thresholds: [number, number] = [0.8, 0.98];
    const ref = runReference(modelDir, dictDir, raw.frozen.ids, raw.tokens[0].special, thresholds);
    const pr = ref.pruned!;
    const { csr, lw, layout, N } = referenceCsr(ref, L, T);
    const mine = pruneCsr(csr, layout, lw, ...thresholds);
    let maxInf = 0;
    for (const v of pr.influence) maxInf = Math.max(maxInf, Math.abs(v));
    for (let i = 0; i < N; i++) {
      assert.ok(Math.abs(mine.influence[i] - pr.influence[i]) <= 1e-5 * maxInf, `influence of node ${i}: ${mine.influence[i]} vs ${pr.influence[i]}`);
      assert.ok(Math.abs(mine.cumulative[i] - pr.cumulative[i]) <= 1e-5, `cumulative score of node ${i}`);
      assert.equal(mine.nodeMask[i], pr.nodeMask[i], `node ${i} kept?`);
    }
    // Edge mask: compare entry by entry (the reference's is dense).
    let keptEdges = 0;
    for (let r = 0; r < N; r++) {
      for (let p = csr.rowPtr[r]; p < csr.rowPtr[r + 1]; p++) {
        assert.equal(mine.edgeMask[p], pr.edgeMask[r * N + csr.col[p]], `edge ${csr.col[p]} → ${r} kept?`);
        keptEdges += mine.edgeMask[p];
      }
    }
    let refKept = 0;
    for (const v of pr.edgeMask) refKept += v;
    assert.equal(keptEdges, refKept, 'kept edges');
    const scores = scoresOnCsr(csr, layout, lw);
    assert.ok(Math.abs(scores.replacement - pr.scores[0]) < 1e-5, `replacement score ${scores.replacement} vs ${pr.scores[0]}`);
    assert.ok(Math.abs(scores.completeness - pr.scores[1]) < 1e-5, `completeness score ${scores.completeness} vs ${pr.scores[1]}`);
    const nodesKept = mine.nodeMask.reduce((a, b) => a + b, 0);
    assert.ok(nodesKept > layout.nTokens + layout.nLogits && nodesKept < N, `pruning kept a proper subset (${nodesKept} of ${N})`);

    // The graph attribute() returns: the same nodes and edges (by graph-file id), on the engine's edges.
    const g = await attribute(bundle, dictionary, f.prompt, { edgeTolerance: 0, runtime: { cacheDir: CACHE_DIR, threads: 1, provider: 'cpu' } });
    const want = new Set<string>();
    const idOf = (i: number): string => {
      if (i < layout.nFeatures) {
        const [layer, position, index] = ref.features[i];
        return nodeIdOf({ kind: 'feature', layer, position, index }, L);
      }
      if (i < layout.nFeatures + layout.nErrors) {
        const e = i - layout.nFeatures;
        return nodeIdOf({ kind: 'error', layer: Math.floor(e / T), position: e % T, index: -1 }, L);
      }
      if (i < N - layout.nLogits) {
        const t = i - layout.nFeatures - layout.nErrors;
        return nodeIdOf({ kind: 'embedding', layer: -1, position: t, index: raw.frozen.ids[t] }, L);
      }
      return nodeIdOf({ kind: 'logit', layer: L, position: T - 1, index: ref.logitIds[i - (N - layout.nLogits)] }, L);
    };
    for (let i = 0; i < N; i++) if (pr.nodeMask[i]) want.add(idOf(i));
    const got = new Set(g.nodes.map((n) => nodeIdOf(n, L)));
    assert.deepEqual([...got].sort(), [...want].sort(), 'pruned graph nodes');
    assert.equal(g.edges.weight.length, refKept, 'pruned graph edges');
    assert.ok(Math.abs(g.scores!.replacement - pr.scores[0]) < 1e-4 && Math.abs(g.scores!.completeness - pr.scores[1]) < 1e-4, 'graph scores');
    console.log(`# ${f.model}/${f.transcoders}: kept ${nodesKept} of ${N} nodes and ${refKept} edges; replacement ${scores.replacement.toFixed(4)}, completeness ${scores.completeness.toFixed(4)}`);
  });
}
