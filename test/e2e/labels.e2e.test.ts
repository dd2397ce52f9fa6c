/**
 * Labels carry their evidence, on every surface, and every number agrees with the stored evidence: on
 * the embedded model, the token hover's feature rows, the node list's rows and the feature card show
 * each feature's label with its L#idx and its F1 / precision / recall / what it was scored against,
 * exactly as `models/toy-llama/transcoders/features/layer_L.json` records them (two decimals), and a
 * label scoring below the default threshold (labels.minF1 = 0.5) reads "unlabelled (best guess: …)".
 * Then the panel's Search all features: its hits are the shipped dashboards' search (FeatureStore, read
 * here directly) with the same scores, and "Show in graph" selects the feature's node when the graph
 * has it and says so when it does not.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { launchVsCode, repoRoot, type VsCode } from './harness';
import { analyzeActiveFile, openNodeList, PROMPT, PROMPT_FILE, PROMPT_WORD, waitForActivation } from './circuit';
import { FeatureStore } from '../../src/engine/features/store';

const DICT = join(repoRoot, 'models/toy-llama/transcoders');
/** The setting's documented default (package.json): labels below it read "unlabelled (best guess …)". */
const MIN_F1 = 0.5;

interface Stored {
  label: string;
  f1: number;
  precision: number;
  recall: number;
  against: string;
}

const files = new Map<number, Map<number, Stored>>();
/** The stored evidence of a feature, read from the dictionary's feature file (the truth). */
function stored(layer: number, index: number): Stored {
  let m = files.get(layer);
  if (!m) {
    const raw = JSON.parse(readFileSync(join(DICT, 'features', `layer_${layer}.json`), 'utf8')) as Record<string, unknown>[];
    m = new Map(raw.map((f) => [f.index as number, {
      label: ((f.explanations as { description: string }[])[0]?.description ?? '') as string,
      f1: f.label_f1 as number,
      precision: f.label_precision as number,
      recall: f.label_recall as number,
      against: f.label_scored_against as string,
    }]));
    files.set(layer, m);
  }
  const s = m.get(index);
  assert.ok(s, `L${layer}#${index} is not in features/layer_${layer}.json`);
  return s;
}

const d2 = (x: number) => x.toFixed(2);
/** How the label must read: its own text when it scores at least MIN_F1, else the best-guess form. */
function expectedLabel(layer: number, index: number): string {
  const s = stored(layer, index);
  return s.f1 >= MIN_F1 ? `L${layer}#${index} ${s.label}` : `L${layer}#${index} unlabelled (best guess: ${s.label}, F1 ${d2(s.f1)})`;
}
/** As a graph node reads (node list, card title): a trusted label also carries its F1. */
function expectedLine(layer: number, index: number): string {
  const s = stored(layer, index);
  return s.f1 >= MIN_F1 ? `${expectedLabel(layer, index)} (F1 ${d2(s.f1)})` : expectedLabel(layer, index);
}
function expectedScore(s: Stored): string {
  return `F1 ${d2(s.f1)} · P ${d2(s.precision)} · R ${d2(s.recall)}`;
}
function parseId(text: string): [number, number] {
  const m = /^L(\d+)#(\d+) /.exec(text.trim());
  assert.ok(m, `no L#idx at the start of ${JSON.stringify(text)}`);
  return [Number(m[1]), Number(m[2])];
}

let vs: VsCode;
/** Which kinds of label the three surfaces showed, over all rows: both must appear somewhere. */
const seen = { trusted: 0, bestGuess: 0 };

before(async () => {
  vs = await launchVsCode({ name: 'labels', files: { [PROMPT_FILE]: PROMPT + '\n' } });
  await waitForActivation(vs);
  await vs.step('analyze', async () => {
    await vs.openFile(PROMPT_FILE);
    await analyzeActiveFile(vs);
  });
});
after(async () => {
  await vs?.close();
});

test("the token hover shows every feature's label, L#idx and score as stored", async () => {
  const rows = await vs.step('hover-labels', async () => {
    await vs.hoverText(PROMPT_WORD, { expect: /Label score/ });
    return vs.page.locator('.monaco-hover:not(.hidden) table tr').evaluateAll((trs) =>
      trs.map((tr) => Array.from(tr.querySelectorAll('td')).map((td) => (td.textContent ?? '').trim())).filter((r) => r.length >= 3),
    );
  });
  assert.ok(rows.length > 0, 'the hover lists no feature');
  for (const [label, score] of rows) {
    const [l, i] = parseId(label);
    const s = stored(l, i);
    assert.equal(label, expectedLabel(l, i), `hover label of L${l}#${i}`);
    assert.equal(score, `${expectedScore(s)} vs ${s.against}`, `hover score of L${l}#${i}`);
    if (s.f1 >= MIN_F1) seen.trusted++;
    else seen.bestGuess++;
  }
  await vs.page.mouse.move(5, 500); // away from the editor, so the hover closes
});

test("the node list shows every feature's label with its score as stored", async () => {
  const view = vs.webview('view');
  const labels = await vs.step('node-list-labels', async () => {
    await openNodeList(view);
    return view.locator('[data-testid="node-row"][data-kind="feature"] .node-row-label').allTextContents();
  });
  assert.ok(labels.length > 0, 'the node list has no feature');
  for (const text of labels.map((t) => t.trim())) {
    const [l, i] = parseId(text);
    const s = stored(l, i);
    // A trusted label carries its F1 in the row; a weak one reads as a best guess with its F1.
    assert.equal(text, expectedLine(l, i), `node-list row of L${l}#${i}`);
    if (s.f1 >= MIN_F1) seen.trusted++;
    else seen.bestGuess++;
  }
  assert.ok(seen.trusted > 0 && seen.bestGuess > 0, `both a trusted label and a best guess appear: ${JSON.stringify(seen)}`);
});

