/**
 * The graph canvas: paints draw.ts's primitives, and turns the pointer into view events — click (with
 * Shift / Ctrl / Cmd to add to the selection), hover on a node, an edge or a token of the axis, drag to
 * pan, wheel to zoom around the pointer. It never moves a node and never re-fits on its own: a resize
 * keeps the zoom and the graph's top-left where they were; only `fit()` (the Fit button, or a graph
 * shown for the first time) chooses a viewport.
 */
import { drawScene, fitViewport, NODE_SIZE, type DrawInput, type Frame, type Prim } from './draw';
import type { ViewGraph } from './graph-model';
import type { GraphLayout } from './layout';
import { fontOf, paintCanvas } from './paint';
import type { Scene } from './scene';
import type { Theme } from './theme';
import type { Viewport } from './view-state';

export type HoverTarget = { kind: 'node'; id: string } | { kind: 'edge'; index: number } | { kind: 'token'; ctx: number };

export interface CanvasModel {
  graph: ViewGraph;
  layout: GraphLayout;
  scene: Scene;
  theme: Theme;
  selected: readonly string[];
  hovered?: string;
  /** Nodes whose verified effect contradicts the graph: marked with a ring and a badge. */
  flagged?: ReadonlySet<string>;
}

export interface CanvasEvents {
  click(id: string | undefined, additive: boolean): void;
  hover(target: HoverTarget | undefined, x: number, y: number): void;
  viewport(v: Viewport): void;
}

export const GUTTER = 52;
export const AXIS = 76;

export class GraphCanvas {
  readonly canvas: HTMLCanvasElement;
  private readonly ctx: CanvasRenderingContext2D;
  private model?: CanvasModel;
  private vp?: Viewport;
  private prims: Prim[] = [];
  private pending = 0;
  private readonly widths = new Map<string, number>();
  /** Paint times of the last frames (ms), for the bench. */
  readonly frameTimes: number[] = [];

  constructor(private readonly container: HTMLElement, private readonly events: CanvasEvents) {
    this.canvas = document.createElement('canvas');
    this.canvas.className = 'graph-canvas';
    this.canvas.setAttribute('role', 'img');
    this.canvas.setAttribute('aria-label', 'Attribution graph (the node list below names every node)');
    container.append(this.canvas);
    this.ctx = this.canvas.getContext('2d')!;
    new ResizeObserver(() => this.resize()).observe(container);
    this.wirePointer();
  }

  get frame(): Frame {
    return { width: this.container.clientWidth, height: this.container.clientHeight, gutter: GUTTER, axis: AXIS };
  }

  get viewport(): Viewport | undefined {
    return this.vp;
  }

  setViewport(v: Viewport): void {
    this.vp = { ...v };
    this.request();
  }

  setModel(m: CanvasModel): void {
    this.model = m;
    this.request();
  }

  /** Shows the whole graph. */
  fit(): void {
    if (!this.model) return;
    const f = this.frame;
    if (!(f.width > 0 && f.height > 0)) return;
    this.vp = fitViewport(this.model.layout, f);
    this.events.viewport(this.vp);
    this.request();
  }

  /** Pans (without zooming) so a node is in view, when it is not already well inside. */
  reveal(id: string): void {
    const n = this.model?.scene.byId.get(id);
    const v = this.vp;
    if (!n || !v) return;
    const f = this.frame;
    const x = n.x * v.zoomX + v.panX, y = n.y * v.zoomY + v.panY;
    if (x > f.gutter + 30 && x < f.width - 30 && y > 30 && y < f.height - f.axis - 30) return;
    this.vp = { ...v, panX: v.panX + (f.gutter + f.width) / 2 - x, panY: v.panY + (f.height - f.axis) / 2 - y };
    this.events.viewport(this.vp);
    this.request();
  }

  /** A node's centre in the container's CSS pixels. */
  screenOf(id: string): { x: number; y: number } | undefined {
    const n = this.model?.scene.byId.get(id);
    const v = this.vp;
    return n && v ? { x: n.x * v.zoomX + v.panX, y: n.y * v.zoomY + v.panY } : undefined;
  }

