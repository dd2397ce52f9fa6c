/**
 * The compare page: runs no script, escapes every string a graph carries, and draws exactly the nodes
 * of the comparison with the status it computed (counted from the markup).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compareGraphs } from '../../../src/engine/compare/compare-graphs';
import type { AttributionGraph, AttributionNode } from '../../../src/engine/attribution/types';
import { compareHtml } from '../../../src/extension/compare/compare-html';

function graph(prompt: string, tokens: string[], nodes: AttributionNode[], edges: [number, number, number][]): AttributionGraph {
  return {
    prompt,
    tokens: tokens.map((text, i) => ({ id: i, text })),
    modelName: 'm',
    nLayers: 2,
    nodes,
    edges: { source: Int32Array.from(edges.map((e) => e[0])), target: Int32Array.from(edges.map((e) => e[1])), weight: Float32Array.from(edges.map((e) => e[2])) },
    targets: [{ node: nodes.length - 1, tokenId: 9, token: nodes[nodes.length - 1].token ?? '', probability: 0.9 }],
    thresholds: { node: 0.8, edge: 0.98 },
  };
}

const HOSTILE = '<img src=x onerror=alert(1)>"\'&\u001b[31m';

test('compare page: no script, hostile labels escaped, every node drawn with its status', () => {
  const feat = (layer: number, position: number, index: number, label: string, influence: number): AttributionNode => ({ kind: 'feature', layer, position, index, activation: 1, label, influence });
  const a = graph('x dallas is', ['x', 'dallas', 'is'], [
    { kind: 'embedding', layer: -1, position: 1, index: 5, activation: 0, label: 'Emb', influence: 0.2 },
    feat(0, 1, 7, HOSTILE, 0.5),
    feat(1, 2, 3, 'shared', 0.3),
    { kind: 'logit', layer: 2, position: 2, index: 9, activation: 0, label: `Output "${HOSTILE}"`, token: HOSTILE },
  ], [[0, 1, 1], [1, 2, 0.5], [2, 3, 2]]);
  const b = graph('x houston is', ['x', 'houston', 'is'], [
    { kind: 'embedding', layer: -1, position: 1, index: 6, activation: 0, label: 'Emb', influence: 0.2 },
    feat(0, 1, 8, 'houston thing', 0.4),
    feat(1, 2, 3, 'shared', 0.4),
    { kind: 'logit', layer: 2, position: 2, index: 10, activation: 0, label: 'Output "austin"', token: 'austin' },
  ], [[0, 1, 1], [1, 2, 0.7], [2, 3, 1]]);
  const c = compareGraphs(a, b);
  const html = compareHtml({ cspSource: 'vscode-resource:', cssUri: 'vscode-resource:/media/compare.css', title: `t ${HOSTILE}` }, c, {
    a: { caption: HOSTILE, prompt: a.prompt, nLayers: 2 },
    b: { caption: 'b', prompt: b.prompt, nLayers: 2 },
  });
  assert.doesNotMatch(html, /<script/i);
  assert.doesNotMatch(html, /<img/i);
  // eslint-disable-next-line no-control-regex -- an escape character smuggled in must not survive
  assert.doesNotMatch(html, /\u001b/);
  assert.doesNotMatch(html, /<[^>]*\son\w+=/i, "no event-handler attribute in any tag");
  assert.match(html, /default-src &#39;none&#39;/, 'CSP default-src none (attribute-escaped)');
  assert.doesNotMatch(html, /script-src/);
  const circles = [...html.matchAll(/<circle class="node (\w+) (\w+)" data-status="(\w+)"/g)];
  assert.equal(circles.length, c.nodes.length);
  for (const st of ['onlyA', 'onlyB', 'both'] as const) {
    assert.equal(circles.filter((m) => m[3] === st).length, c.nodes.filter((n) => n.status === st).length, st);
  }
  assert.equal([...html.matchAll(/data-testid="compare-layer-label"/g)].length, 4, 'Emb, L0, L1, Logits');
  assert.match(html, /1 substituted/);
});
