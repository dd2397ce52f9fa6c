/**
 * The graph view read at a glance, in the custom editor of a saved graph (no model run needed): the
 * layer axis, multi-select by clicks without the graph moving, a node's connections against the file's
 * links, a supernode's edges against the sums of its members', the subgraph's scores against a dense
 * computation here, contrast in four themes, and exports that carry the axis and the supernode labels.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Frame, FrameLocator } from 'playwright-core';
import { launchVsCode, resultsDir, type VsCode } from './harness';
import { setColorTheme } from './contrast';
import { graphSummary, waitForActivation } from './circuit';
import { sampleGraph } from '../unit/webview/sample-graph';
import { denseScores } from '../unit/webview/scores-reference';
import { escapeXml } from '../../webview/escape';
import { tokenLabel } from '../../webview/graph-model';

const graph = sampleGraph(4);
const FILE = 'dallas.graph.json';
let vs: VsCode;
let view: FrameLocator;
let frame: Frame;

interface Text { text: string; x: number; y: number; role?: string }
type View = {
  nodeAt(id: string): { x: number; y: number } | undefined;
  texts(): Text[];
  selected(): string[];
  exportData(f: string): string;
};
// The viewer's inspection API (webview/main.ts `inspect`).
type W = { circuitInspectorView: View };
const nodeAt = (id: string) => frame.evaluate((id) => (window as unknown as W).circuitInspectorView.nodeAt(id), id);
const texts = () => frame.evaluate(() => (window as unknown as W).circuitInspectorView.texts());
const selectedIds = () => frame.evaluate(() => (window as unknown as W).circuitInspectorView.selected());
const exportData = (f: string) => frame.evaluate((f) => (window as unknown as W).circuitInspectorView.exportData(f), f);

const features = graph.nodes.filter((n) => n.feature_type !== 'embedding' && n.feature_type !== 'logit' && !/error/.test(n.feature_type));

async function click(id: string, additive: boolean): Promise<void> {
  const p = await nodeAt(id);
  assert.ok(p, `${id} is not drawn`);
  await view.locator('[data-testid="graph-canvas"] canvas').click({ position: p, modifiers: additive ? ['Shift'] : [] });
}

before(async () => {
  vs = await launchVsCode({ name: 'graph-view', files: { [FILE]: JSON.stringify(graph) }, viewport: { width: 1400, height: 900 } });
  await waitForActivation(vs);
  view = vs.webview('editor');
  await vs.step('open', async () => {
    await vs.openFromExplorer(FILE);
    await graphSummary(view, 180_000);
  });
  frame = await vs.webviewFrame('editor');
});
after(async () => {
  await vs?.close();
});

test('the layer axis: a label per band, in layer order, every node inside its band; the token axis numbered', async () => {
  const drawn = await vs.step('axis', () => texts());
  const bands = drawn.filter((t) => t.role === 'band-label');
  assert.deepEqual(bands.map((b) => b.text), ['Logits', 'L3', 'L2', 'L1', 'L0', 'Emb']);
  for (let i = 1; i < bands.length; i++) assert.ok(bands[i].y > bands[i - 1].y, 'Emb lowest, Logits highest');
  // Each node is nearer its own band's label (vertically) than any other band's.
  const layerOf = (n: (typeof graph.nodes)[number]) => (n.feature_type === 'embedding' ? 'Emb' : n.feature_type === 'logit' ? 'Logits' : `L${n.layer}`);
  for (const n of graph.nodes) {
    const p = await nodeAt(n.node_id);
    assert.ok(p, n.node_id);
    const nearest = bands.reduce((best, b) => (Math.abs(b.y - p.y) < Math.abs(best.y - p.y) ? b : best));
    assert.equal(nearest.text, layerOf(n), `${n.node_id} drawn in band ${nearest.text}`);
  }
  const tokens = drawn.filter((t) => t.role === 'axis-token').map((t) => t.text);
  assert.equal(tokens.length, graph.metadata.prompt_tokens!.length);
  assert.deepEqual(drawn.filter((t) => t.role === 'axis-position').map((t) => t.text), graph.metadata.prompt_tokens!.map((_, i) => String(i)));
});

test('three clicks (the second and third with Shift) select exactly those three nodes, and nothing moves', async () => {
  const ids = [features[0].node_id, features[5].node_id, features[9].node_id];
  const before = await Promise.all(graph.nodes.map((n) => nodeAt(n.node_id)));
  const selected = await vs.step('multi-select', async () => {
    await click(ids[0], false);
    await click(ids[1], true);
    await click(ids[2], true);
    return selectedIds();
  });
  assert.deepEqual(selected, ids);
  const afterClicks = await Promise.all(graph.nodes.map((n) => nodeAt(n.node_id)));
  assert.deepEqual(afterClicks, before, 'a node moved when the selection changed');
});

test('a node’s connections list matches the graph file’s links', async () => {
  // The node with the most links of all.
  const degree = (id: string) => graph.links.filter((l) => l.source === id || l.target === id).length;
  const node = [...features].sort((a, b) => degree(b.node_id) - degree(a.node_id))[0];
  const rows = await vs.step('connections', async () => {
    await click(node.node_id, false);
    await view.locator('[data-testid="connections"]').waitFor();
    const read = (side: string) => view.locator(`[data-testid="connections-${side}"] [data-testid="connection-row"]`).evaluateAll((rs) => rs.map((r) => [r.getAttribute('data-node-id'), Number(r.getAttribute('data-weight'))]));
    return { incoming: await read('in'), outgoing: await read('out') };
  });
  const sorted = (xs: [string | null, number][]) => [...xs].sort((a, b) => String(a[0]).localeCompare(String(b[0])) || a[1] - b[1]);
  assert.deepEqual(sorted(rows.incoming as [string, number][]), sorted(graph.links.filter((l) => l.target === node.node_id).map((l) => [l.source, l.weight])));
  assert.deepEqual(sorted(rows.outgoing as [string, number][]), sorted(graph.links.filter((l) => l.source === node.node_id).map((l) => [l.target, l.weight])));
  // Strongest first.
  for (const side of [rows.incoming, rows.outgoing]) for (let i = 1; i < side.length; i++) assert.ok(Math.abs(side[i - 1][1] as number) >= Math.abs(side[i][1] as number));
});

const GROUP = 'Texas & capital';
let members: string[] = [];

test('a supernode’s edges are the sums of its members’ edges', async () => {
  // Three layer-1 features, grouped through the toolbar.
  members = features.filter((n) => n.layer === '1').slice(0, 3).map((n) => n.node_id);
  const rows = await vs.step('supernode', async () => {
    await click(members[0], false);
    await click(members[1], true);
    await click(members[2], true);
    await view.locator('[data-testid="graph-group"]').click();
    await view.locator('[data-testid="group-label"] input').fill(GROUP);
    await view.locator('[data-testid="group-ok"]').click();
    await view.locator(`[data-testid="subgraph-group"][data-label="${GROUP}"]`).waitFor();
    await view.locator('[data-testid="connections"]').waitFor();
    const read = (side: string) => view.locator(`[data-testid="connections-${side}"] [data-testid="connection-row"]`).evaluateAll((rs) => rs.map((r) => [r.getAttribute('data-node-id'), Number(r.getAttribute('data-weight'))]));
    return { incoming: await read('in'), outgoing: await read('out') };
  });
  assert.deepEqual(await selectedIds(), [`supernode:${GROUP}`]);
  const sums = (side: 'in' | 'out') => {
    const m = new Map<string, number>();
    for (const l of graph.links) {
      const s = members.includes(l.source), t = members.includes(l.target);
      if (s && t) continue;
      if (side === 'in' && t) m.set(l.source, (m.get(l.source) ?? 0) + l.weight);
      if (side === 'out' && s) m.set(l.target, (m.get(l.target) ?? 0) + l.weight);
    }
    return m;
  };
  const close = (got: [string, number][], want: Map<string, number>) => {
    assert.equal(got.length, want.size);
    for (const [id, w] of got) assert.ok(Math.abs(w - want.get(id)!) < 1e-6, `${id}: ${w} vs ${want.get(id)}`);
  };
  close(rows.incoming as [string, number][], sums('in'));
  close(rows.outgoing as [string, number][], sums('out'));
});

test('the subgraph’s scores are shown and equal circuit-tracer’s definitions computed here', async () => {
  const shown = await vs.step('subgraph-scores', async () => {
    const el = view.locator('[data-testid="graph-scores-subgraph"]');
    await el.waitFor();
    return { r: Number(await el.getAttribute('data-replacement')), c: Number(await el.getAttribute('data-completeness')), text: await el.innerText() };
  });
  const truth = denseScores(graph.nodes, graph.links, (id) => members.includes(id));
  assert.ok(Math.abs(shown.r - truth.replacement) < 1e-9, `replacement ${shown.r} vs ${truth.replacement}`);
  assert.ok(Math.abs(shown.c - truth.completeness) < 1e-9, `completeness ${shown.c} vs ${truth.completeness}`);
  assert.match(shown.text, new RegExp(truth.replacement.toFixed(3).replace('.', '\\.')));
  const whole = await view.locator('[data-testid="graph-scores-graph"]').getAttribute('data-replacement');
  assert.ok(Math.abs(Number(whole) - denseScores(graph.nodes, graph.links, () => true).replacement) < 1e-9);
});

test('PNG and SVG exports contain the axis and every supernode label', async () => {
  const out = await vs.step('exports', async () => ({ svg: await exportData('svg'), png: await exportData('png') }));
  writeFileSync(join(resultsDir, 'graph-view-export.svg'), out.svg);
  writeFileSync(join(resultsDir, 'graph-view-export.png'), Buffer.from(out.png, 'base64'));
  for (const b of ['Logits', 'L3', 'L0', 'Emb']) assert.ok(out.svg.includes(`class="band-label">${b}</text>`), `band ${b}`);
  for (const t of graph.metadata.prompt_tokens!) assert.ok(out.svg.includes(`class="axis-token">${escapeXml(tokenLabel(t))}</text>`), `token ${JSON.stringify(t)}`);
  assert.ok(out.svg.includes(`>${GROUP.replace(/&/g, '&amp;')}</text>`), 'the supernode label');
  // The PNG is painted from the same primitives: a real image of the same size as the SVG (2× pixels).
  const png = Buffer.from(out.png, 'base64');
  assert.equal(png.subarray(1, 4).toString(), 'PNG');
  const [w, h] = [png.readUInt32BE(16), png.readUInt32BE(20)];
  const m = /width="([\d.]+)" height="([\d.]+)"/.exec(out.svg)!;
  assert.deepEqual([w, h], [Math.round(Number(m[1])) * 2, Math.round(Number(m[2])) * 2]);
});

for (const theme of ['Light Modern', 'Dark Modern', 'Light High Contrast', 'Dark High Contrast']) {
  test(`contrast in ${theme}: text ≥ 4.5:1, nodes and edges ≥ 3:1, computed from the page`, async () => {
    const found = await vs.step(`theme-${theme.toLowerCase().replace(/ /g, '-')}`, async () => {
      await setColorTheme(vs, theme);
      await vs.page.waitForTimeout(800);
      // A string, not a function: tsx (keepNames) would wrap the inner arrows in a helper the page lacks.
      return frame.evaluate(`(() => {
        const parse = (c) => {
          const m = /rgba?\\(([^)]+)\\)/.exec(c);
          if (m) {
            const p = m[1].split(/[,\\s/]+/).filter(Boolean).map(Number);
            return [p[0], p[1], p[2], p[3] ?? 1];
          }
          const h = /^#([0-9a-f]{6})([0-9a-f]{2})?$/i.exec(c.trim());
          return h ? [parseInt(h[1].slice(0, 2), 16), parseInt(h[1].slice(2, 4), 16), parseInt(h[1].slice(4, 6), 16), h[2] ? parseInt(h[2], 16) / 255 : 1] : undefined;
        };
        const lum = (c) => {
          const f = (x) => ((x /= 255) <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4);
          return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]);
        };
        const ratio = (fg, bg) => {
          const b = parse(bg), f0 = parse(fg);
          const f = [0, 1, 2].map((i) => f0[i] * f0[3] + b[i] * (1 - f0[3]));
          const l1 = lum(f), l2 = lum(b);
          return (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
        };
        const t = window.circuitInspectorView.theme();
        const bodyBg = getComputedStyle(document.body).backgroundColor;
        const out = [];
        for (const k of ['foreground', 'muted']) out.push({ what: 'canvas text ' + k + ' ' + t[k], ratio: ratio(t[k], t.background), min: 4.5 });
        for (const k of ['embedding', 'feature', 'error', 'logit', 'supernode', 'positive', 'negative', 'focus', 'pinned']) out.push({ what: 'canvas mark ' + k + ' ' + t[k], ratio: ratio(t[k], t.background), min: 3 });
        for (const el of Array.from(document.querySelectorAll('.toolbar *, .details *'))) {
          if (!el.offsetParent || ![...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim())) continue;
          let bg = 'rgba(0, 0, 0, 0)';
          for (let e = el; e && ((parse(bg) || [0, 0, 0, 0])[3]) === 0; e = e.parentElement) bg = getComputedStyle(e).backgroundColor;
          if (((parse(bg) || [0, 0, 0, 0])[3]) === 0) bg = bodyBg;
          out.push({ what: 'text "' + el.textContent.trim().slice(0, 30) + '" ' + getComputedStyle(el).color + ' on ' + bg, ratio: ratio(getComputedStyle(el).color, bg), min: 4.5 });
        }
        return out;
      })()`) as Promise<{ what: string; ratio: number; min: number }[]>;
    });
    const bad = found.filter((f) => !(f.ratio >= f.min));
    assert.ok(found.length > 10, 'nothing was measured');
    assert.deepEqual(bad.map((b) => `${b.what}: ${b.ratio.toFixed(2)} < ${b.min}`), []);
  });
}
