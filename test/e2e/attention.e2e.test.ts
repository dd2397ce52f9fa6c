/**
 * Attention in the graph view, on a real analysis of the embedded model's induction prompt (computed by
 * the engine here and saved as a graph file, so the view reads real head loadings): hovering an edge
 * between positions lists the heads that carry it — their names and parts equal the file's link
 * `heads` — and the connections list names the strongest heads of each such edge. Selecting that node
 * shows its QK attribution in the node card (computed by the extension's worker on the graph's prompt):
 * the head of its strongest cross-position edge by default, any other head it offers on request, the
 * numbers equal to the engine's own QK tracing run here; readable in a light and a dark theme.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Frame, FrameLocator } from 'playwright-core';
import { launchVsCode, type VsCode } from './harness';
import { graphSummary, waitForActivation } from './circuit';
import { computeAttribution, toAttributionGraph } from '../../src/engine/attribution/attribute';
import { createEngine } from '../../src/engine/attribution/engine';
import { replacementFromDictionary } from '../../src/engine/attribution/from-dictionary';
import { loadModelBundle } from '../../src/engine/bundle/index';
import { loadDictionary } from '../../src/engine/dictionaries/index';
import { serializeGraphFile, toGraphFile, type GraphFile } from '../../src/engine/graph-file';
import { nodeRefOfId, qkForNode } from '../../src/engine/attention/node-qk';
import type { RawAttribution } from '../../src/engine/attribution/attribute';
import type { AttributionEngine } from '../../src/engine/attribution/engine';
import { measureContrast, setColorTheme } from './contrast';

const ROOT = join(__dirname, '..', '..');
const FILE = 'induction.graph.json';
let vs: VsCode;
let view: FrameLocator;
let frame: Frame;
let graph: GraphFile;
let engine: AttributionEngine;
let raw: RawAttribution;

type W = { circuitInspectorView: { nodeAt(id: string): { x: number; y: number } | undefined } };
const nodeAt = (id: string) => frame.evaluate((id) => (window as unknown as W).circuitInspectorView.nodeAt(id), id);

before(async () => {
  const dir = join(ROOT, 'models', 'toy-llama');
  const bundle = await loadModelBundle(dir);
  const dict = await loadDictionary(join(dir, 'transcoders'), { dModel: bundle.spec.dModel, nLayers: bundle.spec.nLayers });
  engine = await createEngine(bundle, replacementFromDictionary(dict, bundle.spec), { provider: 'cpu', threads: 1 });
  const prompt = readFileSync(join(ROOT, 'examples', 'induction.prompt'), 'utf8').trim();
  raw = await computeAttribution(engine, prompt);
  graph = toGraphFile(toAttributionGraph(engine, dict, raw, prompt, { headLoadings: true }));
  vs = await launchVsCode({ name: 'attention', files: { [FILE]: serializeGraphFile(graph) }, viewport: { width: 1400, height: 900 } });
  await vs.step('open the saved graph', async () => {
    // The custom editor is there once the extension is active; before, the file would open as JSON text.
    await waitForActivation(vs, 180_000);
    await vs.openFromExplorer(FILE);
    view = vs.webview('editor');
    await graphSummary(view, 180_000);
  });
  frame = await vs.webviewFrame('editor');
});
after(async () => {
  await vs?.close();
  await engine?.forward.dispose();
});

/** The node with the most incoming edges between positions (the node both tests select). */
function busiestTarget(): string {
  const count = new Map<string, number>();
  for (const l of graph.links.filter((l) => l.heads?.length)) count.set(l.target, (count.get(l.target) ?? 0) + 1);
  return [...count].sort((a, b) => b[1] - a[1])[0][0];
}

