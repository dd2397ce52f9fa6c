/**
 * The compare view's page: two graphs aligned (src/engine/compare/compare-graphs.ts), drawn as one
 * overlaid graph — token columns aligned across both prompts, one band per layer, each node coloured by
 * where it is (only in A, only in B, in both) and sized by its influence share, the edges whose weight
 * changed most drawn by the sign of the change — with the alignment, the answers, and the features
 * gained and lost beside it.
 *
 * Rendered on the host as static markup: the page runs no script at all (CSP `default-src 'none'`,
 * styles from the extension's own stylesheet), and every string from a graph is escaped, so a graph
 * file from a stranger stays data. Pure (no 'vscode') so it is unit-tested.
 */
import type { ComparedNode, GraphComparison } from '../../engine/compare/compare-graphs';

export interface CompareHtmlResources {
  cspSource: string;
  cssUri: string;
  title: string;
}

export interface CompareSides {
  /** What each side is (a prompt, a file name, a dictionary), shown as the A / B captions. */
  a: { caption: string; prompt: string; nLayers: number };
  b: { caption: string; prompt: string; nLayers: number };
}

/** Escapes text for element content and attribute values; control characters are dropped. */
export function esc(s: string): string {
  return s
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g, '')
    .replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const pct = (x: number | undefined) => (x === undefined ? '—' : `${(x * 100).toFixed(1)}%`);
const signedPct = (x: number) => `${x >= 0 ? '+' : '−'}${Math.abs(x * 100).toFixed(1)}%`;

function tokenPair(c: GraphComparison, column: number): string {
  const col = c.columns[column];
  if (!col) return '';
  if (col.tokenA !== undefined && col.tokenB !== undefined && col.tokenA !== col.tokenB) return `“${col.tokenA}” → “${col.tokenB}”`;
  return `“${col.tokenA ?? col.tokenB ?? ''}”`;
}

export function nodeTitle(n: ComparedNode, c: GraphComparison): string {
  switch (n.kind) {
    case 'feature':
      return `L${n.layer}#${n.index}${n.label ? ` ${n.label}` : ''} at ${tokenPair(c, n.column)}`;
    case 'error':
      return `Error L${n.layer} at ${tokenPair(c, n.column)}`;
    case 'embedding':
      return `Embedding ${tokenPair(c, n.column)}`;
    case 'logit':
      return n.label;
  }
}

const STATUS_TEXT = { onlyA: 'only in A', onlyB: 'only in B', both: 'in both' } as const;

