/**
 * (Bench only: the viewer's cytoscape renderer before the canvas renderer, kept to measure against.)
 * The layered layout of an attribution graph: x = token position, y = layer (embeddings at the
 * bottom, logits at the top). Nodes sharing a (layer, position) cell sit side by side, most influential
 * (lowest cumulative influence) nearest the column's centre-left; each column is as wide as its fullest
 * cell, so columns never overlap.
 */
import type { ViewNode } from '../../webview/graph-model';

export interface LayoutOptions {
  /** Horizontal distance between nodes of one cell. */
  nodeSpacing: number;
  /** Minimum width of a token column. */
  minColumn: number;
  /** Vertical distance between layers (between the last sub-row of one and the next layer). */
  rowHeight: number;
  /** A crowded cell wraps into sub-rows of at most this many nodes… */
  maxPerRow: number;
  /** …this far apart, inside its layer's band. */
  subRowHeight: number;
}

export const DEFAULT_LAYOUT: LayoutOptions = { nodeSpacing: 58, minColumn: 70, rowHeight: 64, maxPerRow: 6, subRowHeight: 30 };

/** Ids of the token-axis points layeredLayout adds (one per token column). */
export const AXIS_PREFIX = 'axis:';

export interface Point {
  x: number;
  y: number;
}

/**
 * `nTokens`: the prompt's length, so every token has a column even when pruning left it no node (the
 * token axis stays readable); columns beyond it are added when nodes need them.
 *
 * Each layer is a horizontal band (embeddings at the bottom, logits at the top); a cell with more than
 * `maxPerRow` nodes wraps into sub-rows inside its band, and a band is as tall as its most crowded cell,
 * so a crowded position does not stretch the whole graph sideways and bands never overlap.
 */
export function layeredLayout(nodes: ViewNode[], nLayers: number, opts: LayoutOptions = DEFAULT_LAYOUT, nTokens = 0): Map<string, Point> {
  const cells = new Map<string, ViewNode[]>();
  let maxCtx = nTokens - 1;
  for (const n of nodes) {
    const key = `${n.layer}:${n.ctx}`;
    let c = cells.get(key);
    if (!c) cells.set(key, (c = []));
    c.push(n);
    maxCtx = Math.max(maxCtx, n.ctx);
  }
  maxCtx = Math.max(0, maxCtx);
  const rows = nLayers + 2; // embeddings (row 0), layers 0..nLayers-1, logits
  const rowOf = (layer: number) => Math.max(0, Math.min(rows - 1, layer + 1));
  const perRow = Math.max(1, opts.maxPerRow);
  const widest = new Array<number>(maxCtx + 1).fill(1);
  const subRows = new Array<number>(rows).fill(1);
  for (const c of cells.values()) {
    widest[c[0].ctx] = Math.max(widest[c[0].ctx], Math.min(c.length, perRow));
    const r = rowOf(c[0].layer);
    subRows[r] = Math.max(subRows[r], Math.ceil(c.length / perRow));
  }
  const colWidth = (c: number) => Math.max(opts.minColumn, widest[c] * opts.nodeSpacing);
  const colLeft: number[] = [];
  let x = 0;
  for (let c = 0; c <= maxCtx; c++) {
    colLeft.push(x);
    x += colWidth(c);
  }
  // Band tops from the top of the screen (logits) down to the embeddings.
  const bandTop = new Array<number>(rows).fill(0);
  let y = 0;
  for (let r = rows - 1; r >= 0; r--) {
    bandTop[r] = y;
    y += (subRows[r] - 1) * opts.subRowHeight + opts.rowHeight;
  }

  const out = new Map<string, Point>();
  // Columns with no node at all (pruned tokens) get an axis point, so the token row stays complete.
  for (let c = 0; c <= maxCtx; c++) out.set(`${AXIS_PREFIX}${c}`, { x: colLeft[c] + colWidth(c) / 2, y: bandTop[0] });
  for (const c of cells.values()) {
    c.sort((a, b) => (a.influence ?? Infinity) - (b.influence ?? Infinity) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const ctx = c[0].ctx;
    const r = rowOf(c[0].layer);
    const centre = colLeft[ctx] + colWidth(ctx) / 2;
    c.forEach((n, i) => {
      const sub = Math.floor(i / perRow);
      const inRow = Math.min(perRow, c.length - sub * perRow);
      const k = i % perRow;
      out.set(n.id, { x: centre + (k - (inRow - 1) / 2) * opts.nodeSpacing, y: bandTop[r] + sub * opts.subRowHeight });
    });
  }
  return out;
}

/**
 * Stretches the layout toward the shape of the panel it is drawn in: a prompt of many tokens is wide
 * and a side bar is tall, so `fit` would shrink the graph to a strip. Rows are spread apart first (up to
 * `maxStretch`), then columns are squeezed (down to `minSqueeze`); the order of nodes along each axis
 * never changes, so x stays token position and y stays layer.
 */
export function fitAspect(positions: Map<string, Point>, width: number, height: number, maxStretch = 3, minSqueeze = 0.45): Map<string, Point> {
  if (!(width > 0 && height > 0) || positions.size === 0) return positions;
  let minX = Infinity, maxX = -Infinity, minY = Infinity, maxY = -Infinity;
  for (const p of positions.values()) {
    minX = Math.min(minX, p.x);
    maxX = Math.max(maxX, p.x);
    minY = Math.min(minY, p.y);
    maxY = Math.max(maxY, p.y);
  }
  const W = Math.max(1, maxX - minX);
  const H = Math.max(1, maxY - minY);
  const want = width / height;
  const have = W / H;
  let sx = 1;
  let sy = 1;
  if (have > want) {
    // Wider than the panel: spread rows apart, then squeeze columns.
    sy = Math.min(maxStretch, have / want);
    sx = Math.max(minSqueeze, Math.min(1, want / (W / (H * sy))));
  } else if (have < want) {
    // Taller than the panel (many layers, few tokens): spread columns apart, then squeeze rows.
    sx = Math.min(maxStretch, want / have);
    sy = Math.max(minSqueeze, Math.min(1, (W * sx) / H / want));
  } else return positions;
  const out = new Map<string, Point>();
  for (const [id, p] of positions) out.set(id, { x: minX + (p.x - minX) * sx, y: minY + (p.y - minY) * sy });
  return out;
}
