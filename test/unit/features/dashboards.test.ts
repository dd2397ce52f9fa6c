/**
 * Feature dashboards and the feature store, on the embedded model over a small corpus:
 * - the activations the dashboards keep are the model's: a top example's activation equals the PyTorch
 *   reference's activation of that feature at that token (tools/reference/attribution_ref.py);
 * - the dashboard's own invariants: histogram counts sum to the firings, density = firings / tokens,
 *   top contexts best first, one per document, no repeated window, the best one at the maximum;
 * - an interrupted build resumed from its checkpoint writes the same dashboards as one uninterrupted build;
 * - search finds features by label and by top token; a card loads by (layer, index).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildDashboards } from '../../../src/engine/features/dashboards';
import { FeatureStore } from '../../../src/engine/features/store';
import { EMBEDDED, embeddedPresent, loadFixture, PYTHON, readF32Tensors, ROOT } from '../attribution/helpers';

const F = EMBEDDED[0];
const skip = !embeddedPresent(F) ? 'embedded model not built' : false;

function corpus(n: number): string[] {
  return readFileSync(join(ROOT, 'models', 'toy-llama', 'corpus.jsonl'), 'utf8').split('\n').filter(Boolean).slice(0, n).map((l) => (JSON.parse(l) as { text: string }).text);
}

test('dashboards: activations equal PyTorch; histogram, density and diverse top contexts hold; resume = uninterrupted; search and cards', { skip }, async () => {
  const { bundle, dictionary, engine, modelDir, dictDir } = await loadFixture(F);
  const docs = corpus(4);
  const dir = mkdtempSync(join(tmpdir(), 'ci-dash-'));
  const full = join(dir, 'full.sqlite');
  const r = await buildDashboards(engine, dictionary, docs, full, { batchDocs: 2, topK: 5 });
  assert.equal(r.documents, 4);
  assert.ok(r.tokens > 300, `${r.tokens} tokens`);

  // Interrupted after the first batch, then resumed: the same file contents, card for card.
  const part = join(dir, 'part.sqlite');
  const ac = new AbortController();
  await assert.rejects(buildDashboards(engine, dictionary, docs, part, { batchDocs: 2, topK: 5, signal: ac.signal, onProgress: () => ac.abort() }), /cancel/i);
  assert.ok(existsSync(`${part}.partial.json`), 'a checkpoint is left behind');
  const resumed = await buildDashboards(engine, dictionary, docs, part, { batchDocs: 2, topK: 5, resume: true });
  assert.equal(resumed.resumedFrom, 2);
  assert.ok(!existsSync(`${part}.partial.json`), 'the checkpoint is removed once the store is written');

  const a = await FeatureStore.open(full), b = await FeatureStore.open(part);
  assert.equal(a.meta.tokens, r.tokens);
  let fired = 0;
  const checked: { layer: number; index: number; doc: number; at: number; act: number }[] = [];
  for (const layer of dictionary.layers) {
    for (let index = 0; index < dictionary.nFeatures(layer); index++) {
      const c = a.card(layer, index)!;
      assert.deepEqual(b.card(layer, index), c, `L${layer}#${index}: resumed build differs`);
      assert.equal(c.histogram.reduce((x, y) => x + y, 0), c.firings);
      assert.ok(Math.abs(c.density - c.firings / r.tokens) < 1e-12);
      if (!c.firings) {
        assert.equal(c.top.length, 0);
        continue;
      }
      fired++;
      const acts = c.top.map((e) => e.values[e.at]);
      assert.deepEqual(acts, acts.slice().sort((x, y) => y - x), 'best first');
      assert.equal(new Set(c.top.map((e) => e.doc)).size, c.top.length, 'one context per document');
      assert.equal(new Set(c.top.map((e) => e.tokens.join(' '))).size, c.top.length, 'no repeated window');
      assert.ok(Math.abs(acts[0] - c.maxAct) < 1e-3, 'the best context is at the maximum activation');
      for (const q of c.quantiles) for (const e of q.examples) assert.ok(e.values[e.at] >= q.range[0] - 1e-3 && e.values[e.at] <= q.range[1] + 1e-3);
      if (checked.length < 40 && c.top[0].doc === 0) checked.push({ layer, index, doc: 0, at: c.top[0].at, act: acts[0] });
    }
  }
  assert.ok(fired > 500, `${fired} features fired`);

  // PyTorch: document 0 (≤ the context length), its features' activations.
  const ids = bundle.tokenizer.encode(docs[0]).map((t) => t.id);
  assert.ok(ids.length <= bundle.spec.maxPositions);
  const out = join(dir, 'ref.safetensors');
  const p = spawnSync(PYTHON, [join(ROOT, 'tools', 'reference', 'attribution_ref.py'), '--model', modelDir, '--transcoders', dictDir, '--ids', ids.join(','), '--out', out, '--zero-bos', '--activations-only'], { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '1' } });
  assert.equal(p.status, 0, p.stderr);
  const t = readF32Tensors(out);
  const feats = t.get('features')!.data, refActs = t.get('activations')!.data;
  assert.ok(checked.length > 5, `${checked.length} features have their best context in document 0`);
  for (const c of checked) {
    // The reference gives this feature this activation somewhere in the document …
    let best = -1;
    for (let k = 0; k < refActs.length; k++) {
      if (feats[k * 3] === c.layer && feats[k * 3 + 2] === c.index && Math.abs(refActs[k] - c.act) < 2e-3 * Math.max(1, c.act)) best = k;
    }
    assert.ok(best >= 0, `L${c.layer}#${c.index}: activation ${c.act} is not one the PyTorch reference gives in document 0`);
    // And it is that feature's maximum over the document.
    let max = 0;
    for (let k = 0; k < refActs.length; k++) if (feats[k * 3] === c.layer && feats[k * 3 + 2] === c.index) max = Math.max(max, refActs[k]);
    assert.ok(Math.abs(max - c.act) < 2e-3 * Math.max(1, c.act), `L${c.layer}#${c.index}: maximum ${max} vs ${c.act}`);
  }

  // Search: by a label word and by a token the feature fires on.
  const labelled = a.card(checked[0].layer, checked[0].index)!;
  const word = (labelled.label.match(/[A-Za-z0-9]+/g) ?? []).pop()!;
  const hits = a.search(word, 2000);
  assert.ok(hits.some((h) => h.layer === labelled.layer && h.index === labelled.index), `search "${word}" finds L${labelled.layer}#${labelled.index}`);
  assert.ok(hits.every((h) => `${h.label} ${a.card(h.layer, h.index)!.automatic} ${a.card(h.layer, h.index)!.firesOn.join(' ')} ${(a.card(h.layer, h.index)!.topLogits ?? []).map((x) => x.token).join(' ')}`.toLowerCase().includes(word.toLowerCase().slice(0, -1))), 'every hit contains the word');
  assert.deepEqual(a.search('"); DROP zzqqx; --'), [], 'query text is data, never SQL');
  assert.ok(a.card(0, 0), 'the table is still there');
  a.close();
  b.close();
});
