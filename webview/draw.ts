/**
 * The picture of a scene for one viewport, as a list of drawing primitives in screen pixels: layer
 * bands with their labels, the token axis, edges, nodes and labels that never overlap. The canvas paints
 * this list and the SVG / PNG exports serialise it, so an export shows what the canvas shows.
 * Pure apart from `measure` (text width), which the caller supplies.
 */
import { tokenLabel, type ViewGraph } from './graph-model';
import type { GraphLayout } from './layout';
import { neighbourhood, type Scene, type SceneKind, type SceneNode } from './scene';
import type { Theme } from './theme';
import type { Viewport } from './view-state';

export type Shape = 'ellipse' | 'rectangle' | 'diamond' | 'hexagon' | 'round-rectangle';

export type Prim =
  | { t: 'line'; x1: number; y1: number; x2: number; y2: number; color: string; width: number; dash?: boolean }
  /** Many segments of one colour and width: x1 y1 x2 y2 … (the bulk of the edges). */
  | { t: 'segments'; xy: number[]; color: string; width: number; alpha: number }
  | { t: 'shape'; shape: Shape; x: number; y: number; w: number; h: number; fill: string; stroke: string; strokeWidth: number; alpha: number; dash?: boolean }
  | { t: 'text'; x: number; y: number; text: string; color: string; size: number; bold?: boolean; align: 'left' | 'center' | 'right'; baseline: 'top' | 'middle' | 'bottom'; rotate?: number; role?: string }
  | { t: 'clip'; x: number; y: number; w: number; h: number }
  | { t: 'unclip' };

export interface Frame {
  width: number;
  height: number;
  /** Left gutter (band labels) and bottom strip (token axis), in px. */
  gutter: number;
  axis: number;
}

export interface DrawInput {
  graph: ViewGraph;
  layout: GraphLayout;
  scene: Scene;
  viewport: Viewport;
  frame: Frame;
  theme: Theme;
  /** Ids drawn as selected, and the hovered one. */
  selected: readonly string[];
  hovered?: string;
  /** Nodes flagged by verify (measured effect contradicts the graph): a ring and a "!" badge. */
  flagged?: ReadonlySet<string>;
  measure: (text: string, size: number, bold?: boolean) => number;
}

export const NODE_SIZE: Record<SceneKind, [number, number]> = { embedding: [18, 12], feature: [11, 11], error: [10, 10], logit: [20, 13], supernode: [24, 16] };
export const NODE_SHAPE: Record<SceneKind, Shape> = { embedding: 'rectangle', feature: 'ellipse', error: 'diamond', logit: 'hexagon', supernode: 'round-rectangle' };
export const LABEL_SIZE = 11;
export const MIN_EDGE_WIDTH = 0.6;
export const MAX_EDGE_WIDTH = 5;
/** Feature labels appear once neighbours in a cell are at least this far apart on screen. */
const LABEL_ROOM = 34;

export function edgeWidth(weight: number, maxAbs: number): number {
  if (!(maxAbs > 0)) return MIN_EDGE_WIDTH;
  // sqrt so that weak edges stay visible next to a dominant one.
  return MIN_EDGE_WIDTH + (MAX_EDGE_WIDTH - MIN_EDGE_WIDTH) * Math.sqrt(Math.min(1, Math.abs(weight) / maxAbs));
}

export const toScreen = (v: Viewport, x: number, y: number) => ({ x: x * v.zoomX + v.panX, y: y * v.zoomY + v.panY });

/** Axis-aligned boxes already taken by labels, bucketed for a fast overlap test. */
class Occupancy {
  private readonly cells = new Map<number, [number, number, number, number][]>();
  private static readonly C = 64;
  private keys(x0: number, y0: number, x1: number, y1: number): number[] {
    const C = Occupancy.C;
    const out: number[] = [];
    for (let i = Math.floor(x0 / C); i <= Math.floor(x1 / C); i++) for (let j = Math.floor(y0 / C); j <= Math.floor(y1 / C); j++) out.push(i * 100_003 + j);
    return out;
  }
  free(x0: number, y0: number, x1: number, y1: number): boolean {
    for (const k of this.keys(x0, y0, x1, y1)) for (const b of this.cells.get(k) ?? []) if (x0 < b[2] && x1 > b[0] && y0 < b[3] && y1 > b[1]) return false;
    return true;
  }
  take(x0: number, y0: number, x1: number, y1: number): void {
    const box: [number, number, number, number] = [x0, y0, x1, y1];
    for (const k of this.keys(x0, y0, x1, y1)) (this.cells.get(k) ?? this.cells.set(k, []).get(k)!).push(box);
  }
}