  /** The primitives of the last frame (what is on screen), for exports of the view and for tests. */
  get drawn(): readonly Prim[] {
    return this.prims;
  }

  measure = (text: string, size: number, bold?: boolean): number => {
    const k = `${size}|${bold ? 1 : 0}|${text}`;
    let w = this.widths.get(k);
    if (w === undefined) {
      this.ctx.font = fontOf(size, bold, this.model?.theme.fontFamily ?? 'sans-serif');
      w = this.ctx.measureText(text).width;
      if (this.widths.size > 50_000) this.widths.clear();
      this.widths.set(k, w);
    }
    return w;
  };

  drawInput(frame: Frame, viewport: Viewport): DrawInput | undefined {
    const m = this.model;
    if (!m) return undefined;
    return { graph: m.graph, layout: m.layout, scene: m.scene, viewport, frame, theme: m.theme, selected: m.selected, ...(m.hovered ? { hovered: m.hovered } : {}), ...(m.flagged?.size ? { flagged: m.flagged } : {}), measure: this.measure };
  }

  request(): void {
    if (this.pending) return;
    this.pending = requestAnimationFrame(() => {
      this.pending = 0;
      this.paint();
    });
  }

  private resize(): void {
    const f = this.frame;
    const dpr = window.devicePixelRatio || 1;
    this.canvas.width = Math.max(1, Math.round(f.width * dpr));
    this.canvas.height = Math.max(1, Math.round(f.height * dpr));
    this.canvas.style.width = `${f.width}px`;
    this.canvas.style.height = `${f.height}px`;
    if (!this.vp && this.model) this.fit();
    this.request();
  }

  private paint(): void {
    const t0 = performance.now();
    const f = this.frame;
    const dpr = window.devicePixelRatio || 1;
    const c = this.ctx;
    c.setTransform(dpr, 0, 0, dpr, 0, 0);
    const m = this.model;
    c.fillStyle = m?.theme.background ?? '#000';
    c.fillRect(0, 0, f.width, f.height);
    if (!m || !(f.width > 0 && f.height > 0)) return;
    if (!this.vp) this.vp = fitViewport(m.layout, f);
    this.prims = drawScene(this.drawInput(f, this.vp)!);
    paintCanvas(c, this.prims, m.theme.fontFamily);
    this.frameTimes.push(performance.now() - t0);
    if (this.frameTimes.length > 120) this.frameTimes.shift();
  }

  // ------------------------------------------------------------------------------------- pointer

  /** What is under a point (container px): a node, else an edge that is drawn, else an axis token. */
  hitTest(px: number, py: number): HoverTarget | undefined {
    const m = this.model, v = this.vp;
    if (!m || !v) return undefined;
    const f = this.frame;
    if (py > f.height - f.axis) {
      const wx = (px - v.panX) / v.zoomX;
      const col = m.layout.columns.find((c) => wx >= c.left && wx < c.right);
      return col ? { kind: 'token', ctx: col.ctx } : undefined;
    }
    if (px < f.gutter) return undefined;
    let best: string | undefined;
    let bestD = Infinity;
    for (const n of m.scene.nodes) {
      const dx = n.x * v.zoomX + v.panX - px, dy = n.y * v.zoomY + v.panY - py;
      const d = dx * dx + dy * dy;
      const r = Math.max(7, NODE_SIZE[n.kind][0] / 2 + 3);
      if (d < r * r && d < bestD) {
        bestD = d;
        best = n.id;
      }
    }
    if (best) return { kind: 'node', id: best };
    // Edges: the ones drawn bright (of the focused nodes) first, then the resting ones.
    const focus = [...m.selected, ...(m.hovered ? [m.hovered] : [])];
    const cand: number[] = [];
    for (const id of focus) cand.push(...(m.scene.incoming.get(id) ?? []), ...(m.scene.outgoing.get(id) ?? []));
    let edge = -1;
    let edgeD = 16; // within 4 px
    const test = (i: number) => {
      const e = m.scene.edges[i];
      const a = m.scene.byId.get(e.source), b = m.scene.byId.get(e.target);
      if (!a || !b) return;
      const x1 = a.x * v.zoomX + v.panX, y1 = a.y * v.zoomY + v.panY, x2 = b.x * v.zoomX + v.panX, y2 = b.y * v.zoomY + v.panY;
      const dx = x2 - x1, dy = y2 - y1;
      const L = dx * dx + dy * dy;
      const u = L > 0 ? Math.max(0, Math.min(1, ((px - x1) * dx + (py - y1) * dy) / L)) : 0;
      const ex = x1 + u * dx - px, ey = y1 + u * dy - py;
      const d = ex * ex + ey * ey;
      if (d < edgeD) {
        edgeD = d;
        edge = i;
      }
    };
    for (const i of cand) test(i);
    if (edge < 0 && !focus.length) for (const i of m.scene.resting) test(i);
    return edge >= 0 ? { kind: 'edge', index: edge } : undefined;
  }

