/**
 * Attention in the graph view, on a real analysis of the embedded model's induction prompt (computed by
 * the engine here and saved as a graph file, so the view reads real head loadings): hovering an edge
 * between positions lists the heads that carry it — their names and parts equal the file's link
 * `heads` — and the connections list names the strongest heads of each such edge.
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

const ROOT = join(__dirname, '..', '..');
const FILE = 'induction.graph.json';
let vs: VsCode;
let view: FrameLocator;
let frame: Frame;
let graph: GraphFile;

type W = { circuitInspectorView: { nodeAt(id: string): { x: number; y: number } | undefined } };
const nodeAt = (id: string) => frame.evaluate((id) => (window as unknown as W).circuitInspectorView.nodeAt(id), id);

before(async () => {
  const dir = join(ROOT, 'models', 'toy-llama');
  const bundle = await loadModelBundle(dir);
  const dict = await loadDictionary(join(dir, 'transcoders'), { dModel: bundle.spec.dModel, nLayers: bundle.spec.nLayers });
  const engine = await createEngine(bundle, replacementFromDictionary(dict, bundle.spec), { provider: 'cpu', threads: 1 });
  const prompt = readFileSync(join(ROOT, 'examples', 'induction.prompt'), 'utf8').trim();
  const raw = await computeAttribution(engine, prompt);
  graph = toGraphFile(toAttributionGraph(engine, dict, raw, prompt, { headLoadings: true }));
  await engine.forward.dispose();
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
});

test('hovering an edge between positions shows the heads that carry it; the connections list names them', async () => {
  const withHeads = graph.links.filter((l) => l.heads?.length);
  assert.ok(withHeads.length > 0, 'the analysis has edges between positions');
  // The node with the most such incoming edges; its strongest one is hovered.
  const count = new Map<string, number>();
  for (const l of withHeads) count.set(l.target, (count.get(l.target) ?? 0) + 1);
  const target = [...count].sort((a, b) => b[1] - a[1])[0][0];
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
