/**
 * The predicted-vs-measured scatter of a verify report: one point per (node, target logit), the y = x
 * line (where the graph's linear prediction is exactly the model's behaviour), the factor-of-two band
 * edges faintly, zero axes, ticks and axis labels. The geometry is pure (tested); the SVG takes its
 * colours from CSS classes (media/webview.css) bound to the theme's variables, so it follows the theme.
 */

export interface ScatterPoint {
  predicted: number;
  measured: number;
  flagged: boolean;
  /** Short name drawn beside a flagged point ("L3#370@8"), and the hover title. */
  name: string;
  title: string;
}

export interface ScatterGeometry {
  size: number;
  /** Plot box in SVG px (left, top, right, bottom). */
  box: { l: number; t: number; r: number; b: number };
  /** The same range on both axes, so y = x is the diagonal. */
  lo: number;
  hi: number;
  ticks: number[];
  x(v: number): number;
  y(v: number): number;
}

/** A "nice" step (1, 2 or 5 × 10^k) giving about `n` ticks over `span`. */
export function niceStep(span: number, n = 4): number {
  if (!(span > 0)) return 1;
  const raw = span / n;
  const p = 10 ** Math.floor(Math.log10(raw));
  const m = raw / p;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

/** One range for both axes covering every point and 0, padded, on tick boundaries. */
export function scatterGeometry(points: readonly Pick<ScatterPoint, 'predicted' | 'measured'>[], size = 260): ScatterGeometry {
  let lo = 0, hi = 0;
  for (const p of points) {
    for (const v of [p.predicted, p.measured]) {
      if (!Number.isFinite(v)) continue;
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
  }
  if (hi - lo < 1e-9) {
    lo -= 1;
    hi += 1;
  }
  const step = niceStep(hi - lo);
  lo = Math.floor(lo / step - 0.15) * step;
  hi = Math.ceil(hi / step + 0.15) * step;
  const ticks: number[] = [];
  for (let v = lo; v <= hi + step / 2; v += step) ticks.push(Math.abs(v) < step / 1e6 ? 0 : Number(v.toPrecision(12)));
  const box = { l: 44, t: 10, r: size - 10, b: size - 38 };
  const x = (v: number) => box.l + ((v - lo) / (hi - lo)) * (box.r - box.l);
  const y = (v: number) => box.b - ((v - lo) / (hi - lo)) * (box.b - box.t);
  return { size, box, lo, hi, ticks, x, y };
}

export interface NamePlacement {
  /** Index into the names given. */
  index: number;
  x: number;
  y: number;
  anchor: 'start' | 'end';
}

/**
 * Where to write each name beside its own point (px): on the side facing the plot's middle, else the
 * other, at the point's height or up to two rows above or below, never over a name already placed. A
 * name with no free place near its point is left out (the point's hover title and the table still name
 * it) rather than pushed down beside another point, where it would name the wrong one.
 */
export function placeNames(items: readonly { cx: number; cy: number; name: string }[], middle: number, charWidth = 5.8, row = 11): NamePlacement[] {
  const boxes: { l: number; r: number; t: number; b: number }[] = [];
  const out: NamePlacement[] = [];
  items.forEach((it, index) => {
    const w = it.name.length * charWidth;
    const prefer: ('start' | 'end')[] = it.cx < middle ? ['start', 'end'] : ['end', 'start'];
    for (const dy of [0, -row, row, -2 * row, 2 * row]) {
      for (const anchor of prefer) {
        const x = it.cx + (anchor === 'start' ? 7 : -7);
        const y = it.cy - 5 + dy;
        const box = { l: anchor === 'start' ? x : x - w, r: anchor === 'start' ? x + w : x, t: y - row + 2, b: y + 2 };
        if (boxes.some((q) => box.l < q.r && q.l < box.r && box.t < q.b && q.t < box.b)) continue;
        boxes.push(box);
        out.push({ index, x, y, anchor });
        return;
      }
    }
  });
  return out;
}

const NS = 'http://www.w3.org/2000/svg';

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>, text?: string): SVGElementTagNameMap[K] {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

const tickText = (v: number) => (Math.abs(v) >= 100 ? v.toFixed(0) : Number(v.toPrecision(3)).toString()).replace('-', '−');

export function renderScatter(points: readonly ScatterPoint[], size = 260): SVGSVGElement {
  const g = scatterGeometry(points, size);
  const { box } = g;
  const root = svg('svg', { class: 'verify-scatter', viewBox: `0 0 ${size} ${size}`, width: size, height: size, role: 'img', 'aria-label': `Predicted against measured effect, ${points.length} points; flagged points are marked`, 'data-testid': 'verify-scatter' });
  root.append(svg('rect', { class: 'sc-frame', x: box.l, y: box.t, width: box.r - box.l, height: box.b - box.t }));
  for (const v of g.ticks) {
    root.append(svg('line', { class: v === 0 ? 'sc-zero' : 'sc-grid', x1: g.x(v), y1: box.t, x2: g.x(v), y2: box.b }));
    root.append(svg('line', { class: v === 0 ? 'sc-zero' : 'sc-grid', x1: box.l, y1: g.y(v), x2: box.r, y2: g.y(v) }));
    root.append(svg('text', { class: 'sc-tick', x: g.x(v), y: box.b + 12, 'text-anchor': 'middle' }, tickText(v)));
    root.append(svg('text', { class: 'sc-tick', x: box.l - 4, y: g.y(v) + 3.5, 'text-anchor': 'end' }, tickText(v)));
  }
  // y = 2x and y = x/2 bound the region that is not flagged (same sign, within a factor of two).
  const clipId = `sc-clip-${Math.random().toString(36).slice(2)}`;
  const clip = svg('clipPath', { id: clipId });
  clip.append(svg('rect', { x: box.l, y: box.t, width: box.r - box.l, height: box.b - box.t }));
  root.append(clip);
  const band = svg('g', { 'clip-path': `url(#${clipId})` });
  for (const k of [2, 0.5]) band.append(svg('line', { class: 'sc-band', x1: g.x(g.lo), y1: g.y(g.lo * k), x2: g.x(g.hi), y2: g.y(g.hi * k) }));
  band.append(svg('line', { class: 'sc-diagonal', 'data-testid': 'verify-diagonal', x1: g.x(g.lo), y1: g.y(g.lo), x2: g.x(g.hi), y2: g.y(g.hi) }));
  root.append(band);
  root.append(svg('text', { class: 'sc-diag-label', x: g.x(g.hi) - 4, y: g.y(g.hi) + 12, 'text-anchor': 'end' }, 'y = x'));
  root.append(svg('text', { class: 'sc-axis', x: (box.l + box.r) / 2, y: size - 8, 'text-anchor': 'middle' }, 'predicted by the graph (Δ logit)'));
  root.append(svg('text', { class: 'sc-axis', x: 11, y: (box.t + box.b) / 2, 'text-anchor': 'middle', transform: `rotate(-90 11 ${(box.t + box.b) / 2})` }, 'measured (Δ logit)'));
  // Unflagged first, flagged on top with their names beside them (placeNames).
  const named: { cx: number; cy: number; name: string }[] = [];
  for (const p of [...points].sort((a, b) => Number(a.flagged) - Number(b.flagged))) {
    if (!Number.isFinite(p.predicted) || !Number.isFinite(p.measured)) continue;
    const cx = g.x(p.predicted), cy = g.y(p.measured);
    const dot = svg('circle', { class: p.flagged ? 'sc-point flagged' : 'sc-point', cx, cy, r: p.flagged ? 4.5 : 3.5, 'data-testid': 'verify-point', 'data-flagged': String(p.flagged) });
    dot.append(svg('title', {}, p.title));
    root.append(dot);
    if (p.flagged) named.push({ cx, cy, name: p.name });
  }
  for (const n of placeNames(named, (box.l + box.r) / 2)) {
    root.append(svg('text', { class: 'sc-name', x: n.x, y: n.y, 'text-anchor': n.anchor }, named[n.index].name));
  }
  return root;
}