  private wirePointer(): void {
    const el = this.canvas;
    let drag: { x: number; y: number; panX: number; panY: number; moved: boolean } | undefined;
    const local = (ev: MouseEvent) => {
      const r = el.getBoundingClientRect();
      return { x: ev.clientX - r.left, y: ev.clientY - r.top };
    };
    el.addEventListener('pointerdown', (ev) => {
      if (ev.button !== 0 || !this.vp) return;
      const p = local(ev);
      drag = { x: p.x, y: p.y, panX: this.vp.panX, panY: this.vp.panY, moved: false };
      el.setPointerCapture(ev.pointerId);
    });
    el.addEventListener('pointermove', (ev) => {
      const p = local(ev);
      if (drag && this.vp) {
        if (!drag.moved && Math.hypot(p.x - drag.x, p.y - drag.y) < 4) return;
        drag.moved = true;
        el.style.cursor = 'grabbing';
        this.vp = { ...this.vp, panX: drag.panX + p.x - drag.x, panY: drag.panY + p.y - drag.y };
        this.events.hover(undefined, p.x, p.y);
        this.request();
        return;
      }
      const hit = this.hitTest(p.x, p.y);
      el.style.cursor = hit?.kind === 'node' ? 'pointer' : 'default';
      this.events.hover(hit, p.x, p.y);
    });
    el.addEventListener('pointerup', (ev) => {
      const p = local(ev);
      const d = drag;
      drag = undefined;
      el.style.cursor = 'default';
      if (!d) return;
      if (d.moved) {
        if (this.vp) this.events.viewport(this.vp);
        return;
      }
      const hit = this.hitTest(p.x, p.y);
      this.events.click(hit?.kind === 'node' ? hit.id : undefined, ev.shiftKey || ev.ctrlKey || ev.metaKey);
    });
    el.addEventListener('pointerleave', () => {
      if (!drag) this.events.hover(undefined, 0, 0);
    });
    let settle: ReturnType<typeof setTimeout> | undefined;
    el.addEventListener(
      'wheel',
      (ev) => {
        if (!this.vp) return;
        ev.preventDefault();
        const p = local(ev);
        const k = Math.exp(-ev.deltaY * (ev.deltaMode === 1 ? 0.05 : 0.0015));
        const v = this.vp;
        const clamp = (z: number) => Math.max(0.005, Math.min(12, z));
        const zx = clamp(v.zoomX * k), zy = clamp(v.zoomY * k);
        // The world point under the pointer stays under the pointer.
        this.vp = { zoomX: zx, zoomY: zy, panX: p.x - ((p.x - v.panX) * zx) / v.zoomX, panY: p.y - ((p.y - v.panY) * zy) / v.zoomY };
        this.events.hover(undefined, p.x, p.y);
        this.request();
        clearTimeout(settle);
        settle = setTimeout(() => this.vp && this.events.viewport(this.vp), 200);
      },
      { passive: false },
    );
  }
}