function ellipsize(text: string, max: number, size: number, measure: DrawInput['measure'], bold?: boolean): string {
  if (measure(text, size, bold) <= max) return text;
  let lo = 0, hi = text.length;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (measure(text.slice(0, mid) + '…', size, bold) <= max) lo = mid;
    else hi = mid - 1;
  }
  return lo > 0 ? text.slice(0, lo) + '…' : '';
}

/** Builds the primitives for one frame. */
export function drawScene(d: DrawInput): Prim[] {
  const { scene, layout, viewport: v, frame: f, theme: t, measure } = d;
  const out: Prim[] = [];
  const plotR = f.width, plotB = f.height - f.axis;
  const sx = (x: number) => x * v.zoomX + v.panX;
  const sy = (y: number) => y * v.zoomY + v.panY;

  // Bands: a line between layers, the label in the gutter.
  out.push({ t: 'clip', x: f.gutter, y: 0, w: plotR - f.gutter, h: plotB });
  // Lines between bands only: an outer line would frame an empty strip that reads as one more layer.
  for (const b of layout.bands.slice(1)) {
    const y = sy(b.top);
    if (y >= 0 && y <= plotB) out.push({ t: 'line', x1: f.gutter, y1: y, x2: plotR, y2: y, color: t.border, width: 1 });
  }

  // Edges: what a hover or a selection focuses on is drawn in full and bright; the rest quietly.
  const focusIds = [...d.selected, ...(d.hovered ? [d.hovered] : [])].filter((id) => scene.byId.has(id));
  const focusEdges = new Set<number>();
  for (const id of focusIds) {
    for (const i of scene.incoming.get(id) ?? []) focusEdges.add(i);
    for (const i of scene.outgoing.get(id) ?? []) focusEdges.add(i);
  }
  const lit = focusIds.length ? neighbourhood(scene, focusIds) : undefined;
  const buckets = new Map<string, { t: 'segments'; xy: number[]; color: string; width: number; alpha: number }>();
  const edge = (i: number, alpha: number) => {
    const e = scene.edges[i];
    const a = scene.byId.get(e.source);
    const b = scene.byId.get(e.target);
    if (!a || !b) return;
    const x1 = sx(a.x), y1 = sy(a.y), x2 = sx(b.x), y2 = sy(b.y);
    // Both ends beyond one side of the plot: nothing of the line is visible.
    if ((x1 < f.gutter && x2 < f.gutter) || (x1 > plotR && x2 > plotR) || (y1 < 0 && y2 < 0) || (y1 > plotB && y2 > plotB)) return;
    const w = Math.round(edgeWidth(e.weight, scene.maxAbs) * 2) / 2;
    const color = e.weight >= 0 ? t.positive : t.negative;
    const k = `${color}|${w}|${alpha}`;
    let bucket = buckets.get(k);
    if (!bucket) buckets.set(k, (bucket = { t: 'segments', xy: [], color, width: w, alpha }));
    bucket.xy.push(x1, y1, x2, y2);
  };
  const restAlpha = lit ? 0.1 : 0.35;
  for (const i of scene.resting) if (!focusEdges.has(i)) edge(i, restAlpha);
  // A node with hundreds of inputs: its strongest edges stand out, the weak ones stay visible but pale.
  let focusMax = 0;
  for (const i of focusEdges) focusMax = Math.max(focusMax, Math.abs(scene.edges[i].weight));
  for (const i of focusEdges) edge(i, focusMax > 0 ? Math.round((0.2 + 0.75 * Math.sqrt(Math.abs(scene.edges[i].weight) / focusMax)) * 20) / 20 : 0.95);
  // Faint first, then bright on top; thin before thick.
  out.push(...[...buckets.values()].sort((a, b) => a.alpha - b.alpha || a.width - b.width));

  // Nodes.
  const selected = new Set(d.selected);
  const onScreen: SceneNode[] = [];
  const shapes: Extract<Prim, { t: 'shape' }>[] = [];
  for (const n of scene.nodes) {
    const x = sx(n.x), y = sy(n.y);
    if (x < f.gutter - 20 || x > plotR + 20 || y < -20 || y > plotB + 20) continue;
    onScreen.push(n);
    const [w, h] = NODE_SIZE[n.kind];
    const sel = selected.has(n.id);
    const ring = sel ? t.focus : n.pinned && n.kind !== 'supernode' ? t.pinned : n.match ? t.match : t.background;
    shapes.push({
      t: 'shape',
      shape: NODE_SHAPE[n.kind],
      x,
      y,
      w,
      h,
      fill: n.kind === 'supernode' ? t.supernode : t[n.kind],
      stroke: ring,
      strokeWidth: sel || (n.pinned && n.kind !== 'supernode') || n.match ? 2.5 : 1,
      alpha: lit && !lit.has(n.id) ? 0.3 : 1,
      ...(n.inGroup ? { dash: true } : {}),
    });
  }
  // Same-looking nodes next to each other, so the canvas fills each look in one path (20,000 nodes are
  // a few dozen fills, not 20,000); plain nodes first, rings (selection, pins) on top.
  const look = (p: Extract<Prim, { t: 'shape' }>) => `${p.strokeWidth > 1 ? 1 : 0}|${p.shape}|${p.fill}|${p.stroke}|${p.alpha}|${p.dash ? 1 : 0}|${p.w}`;
  out.push(...shapes.map((p) => [look(p), p] as const).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([, p]) => p));

  // Verify's flags: a ring outside the node and a "!" badge at its upper right, in the warning colour;
  // drawn over the nodes so a crowded cell cannot hide them.
  if (d.flagged?.size) {
    for (const n of onScreen) {
      if (!d.flagged.has(n.id)) continue;
      const [w, h] = NODE_SIZE[n.kind];
      const x = sx(n.x), y = sy(n.y);
      out.push({ t: 'shape', shape: 'ellipse', x, y, w: w + 9, h: h + 9, fill: 'transparent', stroke: t.flag, strokeWidth: 2, alpha: 1 });
      out.push({ t: 'shape', shape: 'ellipse', x: x + w / 2 + 4, y: y - h / 2 - 4, w: 11, h: 11, fill: t.flag, stroke: t.background, strokeWidth: 1, alpha: 1 });
      out.push({ t: 'text', x: x + w / 2 + 4, y: y - h / 2 - 3.5, text: '!', color: t.background, size: 9, bold: true, align: 'center', baseline: 'middle', role: 'verify-flag' });
    }
  }

  // Labels: the important ones first (selected, hovered, pinned, groups, logits, then features by
  // influence); a label that would overlap one already placed is left out (its card says the rest).
  const room = DEFAULT_SPACING * v.zoomX;
  const occ = new Occupancy();
  for (const n of onScreen) {
    const [w, h] = NODE_SIZE[n.kind];
    const x = sx(n.x), y = sy(n.y);
    occ.take(x - w / 2, y - h / 2, x + w / 2, y + h / 2);
  }
  // The selection's (or hovered node's) neighbours are labelled next, so a circuit can be read hop by hop.
  const prio = (n: SceneNode) => (selected.has(n.id) || n.id === d.hovered ? -3 : n.pinned || n.match ? -2 : lit?.has(n.id) ? -1 + n.rank / 10 : n.rank);
  // Only nodes that could get a label are sorted (zoomed out, that is the few forced ones).
  const ordered = onScreen
    .filter((n) => n.kind !== 'embedding' && (room >= LABEL_ROOM || (n.kind !== 'feature' && n.kind !== 'error') || prio(n) < 0))
    .sort((a, b) => prio(a) - prio(b));
  for (const n of ordered) {
    const forced = prio(n) < -1 || n.kind === 'supernode';
    const neighbour = !forced && prio(n) < 0;
    if (!forced && !neighbour && (n.kind === 'feature' || n.kind === 'error') && room < LABEL_ROOM) continue;
    const max = n.kind === 'supernode' ? Infinity : forced ? 240 : n.kind === 'logit' ? 120 : neighbour ? 110 : Math.max(40, Math.min(140, room * 1.6));
    const bold = n.kind === 'supernode' || selected.has(n.id);
    const text = ellipsize(n.label, max, LABEL_SIZE, measure, bold);
    if (!text) continue;
    const tw = measure(text, LABEL_SIZE, bold);
    const x = sx(n.x), y = sy(n.y);
    const h = NODE_SIZE[n.kind][1];
    // Logits label above (their band is the top one), others below; a second line further out if taken.
    const up = n.kind === 'logit';
    const spots = up ? [y - h / 2 - 2, y - h / 2 - 2 - LABEL_SIZE - 2, y + h / 2 + 2 + LABEL_SIZE] : [y + h / 2 + 2 + LABEL_SIZE, y - h / 2 - 2];
    for (const base of spots) {
      const x0 = x - tw / 2 - 1, x1 = x + tw / 2 + 1, y0 = base - LABEL_SIZE, y1 = base + 2;
      if (x0 < f.gutter || x1 > plotR || y0 < 0 || y1 > plotB) continue;
      if (!occ.free(x0, y0, x1, y1) && !(forced && base === spots[spots.length - 1])) continue;
      occ.take(x0, y0, x1, y1);
      out.push({ t: 'text', x, y: base, text, color: t.foreground, size: LABEL_SIZE, bold, align: 'center', baseline: 'bottom', role: 'node-label' });
      break;
    }
  }
  out.push({ t: 'unclip' });

  // The gutter: band labels at their band's centre.
  out.push({ t: 'shape', shape: 'rectangle', x: f.gutter / 2, y: f.height / 2, w: f.gutter, h: f.height, fill: t.background, stroke: t.background, strokeWidth: 0, alpha: 1 });
  out.push({ t: 'line', x1: f.gutter, y1: 0, x2: f.gutter, y2: plotB, color: t.border, width: 1 });
  // Thin bands (many layers, zoomed out): a label only where it does not touch the previous one, but
  // always Logits and Emb.
  let lastY = -Infinity;
  const last = layout.bands.length - 1;
  for (const [i, b] of layout.bands.entries()) {
    const y = sy((b.top + b.bottom) / 2);
    if (y < 6 || y > plotB - 6) continue;
    const nextY = i < last ? sy((layout.bands[last].top + layout.bands[last].bottom) / 2) : Infinity;
    if (i !== last && (y - lastY < 13 || nextY - y < 13)) continue;
    lastY = y;
    out.push({ t: 'text', x: f.gutter - 6, y, text: b.label, color: t.muted, size: 11, bold: true, align: 'right', baseline: 'middle', role: 'band-label' });
  }

  // The token axis: position number, then the token's text (rotated when its column is narrow).
  out.push({ t: 'shape', shape: 'rectangle', x: f.width / 2, y: plotB + f.axis / 2, w: f.width, h: f.axis, fill: t.background, stroke: t.background, strokeWidth: 0, alpha: 1 });
  out.push({ t: 'line', x1: f.gutter, y1: plotB, x2: plotR, y2: plotB, color: t.border, width: 1 });
  out.push(...tokenAxis(d, plotB));
  return out;
}

