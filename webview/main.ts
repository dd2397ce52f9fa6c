/**
 * The graph viewer (side panel and *.graph.json editor): wires the host channel, the view state
 * (view-state.ts, pure), the scene (scene.ts, pure), the canvas (canvas.ts), the details pane
 * (details/) and the toolbar (toolbar.ts). Talks to the host only through src/shared/protocol.ts messages.
 */
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-textfield/index.js';
import '@vscode-elements/elements/dist/vscode-toolbar-button/index.js';
import '@vscode-elements/elements/dist/vscode-toolbar-container/index.js';
import '@vscode-elements/elements/dist/vscode-icon/index.js';
import '@vscode-elements/elements/dist/vscode-progress-bar/index.js';
import { dispatchMessage, type FeatureCard, type FeatureRef, type GraphPayload, type HostEvent, type MessageHandlers } from '../src/shared/protocol';
import { headShares, percent } from './heads';
import { renderCard } from './card';
import { GraphCanvas, type HoverTarget } from './canvas';
import { HostChannel } from './channel';
import { DetailsPane } from './details';
import { clear, el, fmt } from './dom';
import { drawScene, exportFrame } from './draw';
import { GraphFormatError, normalizeGraph, tokenLabel, withViewState, type ViewGraph, type ViewNode } from './graph-model';
import { layeredLayout, type GraphLayout } from './layout';
import { paintCanvas, primsToSvg } from './paint';
import { searchNodes } from './prune';
import { buildScene, type Scene } from './scene';
import { graphScores, type GraphScores } from './scores';
import { attachSplitter } from './splitter';
import { readTheme, type Theme } from './theme';
import { Toolbar } from './toolbar';
import * as vs from './view-state';
import { verdictLines } from './details/verify';
import { flagReason, VerifyRuns } from './verify-runs';

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;

interface Shown {
  payload: GraphPayload;
  graph: ViewGraph;
  layout: GraphLayout;
  scene: Scene;
  sceneVersion: number;
  state: vs.ViewState;
}

class Viewer {
  private shown?: Shown;
  private theme: Theme = readTheme();
  private readonly canvas: GraphCanvas;
  private readonly details = new DetailsPane($('details'));
  private readonly toolbar: Toolbar;
  private readonly cards = new Map<string, Promise<FeatureCard | undefined>>();
  private hoverToken = 0;
  private persistTimer?: ReturnType<typeof setTimeout>;
  private sentView = '';
  private scoreCache?: { key: string; shown: GraphScores; sub?: GraphScores };
  /** Verify runs of the shown graph: the details section shows them, the canvas marks their flags. */
  private readonly verify = new VerifyRuns(() => this.redraw());

  constructor(private readonly host: HostChannel) {
    this.canvas = new GraphCanvas($('graph'), {
      click: (id, additive) => this.update((s) => vs.clickNode(s, id, additive), { notify: id }),
      hover: (t, x, y) => this.onHover(t, x, y),
      viewport: (v) => this.update((s) => vs.setViewport(s, v), { quiet: true }),
    });
    this.toolbar = new Toolbar({
      search: (q, go) => {
        this.update((s) => vs.setSearch(s, q));
        if (go && this.shown) {
          const first = searchNodes(this.shown.graph, q).find((id) => this.shown!.scene.byId.has(id));
          if (first) this.select(first);
        }
      },
      threshold: (t, final) => (final ? this.setThreshold(t) : this.toolbar.showThreshold(t)),
      pin: () => this.update((s) => vs.togglePins(s)),
      pinnedOnly: (on) => this.update((s) => vs.setPinnedOnly(s, on)),
      group: (label) => this.update((s) => vs.group(s, vs.selectedMembers(s), label)),
      ungroup: () => this.update((s) => vs.ungroup(s)),
      fit: () => this.canvas.fit(),
      export: (f) => void this.exportAs(f),
      openPrompt: () => this.host.post({ type: 'openPrompt' }),
    });
    attachSplitter($('splitter'), $('graph-wrap'), $('details'));
    // VS Code swaps body classes (vscode-light / vscode-dark / vscode-high-contrast) on theme change.
    new MutationObserver(() => {
      this.theme = readTheme();
      this.redraw();
    }).observe(document.body, { attributes: true, attributeFilter: ['class'] });
    document.addEventListener('keydown', (ev) => {
      const typing = (ev.target as HTMLElement | null)?.closest('vscode-textfield, input, textarea');
      if (ev.key === 'Escape') this.update(vs.clearSelection);
      else if (!typing && ev.key === '/') {
        ev.preventDefault();
        this.toolbar.focusSearch();
      } else if (!typing && ev.key === 'f') this.canvas.fit();
    });
    $('empty-analyze').addEventListener('click', () => this.host.post({ type: 'analyze' }));
    this.toolbar.setVisible(false);
  }

