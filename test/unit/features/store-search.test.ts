/**
 * The feature store's search against a brute-force scan of the same cards (independent truth): for
 * queries that match a few features and queries that match most of them, the store returns exactly the
 * first `limit` matching features in the documented order — features whose label matches first, then
 * those whose automatic description or top tokens match; in each group scored labels by F1, then
 * unscored labels, then automatic descriptions, density breaking ties — no candidate cap, however
 * common the word.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FeatureStore, searchOrder, STORE_SCHEMA_VERSION, type DashboardCard } from '../../../src/engine/features/store';

const LAYERS = 3;
const PER_LAYER = 1500;

test('store search = brute-force filter and sort of every card, for rare and common words and prefixes', async () => {
  let seed = 11;
  const rnd = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
  const common = ['state', 'word', 'number'];
  const rare = Array.from({ length: 400 }, (_, i) => `w${i.toString(36)}x`);
  const pick = () => (rnd() < 0.5 ? common[Math.floor(rnd() * common.length)] : rare[Math.floor(rnd() * rare.length)]);
  const dir = mkdtempSync(join(tmpdir(), 'ci-store-search-'));
  const path = join(dir, 'dashboards.sqlite');
  const writer = await FeatureStore.create({
    schema: STORE_SCHEMA_VERSION, model: 't', dictionary: 't', corpus: 't', tokens: 0, documents: 0, features: 0, layers: [0, 1, 2], histogramEdges: [], builtMs: 0, seconds: 0,
  });
  const cards: { card: DashboardCard; label: string; text: string }[] = [];
  for (let l = 0; l < LAYERS; l++) {
    for (let i = 0; i < PER_LAYER; i++) {
      const r = rnd();
      const labelSource = r < 0.4 ? 'latent' : r < 0.6 ? 'published' : r < 0.8 ? 'automatic' : '';
      const firesOn = [pick(), pick()];
      const card: DashboardCard = {
        layer: l, index: i, label: labelSource === '' ? '' : `${pick()} ${pick()}`, labelSource,
        evidence: labelSource === 'latent' || (labelSource === 'published' && rnd() < 0.5) ? { f1: Math.round(rnd() * 100) / 100 } : undefined,
        automatic: `fires on: ${firesOn.join(', ')}`, density: Math.round(rnd() * 1000) / 1e5, firings: 1, maxAct: 1, meanAct: 1,
        top: [], quantiles: [], histogram: [], firesOn,
      };
      const tokens = [...firesOn, pick()];
      writer.add(card, tokens);
      // What the store indexes: the label (an automatic one is not a label), then the data's words.
      const label = card.labelSource === 'automatic' ? '' : card.label;
      cards.push({ card, label: label.toLowerCase(), text: `${label} ${card.automatic} ${tokens.join(' ')}`.toLowerCase() });
    }
  }
  writer.save(path);
  const store = await FeatureStore.open(path);
  try {
    const words = (t: string): string[] => t.match(/[\p{L}\p{N}_]+/gu) ?? [];
    // Label matches first, then matches anywhere else; each group in the documented order.
    const brute = (query: string, limit: number) => {
      const q = words(query.toLowerCase());
      const has = (text: string) => {
        const w = words(text);
        return q.every((x, k) => (k === q.length - 1 ? w.some((y) => y.startsWith(x)) : w.includes(x)));
      };
      const key = ({ card: c }: (typeof cards)[number]) => ({ layer: c.layer, index: c.index, labelSource: c.labelSource, f1: c.evidence?.f1 ?? null, density: c.density });
      const first = cards.filter((c) => has(c.label)).map(key).sort(searchOrder);
      const then = cards.filter((c) => !has(c.label) && has(c.text)).map(key).sort(searchOrder);
      return [...first, ...then].slice(0, limit).map((h) => `L${h.layer}#${h.index}`);
    };
    const queries: [string, number][] = [['state', 50], ['stat', 50], ['word number', 30], ['st', 5], [rare[7], 50], [`${rare[3]} sta`, 20], ['number', 4000], ['nothingmatches', 10]];
    for (const [query, limit] of queries) {
      const want = brute(query, limit);
      const got = store.search(query, limit).map((h) => `L${h.layer}#${h.index}`);
      assert.deepEqual(got, want, `search "${query}" (limit ${limit})`);
    }
    assert.ok(brute('number', 4000).length > 2000, 'a query matches more features than the old 2000-candidate cap');
    const hit = store.search('state', 1)[0];
    const c = cards.find((x) => x.card.layer === hit.layer && x.card.index === hit.index)!.card;
    assert.equal(hit.f1, c.evidence?.f1 ?? null, 'the hit carries the stored F1');
    assert.equal(hit.label, c.label);
    assert.deepEqual(store.search('"); DROP TABLE features; --'), [], 'query text is data, never SQL');
    assert.equal(store.card(2, PER_LAYER - 1)?.index, PER_LAYER - 1, 'cards still load');
  } finally {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