test('hovering an edge between positions shows the heads that carry it; the connections list names them', async () => {
  const withHeads = graph.links.filter((l) => l.heads?.length);
  assert.ok(withHeads.length > 0, 'the analysis has edges between positions');
  // The node with the most such incoming edges; its strongest one is hovered.
  const target = busiestTarget();
  const canvas = view.locator('[data-testid="graph-canvas"] canvas');
  const edges = withHeads.filter((l) => l.target === target).sort((a, b) => Math.abs(b.weight) - Math.abs(a.weight));
  await vs.step('select the node', async () => {
    const p = await nodeAt(target);
    assert.ok(p, `${target} is drawn`);
    await canvas.click({ position: p });
    await view.locator('[data-testid="connections"]').waitFor();
  });
  // The connections list: every incoming row whose link has heads names its strongest head.
  const rows = await view.locator('[data-testid="connections-in"] [data-testid="connection-row"]').evaluateAll((rs) => rs.map((r) => ({ id: r.getAttribute('data-node-id'), heads: r.querySelector('[data-testid="connection-heads"]')?.textContent ?? '' })));
  for (const r of rows) {
    const link = graph.links.find((l) => l.source === r.id && l.target === target)!;
    if (link.heads?.length) assert.ok(r.heads.startsWith(`via L${link.heads[0][0]}.H${link.heads[0][1]} `), `row ${r.id}: "${r.heads}" names L${link.heads[0][0]}.H${link.heads[0][1]}`);
    else assert.equal(r.heads, '', `row ${r.id} (same position) names no head`);
  }
  // Hover the strongest such edge that the pointer can reach at its midpoint.
  let shown: { name: string; weight: number }[] | undefined;
  let hovered: (typeof edges)[number] | undefined;
  for (const e of edges.slice(0, 6)) {
    const a = await nodeAt(e.source), b = await nodeAt(e.target);
    if (!a || !b) continue;
    await canvas.hover({ position: { x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 } });
    const tip = view.locator('[data-testid="edge-heads"]');
    if (!(await tip.isVisible().catch(() => false))) {
      await tip.waitFor({ timeout: 1500 }).catch(() => {});
      if (!(await tip.isVisible().catch(() => false))) continue;
    }
    const title = await view.locator('[data-testid="edge-tooltip"]').innerText();
    if (Math.abs(Math.abs(Number(title.replace('−', '-').replace('+', ''))) - Math.abs(e.weight)) > 1e-3 * Math.abs(e.weight)) continue; // another edge under the pointer
    shown = await view.locator('[data-testid="edge-head"]').evaluateAll((hs) => hs.map((h) => ({ name: h.getAttribute('data-head') ?? '', weight: Number(h.getAttribute('data-weight')) })));
    hovered = e;
    break;
  }
  assert.ok(shown && hovered, 'an edge between positions was hovered');
  await vs.screenshot('edge-heads');
  const want = hovered.heads!.map(([l, h, w]) => ({ name: `L${l}.H${h}`, weight: w }));
  const listed = shown.filter((h) => h.name !== 'other heads');
  assert.deepEqual(listed.map((h) => h.name), want.map((h) => h.name), 'the tooltip lists the file\'s heads, largest first');
  listed.forEach((h, i) => assert.ok(Math.abs(h.weight - want[i].weight) <= 1e-6 * Math.max(1, Math.abs(want[i].weight)), `${h.name}: ${h.weight} vs ${want[i].weight}`));
  const other = shown.find((h) => h.name === 'other heads');
  const rest = hovered.weight - want.reduce((s, h) => s + h.weight, 0);
  if (other) assert.ok(Math.abs(other.weight - rest) <= 1e-4 * Math.abs(hovered.weight), 'other heads = the edge minus the listed parts');
  else assert.ok(Math.abs(rest) <= 1e-4 * Math.abs(hovered.weight), 'no remainder when the listed heads carry the whole edge');
});

