import { test } from 'node:test';
import assert from 'node:assert/strict';
import { escapeXml } from '../../../webview/escape';
import { sceneToSvg } from '../../../webview/svg-export';
import { viewerHtml } from '../../../src/extension/webview-html';
import { HOSTILE_LABEL } from './sample-graph';

test('SVG export escapes labels and refuses non-colour colour values', () => {
  const svg = sceneToSvg({
    nodes: [
      { x: 0, y: 0, w: 10, h: 10, shape: 'ellipse', fill: '#ff0000', stroke: 'red', label: HOSTILE_LABEL },
      { x: 50, y: 20, w: 10, h: 10, shape: 'diamond', fill: 'url(javascript:alert(1))', stroke: '#000', label: '</text><script>alert(1)</script>' },
    ],
    edges: [{ x1: 0, y1: 0, x2: 50, y2: 20, color: '"/><script>', width: 2 }],
    background: '#1e1e1e',
    foreground: 'rgb(200, 200, 200)',
    fontFamily: '"Segoe UI", sans-serif',
  });
  assert.ok(!svg.includes('<img'));
  assert.ok(!svg.includes('<script'));
  assert.ok(!svg.includes('javascript:'));
  assert.ok(svg.includes(escapeXml(HOSTILE_LABEL)));
  // Well-formed enough: every < opens a known SVG element or closes one.
  for (const m of svg.matchAll(/<\/?([a-zA-Z?]+)/g)) assert.ok(['?xml', 'svg', 'rect', 'g', 'line', 'ellipse', 'polygon', 'text'].includes(m[1]), m[1]);
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
  for (const id of ['graph-canvas', 'graph-summary', 'graph-search', 'graph-threshold', 'graph-pin', 'graph-pinned-only', 'graph-group', 'graph-export-png', 'graph-export-svg', 'graph-export-json', 'feature-card', 'steer-button', 'ablate-button', 'steer-predictions', 'node-list', 'graph-message']) {
    assert.ok(html.includes(`data-testid="${id}"`), id);
  }
});