  // --------------------------------------------------------------------------------------------- host

  /** One handler per event the host may send (a new event type without one fails to compile). */
  readonly handlers = {
    setGraph: (m) => this.show(m.payload),
    showMessage: (m) => this.showMessage(m.message),
    focusNode: (m) => this.focusFeature(m.feature, m.position),
    busy: (m) => {
      $('busy').hidden = !m.busy;
      $('busy-label').textContent = m.busy ? m.label ?? 'Working…' : '';
    },
  } satisfies MessageHandlers<HostEvent>;

  handle(m: HostEvent): void {
    dispatchMessage(this.handlers, m);
  }

  showMessage(message: string): void {
    const b = $('message');
    b.textContent = message;
    b.hidden = false;
    if (!this.shown) $('empty').hidden = false;
  }

  /**
   * The threshold control: a live analysis is re-pruned by the host from its kept attribution (looser or
   * tighter, nothing recomputed); any other graph only hides nodes above the threshold.
   */
  private setThreshold(t: number): void {
    const sh = this.shown;
    if (!sh?.payload.canPrune) {
      this.update((s) => vs.setThreshold(s, t));
      return;
    }
    const carried = { ...sh.state, threshold: t };
    void this.host.request({ type: 'prune', nodeThreshold: t }).then((r) => {
      if (this.shown !== sh) return; // another graph arrived meanwhile
      if (r.graph) this.show({ ...sh.payload, graph: r.graph }, carried);
      else {
        this.showMessage(r.error ?? 'The graph could not be pruned again.');
        this.update((s) => vs.setThreshold(s, t));
      }
    });
  }

  /** Shows a graph; `carry` keeps the view (pins, groups, selection, viewport) of the graph it replaces. */
  show(payload: GraphPayload, carry?: vs.ViewState): void {
    let graph: ViewGraph;
    try {
      graph = normalizeGraph(payload.graph, { labelMinF1: payload.labelMinF1 });
    } catch (e) {
      this.showMessage(e instanceof GraphFormatError ? e.message : 'This graph cannot be shown.');
      return;
    }
    const t0 = performance.now();
    // A re-prunable analysis starts its control at the threshold it was pruned at (the setting).
    const pruned = payload.canPrune ? payload.graph.metadata.node_threshold : undefined;
    const state =
      (carry && vs.restoreState(graph, { ...carry, key: vs.graphKey(graph) })) ?? vs.recallState(graph, this.host.api.getState()) ?? vs.initialState(graph, pruned ?? 1);
    const layout = layeredLayout(graph.nodes, graph.nLayers, graph.promptTokens.length);
    this.cards.clear();
    this.sentView = '';
    // Another prompt's graph: its verdicts mean nothing here (a re-pruned one keeps them).
    const samePrompt = !!carry && !!this.shown && this.shown.graph.slug === graph.slug && this.shown.graph.prompt === graph.prompt;
    this.shown = { payload, graph, layout, scene: buildScene(graph, layout, state), sceneVersion: 1, state };
    if (!samePrompt) this.verify.reset();
    $('message').hidden = true;
    $('empty').hidden = true;
    this.toolbar.setVisible(true);
    // How the graph was made, when not the default transcoder graph (SAE graphs say so).
    const method = (payload.graph.metadata.info as { method?: unknown } | undefined)?.method;
    this.toolbar.showGraph(payload.title, !!payload.promptLink || payload.source === 'file', state, typeof method === 'string' ? method : undefined);
    this.details.reset();
    if (state.viewport) this.canvas.setViewport(state.viewport);
    this.redraw();
    if (!state.viewport) this.canvas.fit();
    // Time to a painted graph (the canvas paints on the next animation frame), for the bench.
    requestAnimationFrame(() => requestAnimationFrame(() => ($('summary').dataset.renderMs = (performance.now() - t0).toFixed(1))));
  }

  // ------------------------------------------------------------------------------------------- state

