/**
 * Blocked attention (long prompts; forced here on a short one) against the dense path it replaces:
 * the forward's rotated q, k and log-sum-exps rebuild the dense patterns entry for entry; the graph is
 * the dense graph (same nodes, same edges to f32 rounding); the views that read dense patterns say the
 * prompt is too long for them instead of failing deep inside. Gemma-2's fixture: soft-capped scores,
 * sliding windows and grouped-query heads all go through the rebuild.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { computeAttribution, toAttributionGraph } from '../../../src/engine/attribution/attribute';
import { qkForNode } from '../../../src/engine/attention/node-qk';
import { isEngineError } from '../../../src/engine/errors';
import { hooks } from '../../../src/engine/model-spec';
import { CACHE_DIR, FIXTURES, loadFixture } from './helpers';

after(() => rmSync(CACHE_DIR, { recursive: true, force: true }));

const fixture = FIXTURES.find((f) => f.model === 'gemma2-tiny')!;

test('the forward in blocks returns q, k and lse that rebuild the dense patterns', async () => {
  const { bundle, engine } = await loadFixture(fixture);
  const spec = bundle.spec;
  const ids = Array.from({ length: 13 }, (_, i) => (i * 5 + 2) % spec.vocabSize);
  const dense = await engine.forward.run(ids);
  const blocked = await engine.forward.run(ids, { attentionBlocks: 4 });
  const T = ids.length;
  let worst = 0;
  for (let l = 0; l < spec.nLayers; l++) {
    const a = spec.blocks[l].attn;
    assert.equal(blocked.hooks.has(hooks.pattern(l)), false, 'no dense pattern in blocked mode');
    const P = dense.hooks.get(hooks.pattern(l))!.data;
    const q = blocked.hooks.get(hooks.rotQ(l))!.data, k = blocked.hooks.get(hooks.rotK(l))!.data, lse = blocked.hooks.get(hooks.lse(l))!.data;
    const hd = a.headDim, rep = a.nHeads / a.nKvHeads;
    for (let h = 0; h < a.nHeads; h++) {
      const kv = Math.floor(h / rep);
      for (let i = 0; i < T; i++) {
        for (let j = 0; j < T; j++) {
          let s = 0;
          for (let c = 0; c < hd; c++) s += q[(h * T + i) * hd + c] * k[(kv * T + j) * hd + c];
          s *= a.scale;
          if (a.softcap) s = a.softcap * Math.tanh(s / a.softcap);
          const visible = j <= i && (a.slidingWindow === undefined || i - j < a.slidingWindow);
          const p = visible ? Math.exp(s - lse[h * T + i]) : 0;
          worst = Math.max(worst, Math.abs(p - P[(h * T + i) * T + j]));
        }
      }
    }
    // The residual streams after attention agree too (the pattern is what multiplies v).
    const rd = dense.hooks.get(hooks.residPost(l))!.data, rb = blocked.hooks.get(hooks.residPost(l))!.data;
    for (let i = 0; i < rd.length; i++) assert.ok(Math.abs(rd[i] - rb[i]) <= 1e-4 * Math.max(1, Math.abs(rd[i])), `layer ${l} resid_post[${i}]`);
  }
  assert.ok(worst <= 1e-5, `rebuilt patterns differ from the dense ones by ${worst}`);
});

test('a graph with attention in blocks is the dense graph; dense-pattern views refuse it with a clear error', async () => {
  const { bundle, dictionary, engine } = await loadFixture(fixture);
  const prompt = fixture.prompt;
  const opts = { nodeThreshold: 0.8, edgeThreshold: 0.98, batchSize: 8 };
  const rawDense = await computeAttribution(engine, prompt, { ...opts, attentionBlocks: 0 });
  const rawBlocked = await computeAttribution(engine, prompt, { ...opts, attentionBlocks: 5 });
  const gd = toAttributionGraph(engine, dictionary, rawDense, prompt, opts);
  const gb = toAttributionGraph(engine, dictionary, rawBlocked, prompt, opts);
  const key = (n: { kind: string; layer: number; position: number; index: number }) => `${n.kind}:${n.layer}:${n.position}:${n.index}`;
  assert.deepEqual(gb.nodes.map(key), gd.nodes.map(key), 'same nodes in the same order');
  const ed = gd.edges, eb = gb.edges;
  assert.ok(ed.weight.length > 50, `enough edges to compare (${ed.weight.length})`);
  assert.deepEqual([...eb.source], [...ed.source], 'same edge sources');
  assert.deepEqual([...eb.target], [...ed.target], 'same edge targets');
  let maxW = 0, worst = 0;
  for (const w of ed.weight) maxW = Math.max(maxW, Math.abs(w));
  for (let i = 0; i < ed.weight.length; i++) worst = Math.max(worst, Math.abs(eb.weight[i] - ed.weight[i]));
  assert.ok(worst <= 1e-5 * maxW, `edge weights differ by ${worst} (largest edge ${maxW})`);
  // Head loadings read dense patterns: on by default for a small model, off without them.
  assert.ok(gd.edgeHeads, 'dense run: head loadings (auto)');
  assert.equal(gb.edgeHeads, undefined, 'blocked run: no head loadings');
  assert.throws(
    () => qkForNode(bundle.spec, engine.replacement, rawBlocked, true, { node: { kind: 'logit', layer: bundle.spec.nLayers, position: rawBlocked.frozen.T - 1, index: rawBlocked.targets[0].tokenId }, head: { layer: 1, head: 0 }, key: 0 }),
    (e: unknown) => isEngineError(e) && e.code === 'PROMPT_TOO_LONG' && /dense attention patterns/.test(e.message) && /shorter prompt/.test(e.hint ?? ''),
  );
});
