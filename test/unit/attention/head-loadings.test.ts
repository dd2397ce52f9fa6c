/**
 * Head loadings (src/engine/attention/head-loadings.ts) against independent truth:
 * 1. the sum rule: for every edge between two positions, the per-(layer, head) contributions sum to
 *    the edge as the ONNX backward sweep computed it (an independent implementation), ≤ 1e-4 of the
 *    row's largest edge — on GPT-2, Llama, Gemma-2, Qwen3, a cross-layer transcoder and the embedded model;
 * 2. the PyTorch reference (tools/reference/attention_ref.py), which builds each head's part by a
 *    forward pass of the source through diagonal-only attention, one head's off-diagonal hop, then the
 *    full frozen model: per-head values equal ≤ 1e-4 relative;
 * 3. the graph carries them: toAttributionGraph keeps the top heads per kept cross-position edge and
 *    pruneGraph keeps them with their edges.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { computeAttribution, toAttributionGraph } from '../../../src/engine/attribution/attribute';
import { pruneGraph } from '../../../src/engine/attribution/graph-ops';
import { fromGraphFile, parseGraphFile, serializeGraphFile, toGraphFile } from '../../../src/engine/graph-file';
import { headTargetOfRow, linearModelOf, positionOfNode, sweepColumnOfNode, headsOfEdge } from '../../../src/engine/attention/graph-heads';
import { headLoadings, type HeadTarget, type HeadLoadingEdge } from '../../../src/engine/attention/head-loadings';
import { EMBEDDED, embeddedPresent, FIXTURES, loadFixture } from '../attribution/helpers';
import { runHeadReference, type RefEdge } from './reference';

for (const f of [...FIXTURES, ...EMBEDDED.filter(embeddedPresent)]) {
  test(`head loadings sum to the edge and match the reference: ${f.model} with ${f.transcoders}`, async () => {
    const { bundle, engine, modelDir, dictDir } = await loadFixture(f);
    const spec = bundle.spec;
    const raw = await computeAttribution(engine, f.prompt, { edgeTolerance: 0 });
    const m = linearModelOf(spec, engine.replacement, raw, false);
    const a = raw.adjacency;
    const targets: HeadTarget[] = [];
    const edges: HeadLoadingEdge[] = [];
    const weights: number[] = [];
    const rowMax: number[] = [];
    const refEdges: RefEdge[] = [];
    const rows = Array.from({ length: a.nNodes }, (_, r) => r).filter((r) => headTargetOfRow(spec, engine.replacement, raw, r));
    // Every logit row and a spread of feature rows (bounded test time), with all of their cross-position edges.
    const step = Math.max(1, Math.floor(rows.length / 12));
    for (const row of rows.filter((r, i) => r >= a.nNodes - raw.layout.nLogits || i % step === 0)) {
      const t = headTargetOfRow(spec, engine.replacement, raw, row)!;
      let max = 0;
      for (let p = a.rowPtr[row]; p < a.rowPtr[row + 1]; p++) max = Math.max(max, Math.abs(a.val[p]));
      targets.push(t);
      for (let p = a.rowPtr[row]; p < a.rowPtr[row + 1]; p++) {
        if (positionOfNode(raw, a.col[p]) === positionOfNode(raw, row) || Math.abs(a.val[p]) < 1e-3 * max) continue;
        edges.push({ source: sweepColumnOfNode(raw, a.col[p]), target: targets.length - 1 });
        weights.push(a.val[p]);
        rowMax.push(max);
        if (refEdges.length < 12 && edges.length % 5 === 0) refEdges.push({ row, col: a.col[p], index: edges.length - 1 });
      }
    }
    assert.ok(edges.length > 20, `enough cross-position edges to test (${edges.length})`);
    const res = headLoadings(m, targets, edges);
    let worst = 0, nonTrivial = 0;
    res.perHead.forEach((ph, i) => {
      let sum = 0, nz = 0;
      for (const v of ph) {
        sum += v;
        if (Math.abs(v) > 1e-6 * rowMax[i]) nz++;
      }
      if (nz > 1) nonTrivial++;
      const err = Math.abs(sum - weights[i]) / rowMax[i];
      worst = Math.max(worst, err);
      assert.ok(err <= 1e-4, `edge ${i}: Σ heads ${sum} vs edge ${weights[i]} (row max ${rowMax[i]})`);
    });
    assert.ok(nonTrivial > 0, 'some edge is shared between several heads (the split is not trivial)');

    const ref = runHeadReference(modelDir, dictDir, raw, refEdges.map((e) => ({ ...e, target: headTargetOfRow(spec, engine.replacement, raw, e.row)! })));
    let worstRef = 0;
    refEdges.forEach((e, j) => {
      const mine = res.perHead[e.index];
      const theirs = ref.heads[j];
      let num = 0, den = 0;
      for (let k = 0; k < mine.length; k++) {
        num = Math.max(num, Math.abs(mine[k] - theirs[k]));
        den = Math.max(den, Math.abs(theirs[k]));
      }
      const rel = num / Math.max(den, 1e-12);
      worstRef = Math.max(worstRef, rel);
      assert.ok(rel <= 1e-4, `edge ${j}: per-head values differ from the reference by ${rel}`);
    });
    console.log(`# ${f.model}/${f.transcoders}: ${edges.length} cross-position edges, worst Σ-heads error ${worst.toExponential(2)}; ${refEdges.length} edges vs reference, worst ${worstRef.toExponential(2)}`);
  });
}

test('the graph keeps each cross-position edge\'s top heads, and pruning keeps them with their edges', async () => {
  const f = FIXTURES[0];
  const { engine } = await loadFixture(f);
  const raw = await computeAttribution(engine, f.prompt, {});
  const g = toAttributionGraph(engine, undefined, raw, f.prompt, { nodeThreshold: 0.9, edgeThreshold: 0.99 });
  const h = g.edgeHeads!;
  assert.ok(h, 'edgeHeads present');
  assert.equal(h.offsets.length, g.edges.weight.length + 1);
  let cross = 0;
  for (let e = 0; e < g.edges.weight.length; e++) {
    const s = g.nodes[g.edges.source[e]], t = g.nodes[g.edges.target[e]];
    const heads = headsOfEdge(h, e);
    if (s.position === t.position) assert.equal(heads.length, 0, 'no heads on same-position edges');
    else {
      cross++;
      assert.ok(heads.length > 0, 'a cross-position edge has heads');
      for (let k = 1; k < heads.length; k++) assert.ok(Math.abs(heads[k - 1].weight) >= Math.abs(heads[k].weight), 'largest first');
      for (const x of heads) assert.ok(x.layer >= 0 && x.layer <= Math.max(s.layer + 1, t.layer) && x.layer < g.nLayers, 'a head at a layer between source and target');
    }
  }
  assert.ok(cross > 0, 'the graph has cross-position edges');
  const p = pruneGraph(g, { nodeThreshold: 0.6, edgeThreshold: 0.9 });
  assert.ok(p.edges.weight.length < g.edges.weight.length);
  const key = (gr: typeof g, e: number) => `${gr.nodes[gr.edges.source[e]].label}|${gr.nodes[gr.edges.source[e]].position}|${gr.nodes[gr.edges.source[e]].index}|${gr.nodes[gr.edges.target[e]].position}|${gr.nodes[gr.edges.target[e]].index}|${gr.nodes[gr.edges.target[e]].layer}|${gr.nodes[gr.edges.source[e]].layer}`;
  const before = new Map<string, string>();
  for (let e = 0; e < g.edges.weight.length; e++) before.set(key(g, e), JSON.stringify(headsOfEdge(h, e)));
  for (let e = 0; e < p.edges.weight.length; e++) assert.equal(JSON.stringify(headsOfEdge(p.edgeHeads!, e)), before.get(key(p, e)), 'heads travel with their edge');

  // Graph files: links carry `heads`, read back exactly (float32 values); a malformed field is refused.
  const text = serializeGraphFile(toGraphFile(g));
  const file = parseGraphFile(text);
  const withHeads = file.links.filter((l) => l.heads);
  assert.equal(withHeads.length, cross, 'one heads field per cross-position link');
  const back = fromGraphFile(file);
  for (let e = 0; e < g.edges.weight.length; e++) assert.deepEqual(headsOfEdge(back.edgeHeads!, e), headsOfEdge(h, e));
  const json = JSON.parse(text) as { links: { heads?: unknown }[] };
  const bad = json.links.findIndex((l) => l.heads);
  for (const heads of ['x', [[0, 1]], [[-1, 0, 1]], [[0, 0, 'big']], Array.from({ length: 17 }, () => [0, 0, 1])]) {
    json.links[bad].heads = heads;
    assert.throws(() => parseGraphFile(JSON.stringify(json)), (err: Error) => err.message.includes(`links[${bad}].heads`), `refuses heads = ${JSON.stringify(heads).slice(0, 40)}`);
  }
});
