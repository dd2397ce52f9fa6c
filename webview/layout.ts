/**
 * The layered layout of an attribution graph, computed once per graph and never from the panel's size
 * (so selecting, hovering or resizing never moves a node): x = token position, y = layer.
 *
 * One horizontal band per row — embeddings at the bottom, L0…Ln, logits at the top. A (layer, token)
 * cell holding several nodes lays them out side by side, wrapping into sub-rows *inside* its band; the
 * band is as tall as its most crowded cell, and its bounds are drawn, so a sub-row never reads as
 * another layer. One column per token, as wide as its widest cell.
 */
import type { ViewNode } from './graph-model';

export interface LayoutOptions {
  /** Horizontal distance between nodes of one cell. */
  nodeSpacing: number;
  /** Between logit nodes: their labels ("␣Austin 44%") are wider than a feature's dot. */
  logitSpacing: number;
  /** Minimum width of a token column. */
  minColumn: number;
  /** A crowded cell wraps into sub-rows of at most this many nodes… */
  maxPerRow: number;
  /** …but into no more than this many sub-rows (a crowded cell grows wider instead: bands stay thin). */
  maxSubRows: number;
  /** …this far apart, inside its layer's band. */
  subRowHeight: number;
  /** Room above the first and below the last sub-row of a band. */
  bandPadding: number;
}

export const DEFAULT_LAYOUT: LayoutOptions = { nodeSpacing: 44, logitSpacing: 84, minColumn: 64, maxPerRow: 5, maxSubRows: 2, subRowHeight: 24, bandPadding: 14 };

export interface Point {
  x: number;
  y: number;
}

/** A layer's band: `top` < `bottom` in world units (y grows downward, so logits have the smallest y). */
export interface Band {
  /** -1 embeddings, 0…nLayers-1 layers, nLayers logits. */
  layer: number;
  label: string;
  top: number;
  bottom: number;
}

/** A token's column. */
export interface Column {
  ctx: number;
  left: number;
  right: number;
  centre: number;
}

export interface GraphLayout {
  positions: Map<string, Point>;
  bands: Band[];
  columns: Column[];
  width: number;
  height: number;
}

export function bandLabel(layer: number, nLayers: number): string {
  return layer < 0 ? 'Emb' : layer >= nLayers ? 'Logits' : `L${layer}`;
}

/** `nTokens`: the prompt's length, so every token has a column even when pruning left it no node. */
export function layeredLayout(nodes: readonly ViewNode[], nLayers: number, nTokens = 0, opts: LayoutOptions = DEFAULT_LAYOUT): GraphLayout {
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
  // Logits stay on one row: their labels are the graph's answer and must not stack.
  const perRowOf = (c: ViewNode[]) => (c[0].kind === 'logit' ? c.length : Math.max(1, opts.maxPerRow, Math.ceil(c.length / Math.max(1, opts.maxSubRows))));
  const spacing = (c: ViewNode[]) => (c[0].kind === 'logit' ? opts.logitSpacing : opts.nodeSpacing);
  const colWidth = new Array<number>(maxCtx + 1).fill(opts.minColumn);
  const subRows = new Array<number>(rows).fill(1);
  for (const c of cells.values()) {
    const ctx = c[0].ctx;
    const perRow = perRowOf(c);
    colWidth[ctx] = Math.max(colWidth[ctx], Math.min(c.length, perRow) * spacing(c));
    const r = rowOf(c[0].layer);
    subRows[r] = Math.max(subRows[r], Math.ceil(c.length / perRow));
  }
  const columns: Column[] = [];
  let x = 0;
  for (let c = 0; c <= maxCtx; c++) {
    columns.push({ ctx: c, left: x, right: x + colWidth[c], centre: x + colWidth[c] / 2 });
    x += colWidth[c];
  }
  // Bands from the top of the screen (logits) down to the embeddings.
  const bands: Band[] = new Array(rows);
  let y = 0;
  for (let r = rows - 1; r >= 0; r--) {
    const h = 2 * opts.bandPadding + (subRows[r] - 1) * opts.subRowHeight;
    bands[r] = { layer: r - 1, label: bandLabel(r - 1, nLayers), top: y, bottom: y + h };
    y += h;
  }

  const positions = new Map<string, Point>();
  for (const c of cells.values()) {
    c.sort((a, b) => (a.influence ?? Infinity) - (b.influence ?? Infinity) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const col = columns[c[0].ctx];
    const band = bands[rowOf(c[0].layer)];
    const perRow = perRowOf(c);
    const nSub = Math.ceil(c.length / perRow);
    // The cell's sub-rows are centred vertically in its band.
    const y0 = (band.top + band.bottom) / 2 - ((nSub - 1) * opts.subRowHeight) / 2;
    const sp = spacing(c);
    c.forEach((n, i) => {
      const sub = Math.floor(i / perRow);
      const inRow = Math.min(perRow, c.length - sub * perRow);
      const k = i % perRow;
      positions.set(n.id, { x: col.centre + (k - (inRow - 1) / 2) * sp, y: y0 + sub * opts.subRowHeight });
    });
  }
  return { positions, bands: bands.reverse(), columns, width: x, height: y };
}