  /**
   * Applies a state change. The scene is rebuilt only when what is shown changed (threshold, pins,
   * groups, search); nothing here lays the graph out again or moves the viewport.
   */
  private update(change: (s: vs.ViewState) => vs.ViewState, opts: { notify?: string; quiet?: boolean } = {}): void {
    const sh = this.shown;
    if (!sh) return;
    const prev = sh.state;
    const next = change(prev);
    if (next === prev) return;
    sh.state = next;
    if (
      next.threshold !== prev.threshold || next.pinned !== prev.pinned || next.pinnedOnly !== prev.pinnedOnly ||
      next.supernodes !== prev.supernodes || next.expanded !== prev.expanded || next.search !== prev.search
    ) {
      sh.scene = buildScene(sh.graph, sh.layout, next);
      sh.sceneVersion++;
    }
    if (!opts.quiet) this.redraw();
    this.persistSoon();
    const id = opts.notify;
    const node = id ? sh.graph.byId.get(id) : undefined;
    if (node?.kind === 'feature' && node.feature !== undefined && next.selected.includes(node.id)) {
      this.host.post({ type: 'focusFeature', feature: { layer: node.layer, feature: node.feature }, nodeId: node.id });
    }
  }

  private select(id: string, additive = false): void {
    this.update((s) => vs.clickNode(s, id, additive), { notify: id });
    this.canvas.reveal(id);
  }

  private redraw(): void {
    const sh = this.shown;
    if (!sh) return;
    const s = sh.state;
    this.canvas.setModel(this.canvasModel());
    const selection = s.selected.map((id) => sh.scene.byId.get(id)).filter((n) => n !== undefined);
    this.details.update({
      graph: sh.graph,
      scene: sh.scene,
      sceneVersion: sh.sceneVersion,
      state: s,
      payload: sh.payload,
      ...(selection.length ? { focus: selection[selection.length - 1] } : {}),
      selection,
      host: this.host,
      verify: this.verify,
      actions: { select: (id, additive) => this.select(id, additive), update: (c) => this.update(c), showFeature: (f) => this.revealFeature(f) },
      card: (n) => this.cardFor(n),
    });
    const byKind: Record<string, number> = { embedding: 0, feature: 0, error: 0, logit: 0, supernode: 0 };
    for (const n of sh.scene.nodes) byKind[n.kind]++;
    // Members merged into a supernode still count as the kinds they are.
    for (const n of sh.scene.nodes) for (const m of n.members ?? []) byKind[sh.graph.byId.get(m)!.kind]++;
    this.toolbar.showSummary({ shownNodes: sh.scene.shownNodes, totalNodes: sh.graph.nodes.length, shownLinks: sh.scene.shownLinks, totalLinks: sh.graph.links.length, byKind });
    this.toolbar.showSearchCount(s.search.trim() ? searchNodes(sh.graph, s.search).length : undefined);
    this.showScores();
  }

  private canvasModel() {
    const sh = this.shown!;
    const s = sh.state;
    const flagged = this.verify.flagged();
    return { graph: sh.graph, layout: sh.layout, scene: sh.scene, theme: this.theme, selected: s.selected, ...(s.hovered ? { hovered: s.hovered } : {}), ...(flagged.size ? { flagged } : {}) };
  }

  /** A verified node's verdict for its tooltip: the warning when flagged, and the numbers. */
  private verdict(id: string): HTMLElement | undefined {
    const r = this.verify.result;
    const v = r?.bySceneId.get(id);
    if (!r || !v) return undefined;
    const { warn, lines } = verdictLines(v, r.report.setting);
    return el(
      'div',
      { class: `verify-tip${warn ? ' flagged' : ''}`, 'data-testid': 'verify-tooltip' },
      el('div', { class: 'verify-tip-head' }, warn ? `⚠ ${flagReason(r.report.semantics)}` : 'Verified: the graph predicts this ablation'),
      ...lines.map((l) => el('div', { class: 'card-meta' }, l)),
    );
  }

  private showScores(): void {
    const sh = this.shown!;
    const s = sh.state;
    const key = `${sh.sceneVersion}`;
    if (this.scoreCache?.key !== key) {
      const shownIds = new Set<string>();
      for (const n of sh.scene.nodes) for (const id of n.members ?? [n.id]) shownIds.add(id);
      const sub = new Set([...s.pinned, ...s.supernodes.flatMap((g) => g.ids)]);
      this.scoreCache = { key, shown: graphScores(sh.graph, (id) => shownIds.has(id)), ...(sub.size ? { sub: graphScores(sh.graph, (id) => sub.has(id)) } : {}) };
    }
    const ci = (sh.payload.graph.metadata as { circuit_inspector?: { scores?: GraphScores } }).circuit_inspector;
    this.toolbar.showScores(this.scoreCache.shown, this.scoreCache.sub, ci?.scores);
  }