test('the node card shows the QK attribution of the head carrying the node\'s strongest cross-position edge, and of a head picked from its list', async () => {
  const target = busiestTarget();
  const nodes = new Map(graph.nodes.map((n) => [n.node_id, n]));
  const strongest = graph.links.filter((l) => l.target === target && nodes.get(l.source)!.ctx_idx !== nodes.get(target)!.ctx_idx).sort((a, b) => Math.abs(b.weight) - Math.abs(a.weight))[0];
  const wantHead = `L${strongest.heads![0][0]}.H${strongest.heads![0][1]}`;
  const spec = engine.bundle.spec;
  const zeroBos = Boolean(raw.tokens[0].special || raw.tokens[0].id === spec.bosTokenId);
  const result = view.locator('[data-testid="qk-result"]');
  /** What the card shows against the engine's QK tracing of that head, run here. */
  const check = async (head: string) => {
    await view.locator(`[data-testid="qk-result"][data-head="${head}"]`).waitFor({ timeout: 300_000 });
    const shown = await result.evaluate((r) => ({
      score: Number(r.querySelector('[data-testid="qk-score"]')!.getAttribute('data-score')),
      summary: r.querySelector('[data-testid="qk-summary"]')!.textContent ?? '',
      pairs: [...r.querySelectorAll('[data-testid="qk-pair"]')].map((p) => ({ value: Number(p.getAttribute('data-value')), ids: [...p.querySelectorAll('[data-node-id]')].map((s) => s.getAttribute('data-node-id')) })),
      keys: [...r.querySelectorAll('[data-testid="qk-key-row"]')].map((p) => ({ value: Number(p.getAttribute('data-value')), id: p.querySelector('[data-node-id]')!.getAttribute('data-node-id') })),
    }));
    const [l, h] = head.slice(1).split('.H').map(Number);
    const want = qkForNode(spec, engine.replacement, raw, zeroBos, { node: nodeRefOfId(target, spec.nLayers), head: { layer: l, head: h }, top: 8 });
    const close = (a: number, b: number) => Math.abs(a - b) <= 1e-5 * Math.max(1, Math.abs(b));
    assert.ok(close(shown.score, want.scorePre), `${head}: score ${shown.score} vs the engine's ${want.scorePre}`);
    assert.ok(shown.summary.includes(`@${want.query} → key`) && shown.summary.includes(`@${want.key} ·`), `${head}: positions ${want.query} → ${want.key} in "${shown.summary}"`);
    assert.equal(shown.pairs.length, want.pairs.length);
    shown.pairs.forEach((p, i) => {
      assert.ok(close(p.value, want.pairs[i].value), `${head} pair ${i}: ${p.value} vs ${want.pairs[i].value}`);
      assert.deepEqual(p.ids, [want.idOf(want.pairs[i].query), want.idOf(want.pairs[i].key)]);
    });
    shown.keys.forEach((k, i) => assert.ok(k.id === want.idOf(want.keyMarginal[i].column) && close(k.value, want.keyMarginal[i].value), `${head} key-side ${i}`));
  };
  await vs.step('select the node: its QK attribution', async () => {
    const p = await nodeAt(target);
    assert.ok(p, `${target} is drawn`);
    await view.locator('[data-testid="graph-canvas"] canvas').click({ position: p });
    await view.locator('[data-testid="qk"]').waitFor();
    await check(wantHead);
    await view.locator('[data-testid="qk"]').evaluate((e) => e.scrollIntoView({ block: 'start' }));
  });
  const options = await view.locator('[data-testid="qk-head"] option').evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).value));
  assert.ok(options.length >= 2, `the card offers the node's heads (${options})`);
  const other = options.find((o) => `L${o.replace('.', '.H')}` !== wantHead)!;
  await vs.step('pick another head', async () => {
    await view.locator('[data-testid="qk-head"]').selectOption(other);
    await check(`L${other.replace('.', '.H')}`);
  });
  for (const theme of ['Light Modern', 'Dark Modern']) {
    await vs.step(`qk-${theme.toLowerCase().replace(/ /g, '-')}`, async () => {
      await setColorTheme(vs, theme);
      // The section's head (picker, score, terms) at the top of the details pane for the screenshot.
      await view.locator('[data-testid="qk"]').evaluate((e) => e.scrollIntoView({ block: 'start' }));
      // Every piece of the section's text against what it sits on, in the theme's own colours.
      const found = await measureContrast(frame, '[data-testid="qk"] *', []);
      assert.ok(found.length > 10, `${theme}: the section's text was measured (${found.length})`);
      const bad = found.filter((f) => f.ratio < f.min);
      assert.deepEqual(bad, [], `${theme}: text below 4.5:1`);
    });
  }
});