const DEFAULT_SPACING = 44;

function tokenAxis(d: DrawInput, top: number): Prim[] {
  const { layout, viewport: v, frame: f, theme: t, measure, graph } = d;
  const out: Prim[] = [];
  const cols = layout.columns;
  if (!cols.length) return out;
  const sx = (x: number) => x * v.zoomX + v.panX;
  const narrowest = Math.min(...cols.map((c) => (c.right - c.left) * v.zoomX));
  // Rotated labels need one line height between neighbours; beyond that every k-th token is labelled.
  const every = Math.max(1, Math.ceil(14 / Math.max(1e-6, narrowest)));
  const size = 11;
  for (const c of cols) {
    if (c.ctx % every) continue;
    const x = sx(c.centre);
    if (x < f.gutter || x > f.width) continue;
    const l = sx(c.left);
    if (l >= f.gutter) out.push({ t: 'line', x1: l, y1: top, x2: l, y2: top + 4, color: t.border, width: 1 });
    out.push({ t: 'text', x, y: top + 3, text: String(c.ctx), color: t.muted, size: 10, align: 'center', baseline: 'top', role: 'axis-position' });
    const tok = tokenLabel(graph.promptTokens[c.ctx] ?? '');
    // Only a label wider than its column turns: a turned "+" would read as "×".
    if (measure(tok, size) > (c.right - c.left) * v.zoomX - 4) {
      const max = (f.axis - 20) / Math.sin(Math.PI / 4);
      out.push({ t: 'text', x: x + 3, y: top + 16, text: ellipsize(tok, max, size, measure), color: t.foreground, size, align: 'right', baseline: 'top', rotate: -45, role: 'axis-token' });
    } else {
      out.push({ t: 'text', x, y: top + 16, text: tok, color: t.foreground, size, align: 'center', baseline: 'top', role: 'axis-token' });
    }
  }
  return out;
}