  private persistSoon(): void {
    clearTimeout(this.persistTimer);
    this.persistTimer = setTimeout(() => this.persist(), 250);
  }

  private persist(): void {
    const sh = this.shown;
    if (!sh) return;
    const { hovered: _h, ...s } = sh.state;
    this.host.api.setState(vs.rememberState(this.host.api.getState(), s));
    // The host keeps pins and supernodes so Save Graph writes them into qParams.
    if (sh.payload.source !== 'analysis') return;
    const supernodes = s.supernodes.map((g) => [g.label, ...g.ids]);
    const key = JSON.stringify([s.pinned, supernodes]);
    if (key === this.sentView) return;
    this.sentView = key;
    this.host.post({ type: 'viewState', pinnedIds: [...s.pinned], supernodes });
  }

  // ------------------------------------------------------------------------------------------- hover

  private cardFor(n: ViewNode): Promise<FeatureCard | undefined> {
    if (n.kind !== 'feature' || n.feature === undefined || !this.shown?.payload.canIntervene) return Promise.resolve(undefined);
    const key = `${n.layer}:${n.feature}`;
    let p = this.cards.get(key);
    if (!p) {
      p = this.host.request({ type: 'requestFeatureCard', feature: { layer: n.layer, feature: n.feature } }).then((r) => r.card);
      this.cards.set(key, p);
    }
    return p;
  }

  private onHover(t: HoverTarget | undefined, x: number, y: number): void {
    const sh = this.shown;
    if (!sh) return;
    const id = t?.kind === 'node' ? t.id : undefined;
    if (id !== sh.state.hovered) {
      sh.state = vs.hover(sh.state, id);
      this.canvas.setModel(this.canvasModel());
    }
    const tip = $('tooltip');
    const token = ++this.hoverToken;
    if (!t) {
      tip.hidden = true;
      return;
    }
    const place = () => {
      const box = $('graph').getBoundingClientRect();
      tip.hidden = false;
      const w = tip.offsetWidth, h = tip.offsetHeight;
      tip.style.left = `${Math.max(4, Math.min(box.width - w - 4, x + 12))}px`;
      tip.style.top = `${Math.max(4, y + h + 16 > box.height ? y - h - 12 : y + 12)}px`;
    };
    clear(tip);
    if (t.kind === 'node') {
      const sn = sh.scene.byId.get(t.id);
      if (!sn) return;
      if (!sn.node) {
        tip.append(el('div', { class: 'card-title' }, sn.label), el('div', { class: 'card-meta' }, `Supernode of ${sn.members?.length ?? 0} nodes; its edges are the sums of its members’.`), this.verdict(t.id) ?? '');
        return place();
      }
      const node = sn.node;
      const verdict = () => this.verdict(t.id);
      tip.append(renderCard(node, undefined, true), verdict() ?? '');
      place();
      void this.cardFor(node).then((c) => {
        if (!c || token !== this.hoverToken) return;
        clear(tip);
        tip.append(renderCard(node, c, true), verdict() ?? '');
        place();
      });
    } else if (t.kind === 'edge') {
      const e = sh.scene.edges[t.index];
      const a = sh.scene.byId.get(e.source), b = sh.scene.byId.get(e.target);
      tip.append(el('div', { class: 'card-title', 'data-testid': 'edge-tooltip' }, `${e.weight >= 0 ? '+' : '−'}${fmt(Math.abs(e.weight), 4)}`), el('div', { class: 'card-meta' }, `${a?.label ?? e.source} → ${b?.label ?? e.target}`));
      if (e.heads?.length) {
        // Head loadings: which attention heads move this edge between positions.
        const { listed, other } = headShares(e.heads, e.weight);
        const box = el('div', { class: 'edge-heads', 'data-testid': 'edge-heads' }, el('div', { class: 'card-section' }, 'Carried by heads'));
        for (const h of other ? [...listed, other] : listed) {
          box.append(el('div', { class: 'edge-head', 'data-testid': 'edge-head', 'data-head': h.name, 'data-weight': String(h.weight) }, el('span', { class: 'conn-weight' }, `${h.weight >= 0 ? '+' : '−'}${fmt(Math.abs(h.weight), 3)}`), el('span', { class: 'conn-share' }, percent(h.share)), el('span', { class: 'conn-label' }, h.name)));
        }
        tip.append(box);
      }
      place();
    } else {
      const tok = sh.graph.promptTokens[t.ctx];
      tip.append(el('div', { class: 'card-title' }, tok === undefined ? `position ${t.ctx}` : tokenLabel(tok)), el('div', { class: 'card-meta' }, `token position ${t.ctx}`));
      place();
    }
  }

