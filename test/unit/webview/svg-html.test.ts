import { test } from 'node:test';
import assert from 'node:assert/strict';
import { escapeXml } from '../../../webview/escape';
import { drawScene, exportFrame, type Prim } from '../../../webview/draw';
import { normalizeGraph, tokenLabel } from '../../../webview/graph-model';
import { layeredLayout } from '../../../webview/layout';
import { primsToSvg } from '../../../webview/paint';
import { buildScene } from '../../../webview/scene';
import type { Theme } from '../../../webview/theme';
import * as vs from '../../../webview/view-state';
import { viewerHtml } from '../../../src/shared/viewer-html';
import { HOSTILE_LABEL, sampleGraph } from './sample-graph';

const theme: Theme = {
  background: '#1e1e1e', foreground: '#d4d4d4', muted: '#9d9d9d', border: '#555555', focus: '#0078d4', embedding: '#89d185', feature: '#b180d7',
  error: '#8c8c8c', logit: '#cca700', supernode: '#d18616', positive: '#3794ff', negative: '#f14c4c', pinned: '#d18616', match: '#d18616', fontFamily: '"Segoe UI", sans-serif',
  flag: '#cca700',
};
/** Text width as a monospace font would give it: enough for placement tests. */
const measure = (t: string, size: number) => t.length * size * 0.6;

function picture(selected: string[] = [], supernodes: { label: string; ids: string[] }[] = []) {
  const g = normalizeGraph(sampleGraph(4));
  const layout = layeredLayout(g.nodes, g.nLayers, g.promptTokens.length);
  let s = vs.initialState(g);
  for (const sn of supernodes) s = vs.group(s, sn.ids, sn.label);
  const scene = buildScene(g, layout, s);
  const { frame, viewport } = exportFrame(layout);
  return { g, layout, prims: drawScene({ graph: g, layout, scene, viewport, frame, theme, selected, measure }), frame };
}

test('the picture has a band label per layer, in order, and a numbered token axis with every token', () => {
  const { g, prims } = picture();
  const texts = prims.filter((p): p is Extract<Prim, { t: 'text' }> => p.t === 'text');
  const bands = texts.filter((p) => p.role === 'band-label');
  assert.deepEqual(bands.map((b) => b.text), ['Logits', 'L3', 'L2', 'L1', 'L0', 'Emb']);
  for (let i = 1; i < bands.length; i++) assert.ok(bands[i].y > bands[i - 1].y);
  const tokens = texts.filter((p) => p.role === 'axis-token');
  assert.deepEqual(tokens.map((t) => t.text), g.promptTokens.map(tokenLabel));
  assert.deepEqual(texts.filter((p) => p.role === 'axis-position').map((t) => t.text), g.promptTokens.map((_, i) => String(i)));
});

test('node labels never overlap, and a selected node always has its label', () => {
  const g = normalizeGraph(sampleGraph(4));
  const quiet = g.nodes.filter((n) => n.kind === 'feature').sort((a, b) => (b.influence ?? 0) - (a.influence ?? 0))[0];
  const { prims } = picture([quiet.id]);
  const labels = prims.filter((p): p is Extract<Prim, { t: 'text' }> => p.t === 'text' && p.role === 'node-label');
  assert.ok(labels.some((l) => l.text === quiet.label), 'the selected node is labelled');
  const box = (l: (typeof labels)[number]) => [l.x - measure(l.text, l.size) / 2, l.y - l.size, l.x + measure(l.text, l.size) / 2, l.y];
  for (let i = 0; i < labels.length; i++) for (let j = i + 1; j < labels.length; j++) {
    const [a0, a1, a2, a3] = box(labels[i]), [b0, b1, b2, b3] = box(labels[j]);
    assert.ok(!(a0 < b2 && a2 > b0 && a1 < b3 && a3 > b1), `"${labels[i].text}" overlaps "${labels[j].text}"`);
  }
});