/** The overlaid graph as SVG: columns × layer bands, logits on top. */
function overlaySvg(c: GraphComparison, nLayers: number): string {
  const colW = 64;
  const bandH = 56;
  const left = 48;
  const top = 24;
  const nCols = Math.max(1, c.columns.length);
  const bands = nLayers + 2; // embeddings, layers, logits
  const width = left + nCols * colW + 16;
  const height = top + bands * bandH + 64;
  const bandOf = (n: ComparedNode) => (n.kind === 'embedding' ? 0 : n.kind === 'logit' ? bands - 1 : n.layer + 1);
  const y0 = (band: number) => top + (bands - 1 - band) * bandH;

  // Place nodes: per (band, column) cell side by side, most influential first; logits spread on top.
  const cells = new Map<string, ComparedNode[]>();
  for (const n of c.nodes) {
    const col = n.kind === 'logit' ? -1 : n.column;
    const k = `${bandOf(n)}|${col}`;
    (cells.get(k) ?? cells.set(k, []).get(k)!).push(n);
  }
  const share = (n: ComparedNode) => Math.max(n.a?.influence ?? 0, n.b?.influence ?? 0);
  const pos = new Map<string, { x: number; y: number; r: number }>();
  for (const [k, list] of cells) {
    const [band, col] = k.split('|').map(Number);
    list.sort((p, q) => share(q) - share(p));
    const cx = col < 0 ? left + (nCols * colW) / 2 : left + col * colW + colW / 2;
    // Logits spread across the top; a crowded cell wraps into rows inside its band (never into another).
    const perRow = col < 0 ? list.length : 5;
    const span = col < 0 ? Math.min(nCols * colW - 8, list.length * 120) : colW - 8;
    const rows = Math.ceil(list.length / perRow);
    list.forEach((n, i) => {
      const row = Math.floor(i / perRow);
      const inRow = Math.min(perRow, list.length - row * perRow);
      const k = i - row * perRow;
      const x = inRow === 1 ? cx : cx - span / 2 + (span * (k + 0.5)) / inRow;
      const y = y0(band) + bandH / 2 + (rows > 1 ? (row - (rows - 1) / 2) * Math.min(12, (bandH - 12) / rows) : 0);
      pos.set(n.key, { x, y, r: 3 + Math.min(9, Math.sqrt(share(n)) * 18) });
    });
  }

  const out: string[] = [];
  out.push(`<svg class="overlay" data-testid="compare-overlay" xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="Both graphs overlaid">`);
  // Layer bands and their labels.
  for (let b = 0; b < bands; b++) {
    const label = b === 0 ? 'Emb' : b === bands - 1 ? 'Logits' : `L${b - 1}`;
    out.push(`<line class="band" x1="${left}" x2="${width - 8}" y1="${y0(b) + bandH}" y2="${y0(b) + bandH}"/>`);
    out.push(`<text class="axis" data-testid="compare-layer-label" x="4" y="${y0(b) + bandH / 2 + 4}">${label}</text>`);
  }
  // Token axis: A over B where they differ.
  c.columns.forEach((col, i) => {
    const x = left + i * colW + colW / 2;
    const y = top + bands * bandH + 16;
    const cls = col.a !== null && col.b !== null && col.same ? 'tok' : 'tok changed';
    out.push(`<text class="${cls}" text-anchor="middle" x="${x}" y="${y}">${esc(clip(col.tokenA ?? '∅'))}</text>`);
    if (!col.same) out.push(`<text class="${cls} b" text-anchor="middle" x="${x}" y="${y + 16}">${esc(clip(col.tokenB ?? '∅'))}</text>`);
  });
  // The most changed edges, by the sign of the change.
  for (const e of c.changedEdges) {
    const s = pos.get(e.source);
    const t = pos.get(e.target);
    if (!s || !t) continue;
    const w = Math.max(0.75, Math.min(4, Math.abs(e.delta) * 4));
    out.push(`<line class="edge ${e.delta >= 0 ? 'up' : 'down'}" x1="${s.x.toFixed(1)}" y1="${s.y.toFixed(1)}" x2="${t.x.toFixed(1)}" y2="${t.y.toFixed(1)}" stroke-width="${w.toFixed(2)}"><title>${esc(`${e.a ?? 0} → ${e.b ?? 0} (Δ ${e.delta.toPrecision(3)})`)}</title></line>`);
  }
  let logitIndex = 0;
  for (const n of c.nodes) {
    const p = pos.get(n.key);
    if (!p) continue;
    const tip = `${nodeTitle(n, c)} — ${STATUS_TEXT[n.status]}; influence A ${pct(n.a?.influence)}, B ${pct(n.b?.influence)}`;
    out.push(`<circle class="node ${n.status} ${n.kind}" data-status="${n.status}" cx="${p.x.toFixed(1)}" cy="${p.y.toFixed(1)}" r="${p.r.toFixed(1)}"><title>${esc(tip)}</title></circle>`);
    // Neighbouring logit labels alternate above and below their node, so ten of them never overlap.
    if (n.kind !== 'logit') continue;
    const below = logitIndex++ % 2 === 1;
    out.push(`<text class="logit-label" text-anchor="middle" x="${p.x.toFixed(1)}" y="${(below ? p.y + p.r + 12 : p.y - p.r - 4).toFixed(1)}">${esc(clip(/^Output "([\s\S]*)" \(p=[^)]*\)$/.exec(n.label)?.[1] ?? n.label, 18))}</text>`);
  }
  out.push('</svg>');
  return out.join('\n');
}

function clip(s: string, n = 9): string {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}