test("the feature card shows the label's evidence as stored, for a trusted label and for a best guess", async () => {
  const view = vs.webview('view');
  const rows = view.locator('[data-testid="node-row"][data-kind="feature"]');
  const ids = (await rows.evaluateAll((es) => es.map((e) => e.getAttribute('data-node-id') ?? ''))).filter(Boolean);
  const texts = (await rows.locator('.node-row-label').allTextContents()).map((t) => t.trim());
  const trusted = texts.findIndex((t) => !t.includes('unlabelled'));
  const guess = texts.findIndex((t) => t.includes('unlabelled (best guess'));
  for (const [k, name] of [[trusted, 'trusted'], [guess, 'best-guess']] as const) {
    if (k < 0) continue;
    const [l, i] = parseId(texts[k]);
    const s = stored(l, i);
    const card = await vs.step(`card-${name}`, async () => {
      await view.locator(`[data-testid="node-row"][data-node-id="${ids[k]}"]`).click();
      const title = view.locator('[data-testid="feature-card-label"]');
      await title.filter({ hasText: `L${l}#${i} ` }).waitFor({ timeout: 30_000 });
      return {
        title: (await title.innerText()).trim(),
        evidence: (await view.locator('[data-testid="feature-card-evidence"]').innerText()).trim(),
      };
    });
    assert.equal(card.title, expectedLine(l, i), `card title of L${l}#${i}`);
    assert.equal(card.evidence, `label score ${expectedScore(s)} · scored against ${s.against}`, `card evidence of L${l}#${i}`);
  }
  assert.ok(trusted >= 0 && guess >= 0, 'the graph has a trusted label and a best guess to open');
});

test('Search all features lists the dashboards\' matches with their scores; Show in graph selects the node', async () => {
  const view = vs.webview('view');
  const store = await FeatureStore.open(join(DICT, 'dashboards.sqlite'));
  const want = store.search(PROMPT_WORD, 30);
  store.close();
  assert.ok(want.length > 0, `the shipped dashboards find nothing for ${PROMPT_WORD}`);
  const hits = await vs.step('feature-search', async () => {
    const section = view.locator('[data-testid="feature-search-section"]');
    await section.waitFor();
    if ((await section.getAttribute('open')) === null) await section.locator('summary').click();
    await view.locator('[data-testid="feature-search-input"] input').fill(PROMPT_WORD);
    await view.locator('[data-testid="feature-search-button"]').click();
    await view.locator('[data-testid="feature-search-hit"]').first().waitFor({ timeout: 60_000 });
    return view.locator('[data-testid="feature-search-hit"]').evaluateAll((es) =>
      es.map((e) => ({
        feature: e.getAttribute('data-feature') ?? '',
        inGraph: e.getAttribute('data-in-graph') === 'true',
        label: (e.querySelector('[data-testid="feature-search-label"]')?.textContent ?? '').trim(),
        score: (e.querySelector('[data-testid="feature-search-score"]')?.textContent ?? '').trim(),
      })),
    );
  });
  // The same features in the same order as the store answers, each with the store's F1 and density.
  assert.deepEqual(hits.map((h) => h.feature), want.map((h) => `${h.layer}:${h.index}`));
  for (const [k, h] of hits.entries()) {
    const w = want[k];
    const [l, i] = parseId(h.label);
    assert.deepEqual([l, i], [w.layer, w.index]);
    if (w.labelSource === 'latent') {
      // A probed label: the store's F1 is the feature file's, and it reads as on the other surfaces.
      assert.equal(w.f1, stored(l, i).f1, `the store's F1 of L${l}#${i} is the feature file's`);
      assert.equal(h.label, expectedLabel(l, i));
    }
    assert.ok(h.score.startsWith(w.f1 === null ? 'no score' : `F1 ${d2(w.f1)} · `), `${h.label}: ${h.score}`);
    assert.ok(h.score.includes(`fires on ${(w.density * 100).toFixed(2)} %`), `${h.label}: ${h.score}`);
  }
  const inGraph = hits.findIndex((h) => h.inGraph);
  if (inGraph >= 0) {
    const [l, i] = parseId(hits[inGraph].label);
    await vs.step('search-show-in-graph', async () => {
      await view.locator('[data-testid="feature-search-show"]').nth(inGraph).click();
      await view.locator('[data-testid="feature-card-label"]').filter({ hasText: `L${l}#${i} ` }).waitFor({ timeout: 30_000 });
    });
  }
  const absent = hits.findIndex((h) => !h.inGraph);
  assert.ok(absent >= 0 || inGraph >= 0);
  if (absent >= 0) {
    const [l, i] = parseId(hits[absent].label);
    const status = await vs.step('search-not-in-graph', async () => {
      await view.locator('[data-testid="feature-search-show"]').nth(absent).click();
      const s = view.locator('[data-testid="feature-search-status"]');
      await s.filter({ hasText: 'is not in this graph' }).waitFor({ timeout: 10_000 });
      return (await s.innerText()).trim();
    });
    assert.match(status, new RegExp(`^L${l}#${i} is not in this graph`));
  }
});