/** The viewport that shows the whole layout in a frame (each axis on its own, within limits). */
export function fitViewport(layout: GraphLayout, f: Frame, pad = 28): Viewport {
  const w = Math.max(40, f.width - f.gutter - 2 * pad);
  const h = Math.max(40, f.height - f.axis - 2 * pad);
  let zoomY = Math.min(1.6, h / Math.max(1, layout.height));
  let zoomX = Math.min(1.6, w / Math.max(1, layout.width));
  // Keep the picture's proportions within a factor of 6, so a long prompt in a tall panel stays legible.
  zoomX = Math.max(zoomX, zoomY / 6);
  zoomY = Math.max(Math.min(zoomY, zoomX * 6), Math.min(zoomY, 0.05));
  const panX = f.gutter + pad + Math.max(0, (w - layout.width * zoomX) / 2);
  const panY = pad + Math.max(0, (h - layout.height * zoomY) / 2);
  return { zoomX, zoomY, panX, panY };
}

/** The frame an export needs to show the whole graph at a given zoom. */
export function exportFrame(layout: GraphLayout, zoom = 1, pad = 28): { frame: Frame; viewport: Viewport } {
  const frame: Frame = { width: 0, height: 0, gutter: 52, axis: 90 };
  frame.width = Math.ceil(frame.gutter + 2 * pad + layout.width * zoom);
  frame.height = Math.ceil(frame.axis + 2 * pad + layout.height * zoom);
  return { frame, viewport: { zoomX: zoom, zoomY: zoom, panX: frame.gutter + pad, panY: pad } };
}
