/**
 * Bench section `features`: the feature store at the size of a real dictionary — 26 layers × 16,384
 * features (425,984, Gemma-2-2B with Gemma Scope's 16k transcoders) of synthetic dashboards (a label, an
 * automatic description, five top contexts, quantile examples, a histogram and logits each) written
 * through the same writer the builder uses, then: opening the file, loading a card by (layer, index),
 * and searching labels / top tokens. Goals: card ≤ 20 ms, search ≤ 50 ms (reported as ratios).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FeatureStore, STORE_SCHEMA_VERSION, type DashboardCard } from '../src/engine/features/store';
import type { BenchRow, Section } from './table';

const LAYERS = 26;
const FEATURES = 16_384;

/** Deterministic pseudo-words, so labels share words the way real ones do. */
function words(n: number): string[] {
  const syll = ['ka', 'lo', 'mi', 'ter', 'sa', 'vin', 'do', 're', 'qua', 'zen', 'ul', 'pha', 'tor', 'ne', 'bri', 'os'];
  return Array.from({ length: n }, (_, i) => {
    let w = '';
    for (let x = i + 1; x > 0; x = Math.floor(x / syll.length)) w += syll[x % syll.length];
    return w;
  });
}

function median(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

export const benchFeatures: Section = async (ctx) => {
  const vocab = words(6000);
  let seed = 7;
  const rnd = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
  const pick = () => vocab[Math.floor(rnd() * rnd() * vocab.length)]; // skewed, like real word use
  const dir = mkdtempSync(join(tmpdir(), 'ci-bench-features-'));
  const path = join(dir, 'dashboards.sqlite');
  const t0 = performance.now();
  const writer = await FeatureStore.create({
    schema: STORE_SCHEMA_VERSION, model: 'synthetic', dictionary: 'synthetic 26 × 16384', corpus: 'synthetic', tokens: 0, documents: 0,
    features: LAYERS * FEATURES, layers: Array.from({ length: LAYERS }, (_, l) => l), histogramEdges: [], builtMs: Date.now(), seconds: 0,
  });
  const ctxEx = () => {
    const tokens = Array.from({ length: 8 }, pick);
    return { tokens, values: tokens.map(() => Math.round(rnd() * 100) / 10), at: 5, doc: Math.floor(rnd() * 1e5) };
  };
  for (let l = 0; l < LAYERS; l++) {
    for (let i = 0; i < FEATURES; i++) {
      const firesOn = [pick(), pick(), pick()];
      const top = Array.from({ length: 5 }, ctxEx);
      const card: DashboardCard = {
        layer: l, index: i, label: `${pick()} ${pick()} ${pick()}`, labelSource: rnd() < 0.5 ? 'published' : 'automatic',
        automatic: `fires on: ${firesOn.join(', ')}; promotes: ${pick()}`, density: rnd() * 0.01, firings: Math.floor(rnd() * 1e4),
        maxAct: rnd() * 20, meanAct: rnd() * 5, top, quantiles: [{ range: [0, 1], examples: [ctxEx()] }], histogram: Array.from({ length: 24 }, () => Math.floor(rnd() * 50)),
        topLogits: Array.from({ length: 5 }, () => ({ token: pick(), value: rnd(), z: rnd() })), firesOn,
      };
      writer.add(card, [...firesOn, ...card.topLogits!.map((t) => t.token)]);
    }
  }
  const bytes = writer.save(path);
  const buildS = (performance.now() - t0) / 1000;
  ctx.log(`  features: wrote ${LAYERS * FEATURES} synthetic dashboards (${(bytes / 1e6).toFixed(0)} MB) in ${buildS.toFixed(1)} s`);

  const t1 = performance.now();
  const store = await FeatureStore.open(path);
  const openMs = performance.now() - t1;
  const cardMs: number[] = [];
  for (let k = 0; k < 300; k++) {
    const l = Math.floor(rnd() * LAYERS), i = Math.floor(rnd() * FEATURES);
    const t = performance.now();
    const c = store.card(l, i);
    cardMs.push(performance.now() - t);
    if (!c || c.layer !== l || c.index !== i) throw new Error(`card ${l}:${i} not found`);
  }
  const searchMs: number[] = [];
  let hits = 0;
  for (let k = 0; k < 60; k++) {
    const q = k % 3 === 0 ? `${pick()} ${pick().slice(0, 3)}` : k % 3 === 1 ? pick() : pick().slice(0, 4);
    const t = performance.now();
    hits += store.search(q, 50).length;
    searchMs.push(performance.now() - t);
  }
  // The worst case of the old capped search: the commonest words, which match a large share of the
  // dictionary (vocab[0..2] are the likeliest picks), and one-letter prefixes.
  const commonMs: number[] = [];
  for (const q of [vocab[0], vocab[1], vocab[2], `${vocab[0]} ${vocab[1]}`, 'k', 'l', 'm', 't', 's']) {
    for (let r = 0; r < 3; r++) {
      const t = performance.now();
      store.search(q, 50);
      commonMs.push(performance.now() - t);
    }
  }
  store.close();
  rmSync(dir, { recursive: true, force: true });
  const card = median(cardMs), search = median(searchMs);
  const rows: BenchRow[] = [
    { section: 'features', name: `store of ${LAYERS}×${FEATURES} features: build (synthetic cards)`, value: buildS, unit: 's', note: `${(bytes / 1e6).toFixed(0)} MB file` },
    { section: 'features', name: 'store: open (read + load into SQLite/WASM)', value: openMs, unit: 'ms' },
    { section: 'features', name: 'card load (median of 300, by layer and index)', value: card, unit: 'ms', ratio: card / 20, ratioLabel: 'of the 20 ms goal', note: `max ${Math.max(...cardMs).toFixed(2)} ms` },
    { section: 'features', name: 'search for the commonest words and 1-letter prefixes (median of 27, top 50)', value: median(commonMs), unit: 'ms', ratio: median(commonMs) / 50, ratioLabel: 'of the 50 ms goal', note: `max ${Math.max(...commonMs).toFixed(1)} ms` },
    { section: 'features', name: 'label / top-token search (median of 60, FTS4, top 50)', value: search, unit: 'ms', ratio: search / 50, ratioLabel: 'of the 50 ms goal', note: `max ${Math.max(...searchMs).toFixed(1)} ms; ${(hits / 60).toFixed(0)} hits per query` },
  ];
  return rows;
};
