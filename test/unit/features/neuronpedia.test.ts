/**
 * Neuronpedia exports (src/engine/features/neuronpedia.ts): the explanation export (a JSON array), the
 * dataset's JSONL batches (gzipped) and feature JSON give each feature its published label, its
 * author and its examples best first without repeats; records that name no feature are counted and
 * skipped; files with nothing usable are refused with a clear error. Built into the dashboards of the
 * embedded model, a card keeps the published label next to the dictionary's own, and search finds the
 * feature by the published words.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { buildDashboards } from '../../../src/engine/features/dashboards';
import { neuronpediaLayer, PublishedFeatures } from '../../../src/engine/features/neuronpedia';
import { FeatureStore } from '../../../src/engine/features/store';
import { EMBEDDED, embeddedPresent, loadFixture, ROOT } from '../attribution/helpers';

test('Neuronpedia exports: explanation JSON, gzipped JSONL batches and feature JSON', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ci-np-'));
  try {
    const explanations = join(dir, 'explanations.json');
    // The last record is written as text: a "__proto__" key in JSON is data, not a prototype.
    writeFileSync(explanations, JSON.stringify([
      { modelId: 'gemma-2-2b', layer: '12-gemmascope-transcoder-16k', index: '123', description: ' references to Texas', explanationModelName: 'gpt-4o-mini', typeName: 'oai_token-act-pair' },
      { modelId: 'gemma-2-2b', layer: '12-gemmascope-transcoder-16k', index: '123', description: 'a second explanation' },
      { modelId: 'gemma-2-2b', layer: 'no-layer', index: '5', description: 'skipped' },
      { layer: '3-x', index: '7', description: '<img src=x onerror=alert(1)>' },
    ]).replace(/\]$/, ', {"layer": "3-x", "index": "8", "__proto__": {"description": "inherited"}}]'));
    const batch = join(dir, 'batch-0.jsonl.gz');
    const acts = [
      { layer: '12-gemmascope-transcoder-16k', index: '123', tokens: ['in', ' Dallas'], values: [0, 3], maxValue: 3 },
      { layer: '12-gemmascope-transcoder-16k', index: '123', tokens: ['in', ' Austin'], values: [0, 9], maxValue: 9 },
      { layer: '12-gemmascope-transcoder-16k', index: '123', tokens: ['in', ' Dallas'], values: [0, 3], maxValue: 3 },
      { layer: '12-gemmascope-transcoder-16k', index: 'x', tokens: ['bad'], values: [1] },
    ];
    writeFileSync(batch, gzipSync(acts.map((a) => JSON.stringify(a)).join('\n') + '\n'));
    const feature = join(dir, 'feature.json');
    writeFileSync(feature, JSON.stringify({ layer: '0-res', index: 42, explanations: [{ description: 'the word cat' }], activations: [{ tokens: ['a', ' cat'], values: [0, 2] }] }));

    const p = PublishedFeatures.read([explanations, batch, feature]);
    const f = p.get(12, 123)!;
    assert.equal(f.label, 'references to Texas', 'the first explanation, trimmed');
    assert.equal(f.by, 'gpt-4o-mini');
    assert.deepEqual(f.examples.map((e) => e.tokens.join('')), ['in Austin', 'in Dallas'], 'best first, a repeated text once');
    assert.equal(p.get(3, 7)!.label, '<img src=x onerror=alert(1)>', 'labels are kept as literal text');
    assert.equal(p.get(3, 8), undefined, 'a description only reachable through a prototype is not read');
    assert.deepEqual(p.get(0, 42), { layer: 0, index: 42, label: 'the word cat', examples: [{ tokens: ['a', ' cat'], values: [0, 2] }] });
    assert.equal(p.skipped, 4, 'the record without a layer, the one without an index, the one with only a "__proto__" description, the second explanation of 12:123');
    assert.equal(neuronpediaLayer('20-gemmascope-res-16k'), 20);
    assert.equal(neuronpediaLayer('blocks.3'), undefined);

    const empty = join(dir, 'empty.json');
    writeFileSync(empty, JSON.stringify([{ modelId: 'm', description: 'no layer' }]));
    assert.throws(() => PublishedFeatures.read([empty]), /No feature explanation or activation was found/);
    const broken = join(dir, 'broken.jsonl');
    writeFileSync(broken, '{"layer": "1-x", "index": 1, "description": "ok"}\n{not json\n');
    assert.throws(() => PublishedFeatures.read([broken]), /broken\.jsonl line 2 is not valid JSON/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const F = EMBEDDED[0];
test('dashboards keep published labels beside the dictionary\'s own; search finds them', { skip: !embeddedPresent(F) ? 'embedded model not built' : false }, async () => {
  const { dictionary, engine } = await loadFixture(F);
  const dir = mkdtempSync(join(tmpdir(), 'ci-np-dash-'));
  try {
    const exportFile = join(dir, 'explanations.json');
    writeFileSync(exportFile, JSON.stringify([{ layer: '1-toy-transcoder', index: '5', description: 'zebracorn published words', explanationModelName: 'claude' }]));
    const docs = readFileSync(join(ROOT, 'models', 'toy-llama', 'corpus.jsonl'), 'utf8').split('\n').filter(Boolean).slice(0, 2).map((l) => (JSON.parse(l) as { text: string }).text);
    const out = join(dir, 'dashboards.sqlite');
    await buildDashboards(engine, dictionary, docs, out, { batchDocs: 2, topK: 3, published: PublishedFeatures.read([exportFile]) });
    const store = await FeatureStore.open(out);
    try {
      const card = store.card(1, 5)!;
      const own = dictionary.featureInfo(1, 5);
      assert.deepEqual(card.published, { label: 'zebracorn published words', by: 'claude', examples: [] });
      // The dictionary's own scored label stays the label; the published one is kept beside it.
      assert.equal(card.label, own?.label || 'zebracorn published words');
      assert.equal(store.card(1, 6)?.published, undefined);
      assert.deepEqual(store.search('zebracorn').map((h) => `${h.layer}:${h.index}`), ['1:5']);
    } finally {
      store.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