test('SVG export: the axis and every supernode label are in it, labels escaped, colours whitelisted', () => {
  const g = normalizeGraph(sampleGraph(4));
  const members = g.nodes.filter((n) => n.kind === 'feature' && n.layer === 2).map((n) => n.id);
  const { prims, frame } = picture([], [{ label: HOSTILE_LABEL, ids: members }]);
  const svg = primsToSvg(prims, frame.width, frame.height, 'url(javascript:alert(1))', '"/><script>');
  assert.ok(!svg.includes('<img') && !svg.includes('<script') && !svg.includes('javascript:'));
  assert.ok(svg.includes(`>${escapeXml(HOSTILE_LABEL)}</text>`), 'the supernode label, escaped');
  for (const b of ['Logits', 'L0', 'Emb']) assert.ok(svg.includes(`class="band-label">${b}</text>`), b);
  for (const t of g.promptTokens) assert.ok(svg.includes(`class="axis-token">${escapeXml(tokenLabel(t))}</text>`), t);
  for (const m of svg.matchAll(/<\/?([a-zA-Z?]+)/g)) assert.ok(['?xml', 'svg', 'rect', 'g', 'line', 'path', 'ellipse', 'polygon', 'text', 'clipPath'].includes(m[1]), m[1]);
});

test('escapeXml round-trips through an entity decoder and drops control characters', () => {
  const s = `a&b<c>d"e'f\u0001g`;
  const e = escapeXml(s);
  const decoded = e.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&');
  assert.equal(decoded, `a&b<c>d"e'fg`);
});

test('viewer HTML: strict CSP with a nonce, no inline styles or scripts, every test id present', () => {
  const html = viewerHtml({ cspSource: 'https://x.vscode-cdn.net', nonce: 'abc123', scriptUri: 'https://x/webview.js', cssUri: 'https://x/webview.css', codiconUri: 'https://x/codicon.css', title: '<t>' });
  const csp = /content="([^"]+)"/.exec(html)![1].replace(/&#39;/g, "'");
  assert.ok(csp.includes("default-src 'none'"));
  assert.ok(csp.includes("script-src 'nonce-abc123'"));
  assert.ok(!csp.includes('unsafe-inline') && !csp.includes('unsafe-eval'));
  assert.ok(!/style="/.test(html), 'no inline style attributes');
  assert.ok(!/<style/.test(html), 'no style elements');
  const scripts = [...html.matchAll(/<script([^>]*)>/g)];
  assert.equal(scripts.length, 1);
  assert.ok(scripts[0][1].includes('nonce="abc123"'));
  assert.ok(!html.includes('<t>'));
  for (const id of ['graph-canvas', 'graph-summary', 'graph-search', 'graph-threshold', 'graph-pin', 'graph-pinned-only', 'graph-group', 'graph-export-png', 'graph-export-svg', 'graph-export-json', 'graph-details', 'graph-scores', 'graph-empty-analyze', 'graph-message']) {
    assert.ok(html.includes(`data-testid="${id}"`), id);
  }
});

test('a node verify flagged is marked on the picture: a ring and a "!" badge at the node, nothing on the others', () => {
  const g = normalizeGraph(sampleGraph(4));
  const layout = layeredLayout(g.nodes, g.nLayers, g.promptTokens.length);
  const scene = buildScene(g, layout, vs.initialState(g));
  const { frame, viewport } = exportFrame(layout);
  const target = scene.nodes.find((n) => n.kind === 'feature')!;
  const prims = drawScene({ graph: g, layout, scene, viewport, frame, theme, selected: [], measure, flagged: new Set([target.id]) });
  const x = target.x * viewport.zoomX + viewport.panX, y = target.y * viewport.zoomY + viewport.panY;
  const badges = prims.filter((p): p is Extract<Prim, { t: 'text' }> => p.t === 'text' && p.role === 'verify-flag');
  assert.equal(badges.length, 1);
  assert.ok(Math.hypot(badges[0].x - x, badges[0].y - y) < 15, 'the badge sits at the flagged node');
  const rings = prims.filter((p) => p.t === 'shape' && p.stroke === theme.flag && p.fill === 'transparent');
  assert.equal(rings.length, 1);
  assert.ok(rings[0].t === 'shape' && rings[0].x === x && rings[0].y === y);
  const plain = drawScene({ graph: g, layout, scene, viewport, frame, theme, selected: [], measure });
  assert.equal(plain.filter((p) => p.t === 'text' && p.role === 'verify-flag').length, 0);
  // The SVG export carries the mark too (colour whitelisted).
  assert.match(primsToSvg(prims, frame.width, frame.height, theme.background, theme.fontFamily), /fill="transparent" stroke="#cca700"/);
});