  /** Host asked to focus a feature (from a hover link): select its node at that position, or any. */
  private focusFeature(f: FeatureRef, position?: number): void {
    if (!this.shown) return;
    if (!this.revealFeature(f, position)) this.showMessage(`Feature L${f.layer} #${f.feature} is not in the pruned graph.`);
  }

  /** Selects a feature's node (at `position` when given, else its first) and pans to it; false when absent. */
  private revealFeature(f: FeatureRef, position?: number): boolean {
    const sh = this.shown;
    if (!sh) return false;
    const matches = sh.graph.nodes.filter((n) => n.kind === 'feature' && n.layer === f.layer && n.feature === f.feature);
    const best = matches.find((n) => n.ctx === position) ?? matches[0];
    if (!best) return false;
    $('message').hidden = true;
    // Pruned away at the current threshold: pin it so it shows.
    if (!sh.scene.byId.has(best.id)) this.update((s) => vs.ensurePinned(s, best.id));
    this.update((s) => vs.clickNode(s, best.id, false));
    this.canvas.reveal(best.id);
    return true;
  }


  // ------------------------------------------------------------------------------------------ export

  /** PNG (base64) and SVG: the whole graph as the canvas draws it (axis, bands, supernodes, labels that fit). */
  exportData(format: 'png' | 'svg' | 'json'): string | undefined {
    const sh = this.shown;
    if (!sh) return undefined;
    if (format === 'json') return JSON.stringify(withViewState(sh.payload.graph, sh.state.pinned, sh.state.supernodes), null, 1);
    // Natural size (1 world unit = 1 px), smaller for huge graphs (a canvas side is limited).
    const zoom = Math.min(1, 8000 / Math.max(sh.layout.width, sh.layout.height, 1));
    const { frame, viewport } = exportFrame(sh.layout, zoom);
    const prims = drawScene({ ...this.canvas.drawInput(frame, viewport)!, hovered: undefined });
    if (format === 'svg') return primsToSvg(prims, frame.width, frame.height, this.theme.background, this.theme.fontFamily);
    const c = document.createElement('canvas');
    c.width = frame.width * 2;
    c.height = frame.height * 2;
    const ctx = c.getContext('2d')!;
    ctx.setTransform(2, 0, 0, 2, 0, 0);
    ctx.fillStyle = this.theme.background;
    ctx.fillRect(0, 0, frame.width, frame.height);
    paintCanvas(ctx, prims, this.theme.fontFamily);
    return c.toDataURL('image/png').replace(/^data:image\/png;base64,/, '');
  }

  private async exportAs(format: 'png' | 'svg' | 'json'): Promise<void> {
    const data = this.exportData(format);
    if (data === undefined) return;
    const r = await this.host.request({ type: 'export', format, data });
    if (r.error) this.showMessage(r.error);
  }

  /** For tests and automation: where a node is on screen, and the text the canvas drew. */
  inspect() {
    return {
      /** A node's centre in the canvas's own CSS pixels (what a click at `position` on the canvas hits). */
      nodeAt: (id: string) => this.canvas.screenOf(id),
      exportData: (format: 'png' | 'svg' | 'json') => this.exportData(format),
      texts: () => this.canvas.drawn.filter((p) => p.t === 'text').map((p) => ({ ...(p as Extract<typeof p, { t: 'text' }>) })),
      /** Scene ids verify flagged (the canvas marks them: text prims with role 'verify-flag'). */
      flagged: () => [...this.verify.flagged()],
      selected: () => [...(this.shown?.state.selected ?? [])],
      frameTimes: () => [...this.canvas.frameTimes],
      theme: () => ({ ...this.theme }),
    };
  }
}

let viewer: Viewer | undefined;
const early: HostEvent[] = [];
const channel = new HostChannel((m) => (viewer ? viewer.handle(m) : early.push(m)));
viewer = new Viewer(channel);
(window as unknown as { circuitInspectorView: unknown }).circuitInspectorView = viewer.inspect();
for (const m of early.splice(0)) viewer.handle(m);
void channel.request({ type: 'ready' }).then((r) => {
  if (r.state.payload) viewer!.show(r.state.payload);
  else if (r.state.message) viewer!.showMessage(r.state.message);
});
window.addEventListener('error', (ev) => channel.post({ type: 'log', level: 'error', message: String(ev.message) }));