function nodeRows(c: GraphComparison, list: ComparedNode[], testid: string): string {
  if (!list.length) return `<p class="muted" data-testid="${testid}">None.</p>`;
  const rows = list.map((n) => {
    const a = n.a?.influence ?? 0;
    const b = n.b?.influence ?? 0;
    const scale = Math.max(...list.map((m) => Math.max(m.a?.influence ?? 0, m.b?.influence ?? 0)), 1e-12);
    return `<tr data-status="${n.status}">
<td class="delta">${signedPct(n.influenceDelta)}</td>
<td>${esc(nodeTitle(n, c))}</td>
<td class="bars"><span class="bar a" data-w="${step5(a / scale)}"></span><span class="bar b" data-w="${step5(b / scale)}"></span></td>
<td class="num">${pct(n.a?.influence)}</td><td class="num">${pct(n.b?.influence)}</td><td><span class="swatch ${n.status}"></span>${STATUS_TEXT[n.status]}</td></tr>`;
  });
  return `<table class="nodes" data-testid="${testid}"><thead><tr><th>Δ share</th><th>feature</th><th></th><th>A</th><th>B</th><th></th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

/** Bars cannot take inline styles under the CSP: widths snap to the stylesheet's 5 % steps (data-w). */
function step5(fraction: number): number {
  return Math.round(Math.max(0, Math.min(1, fraction)) * 20) * 5;
}

export function compareHtml(r: CompareHtmlResources, c: GraphComparison, sides: CompareSides): string {
  const s = c.summary;
  const subs = c.columns.filter((col) => col.a !== null && col.b !== null && !col.same).length;
  const gaps = c.columns.filter((col) => col.a === null || col.b === null).length;
  const targets = c.targets
    .map((t) => `<tr><td>${esc(t.token)}</td><td class="num">${pct(t.probabilityA)}</td><td class="num">${pct(t.probabilityB)}</td></tr>`)
    .join('');
  const onlyA = c.nodes.filter((n) => n.kind === 'feature' && n.status === 'onlyA').sort((x, y) => (y.a?.influence ?? 0) - (x.a?.influence ?? 0));
  const onlyB = c.nodes.filter((n) => n.kind === 'feature' && n.status === 'onlyB').sort((x, y) => (y.b?.influence ?? 0) - (x.b?.influence ?? 0));
  const body = `
<header class="sides">
  <div class="side a" data-testid="compare-side-a"><span class="swatch onlyA"></span><b>A</b> ${esc(sides.a.caption)}<div class="prompt">${esc(sides.a.prompt)}</div></div>
  <div class="side b" data-testid="compare-side-b"><span class="swatch onlyB"></span><b>B</b> ${esc(sides.b.caption)}<div class="prompt">${esc(sides.b.prompt)}</div></div>
</header>
<p class="muted" data-testid="compare-alignment">Aligned ${esc(c.alignReason)}. ${c.columns.length} token columns, ${subs} substituted, ${gaps} unpaired.</p>
<p data-testid="compare-summary">${
    s.identical
      ? 'The graphs are identical: no node or edge differs.'
      : `Nodes: ${s.both} in both, ${s.onlyA} only in A, ${s.onlyB} only in B (feature Jaccard ${s.featureJaccard.toFixed(2)}, influence overlap ${s.influenceOverlap.toFixed(2)}). Edges: ${s.edgesBoth} matched of ${s.edgesA} / ${s.edgesB}, largest change ${s.maxEdgeDelta.toPrecision(3)}.`
  }</p>
<p class="legend"><span class="swatch onlyA"></span> only in A <span class="swatch onlyB"></span> only in B <span class="swatch both"></span> in both · edges: <span class="line up"></span> grew from A to B <span class="line down"></span> shrank</p>
<div class="overlay-wrap">${overlaySvg(c, Math.max(sides.a.nLayers, sides.b.nLayers))}</div>
<h2>Answers</h2>
<table class="targets" data-testid="compare-targets"><thead><tr><th>target</th><th>A</th><th>B</th></tr></thead><tbody>${targets}</tbody></table>
<h2>Gained from A to B</h2>${nodeRows(c, c.gained, 'compare-gained')}
<h2>Lost from A to B</h2>${nodeRows(c, c.lost, 'compare-lost')}
<details><summary>All features only in A (${onlyA.length})</summary>${nodeRows(c, onlyA, 'compare-only-a')}</details>
<details><summary>All features only in B (${onlyB.length})</summary>${nodeRows(c, onlyB, 'compare-only-b')}</details>`;
  return staticPage(r, body, 'compare-root');
}

/**
 * A page that runs no script: CSP `default-src 'none'` with styles only from the extension's stylesheet;
 * `body` is markup already escaped by the caller.
 */
export function staticPage(r: CompareHtmlResources, body: string, testId: string): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${esc([`default-src 'none'`, `style-src ${r.cspSource}`, `font-src ${r.cspSource}`].join('; '))}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${esc(r.cssUri)}">
<title>${esc(r.title)}</title>
</head>
<body data-testid="${esc(testId)}">${body}
</body>
</html>`;
}
