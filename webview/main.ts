/**
 * The graph viewer (side panel and *.graph.json editor): cytoscape with a layered preset layout,
 * feature cards, pins, supernodes, pruning, search, steering and export. Talks to the host only
 * through src/protocol.ts messages.
 */
import cytoscape, { type Core, type NodeSingular } from 'cytoscape';
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-textfield/index.js';
import '@vscode-elements/elements/dist/vscode-toolbar-button/index.js';
import '@vscode-elements/elements/dist/vscode-toolbar-container/index.js';
import '@vscode-elements/elements/dist/vscode-icon/index.js';
import '@vscode-elements/elements/dist/vscode-progress-bar/index.js';
import '@vscode-elements/elements/dist/vscode-collapsible/index.js';
import type { FeatureCard, FeatureRef, GraphPayload, InterventionSpec, ToWebview } from '../src/protocol';
import { renderCard, renderPredictions } from './card';
import { attachSplitter } from './splitter';
import { HostChannel } from './channel';
import { clear, el, fmt } from './dom';
import { toElements } from './elements';
import { GraphFormatError, normalizeGraph, withViewState, type Supernode, type ViewGraph, type ViewNode } from './graph-model';
import { DEFAULT_LAYOUT, fitAspect, layeredLayout, type Point } from './layout';
import { searchNodes, visibleElements } from './prune';
import { sceneToSvg, type SvgScene } from './svg-export';
import { NODE_SHAPE, NODE_SIZE, graphStyle, labelSize, nodeScale, readTheme, type Theme } from './theme';

/** What survives a reload of the webview (getState / setState), per graph. */
interface ViewState {
  key: string;
  threshold: number;
  pinned: string[];
  pinnedOnly: boolean;
  supernodes: Supernode[];
  zoom?: number;
  pan?: Point;
  search: string;
}

/** Beyond these, edges are drawn as haystacks (no arrows) and feature labels only on hover/selection. */
const LARGE_GRAPH = 4000;
const LARGE_NODES = 1500;

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;

function spanX(m: Map<string, Point>): number {
  let lo = Infinity, hi = -Infinity;
  for (const p of m.values()) {
    lo = Math.min(lo, p.x);
    hi = Math.max(hi, p.x);
  }
  return hi > lo ? hi - lo : 0;
}

class Viewer {
  private cy: Core;
  private payload?: GraphPayload;
  private graph?: ViewGraph;
  /** The layered layout, and the same stretched to the panel's shape (what is drawn). */
  private layout = new Map<string, Point>();
  private positions = new Map<string, Point>();
  private fittedFor = '';
  /** How much fitAspect squeezed columns (screen spacing of neighbours = nodeSpacing × squeeze × zoom). */
  private squeeze = 1;
  private state?: ViewState;
  private theme: Theme = readTheme();
  private readonly cards = new Map<string, Promise<FeatureCard | undefined>>();
  private hoverToken = 0;
  private selectedFeatureNode?: ViewNode;
  /** Whether search classes may be on elements (clearing them on a large graph is not free). */
  private searched = false;

  constructor(private readonly host: HostChannel) {
    this.cy = cytoscape({
      container: $('graph'),
      style: graphStyle(this.theme, false),
      layout: { name: 'preset' },
      boxSelectionEnabled: true,
      selectionType: 'additive',
      minZoom: 0.05,
      maxZoom: 6,
    });
    this.wireGraph();
    this.wireControls();
    // VS Code swaps body classes (vscode-light / vscode-dark / vscode-high-contrast) on theme change.
    new MutationObserver(() => this.restyle()).observe(document.body, { attributes: true, attributeFilter: ['class'] });
  }

  // --------------------------------------------------------------------------------------------- host

  handle(m: ToWebview): void {
    switch (m.type) {
      case 'setGraph':
        this.show(m.payload);
        break;
      case 'showMessage':
        this.showMessage(m.message);
        break;
      case 'focusNode':
        this.focusFeature(m.feature, m.position);
        break;
      case 'busy':
        $('busy').hidden = !m.busy;
        $('busy-label').textContent = m.busy ? m.label ?? 'Working…' : '';
        break;
      default:
        break;
    }
  }

  showMessage(message: string): void {
    const b = $('message');
    b.textContent = message;
    b.hidden = false;
    if (!this.graph) $('empty').hidden = true;
  }

  show(payload: GraphPayload): void {
    let graph: ViewGraph;
    try {
      graph = normalizeGraph(payload.graph);
    } catch (e) {
      this.showMessage(e instanceof GraphFormatError ? e.message : 'This graph cannot be shown.');
      return;
    }
    this.payload = payload;
    this.graph = graph;
    this.sentView = '';
    this.cards.clear();
    this.positions = this.fitted();
    const key = `${graph.slug}|${graph.nodes.length}|${graph.links.length}|${graph.prompt.length}`;
    const saved = this.host.api.getState() as ViewState | undefined;
    this.state =
      saved && saved.key === key
        ? saved
        : { key, threshold: 1, pinned: graph.pinnedIds, pinnedOnly: false, supernodes: graph.supernodes, search: '' };
    $('message').hidden = true;
    $('empty').hidden = true;
    $('title').textContent = payload.title;
    $('open-prompt').hidden = !payload.promptLink && payload.source !== 'file';
    $<HTMLInputElement>('threshold').value = String(this.state.threshold);
    (($('search') as unknown) as { value: string }).value = this.state.search;
    ($('pinned-only') as HTMLElement & { checked: boolean }).checked = this.state.pinnedOnly;
    this.clearDetails();
    const t0 = performance.now();
    this.rebuild(saved?.key === key && saved.zoom !== undefined ? { zoom: saved.zoom, pan: saved.pan! } : undefined);
    // Time to a painted graph (two frames: cytoscape draws on the next animation frame), for the bench.
    requestAnimationFrame(() => requestAnimationFrame(() => ($('summary').dataset.renderMs = (performance.now() - t0).toFixed(1))));
  }

  /**
   * Lays the graph out for the panel's shape: crowded cells wrap into fewer nodes per sub-row in a
   * narrow panel, then the layout is stretched toward the panel's aspect ratio.
   */
  private fitted(): Map<string, Point> {
    const g = this.graph!;
    const box = $('graph').getBoundingClientRect();
    this.fittedFor = `${Math.round(box.width / 40)}x${Math.round(box.height / 40)}`;
    const aspect = box.height > 0 ? box.width / box.height : 1.5;
    const maxPerRow = aspect < 0.8 ? 2 : aspect < 1.5 ? 4 : DEFAULT_LAYOUT.maxPerRow;
    this.layout = layeredLayout(g.nodes, g.nLayers, { ...DEFAULT_LAYOUT, maxPerRow }, g.promptTokens.length);
    const out = fitAspect(this.layout, box.width, box.height, 4);
    this.squeeze = spanX(out) / Math.max(1, spanX(this.layout));
    return out;
  }

  /** After the panel changes shape noticeably, lay the graph out for the new shape. */
  private onResize(): void {
    this.cy.resize();
    const box = $('graph').getBoundingClientRect();
    if (!this.graph || `${Math.round(box.width / 40)}x${Math.round(box.height / 40)}` === this.fittedFor) return;
    this.positions = this.fitted();
    this.cy.batch(() => this.cy.nodes().forEach((n) => {
      const p = this.positions.get(n.id());
      if (p) n.position(p);
    }));
    this.fitView();
  }

  /**
   * Fits the drawn nodes into the panel from their positions alone: cytoscape's own fit measures every
   * label's text, which takes seconds on a graph of thousands of nodes.
   */
  private fitView(pad = 24): void {
    let minX = Infinity, maxX = -Infinity, minY = Infinity, maxY = -Infinity;
    this.cy.nodes().forEach((n) => {
      if (n.isParent()) return;
      const p = n.position();
      minX = Math.min(minX, p.x);
      maxX = Math.max(maxX, p.x);
      minY = Math.min(minY, p.y);
      maxY = Math.max(maxY, p.y);
    });
    if (!Number.isFinite(minX)) return;
    // Room for node bodies and the labels under them.
    minX -= 30; maxX += 30; minY -= 14; maxY += 22;
    const w = this.cy.width(), h = this.cy.height();
    if (!(w > 0 && h > 0)) return;
    const zoom = Math.max(this.cy.minZoom(), Math.min(this.cy.maxZoom(), 2, (w - 2 * pad) / (maxX - minX), (h - 2 * pad) / (maxY - minY)));
    this.cy.viewport({ zoom, pan: { x: w / 2 - zoom * (minX + maxX) / 2, y: h / 2 - zoom * (minY + maxY) / 2 } });
  }

  /** Tells the host the pins and supernodes (so Save Graph writes them), when they changed. */
  private sentView = '';
  private sendViewState(): void {
    const s = this.state;
    if (!s || this.payload?.source !== 'analysis') return;
    const supernodes = s.supernodes.map((g) => [g.label, ...g.ids]);
    const key = JSON.stringify([s.pinned, supernodes]);
    if (key === this.sentView) return;
    this.sentView = key;
    this.host.post({ type: 'viewState', pinnedIds: [...s.pinned], supernodes });
  }

  private persist(): void {
    if (!this.state) return;
    this.sendViewState();
    this.state.zoom = this.cy.zoom();
    this.state.pan = { ...this.cy.pan() };
    this.host.api.setState(this.state);
  }

  // ------------------------------------------------------------------------------------------ drawing

  private rebuild(viewport?: { zoom: number; pan: Point }): void {
    const g = this.graph;
    const s = this.state;
    if (!g || !s) return;
    const pinned = new Set(s.pinned);
    const vis = visibleElements(g, s.threshold, pinned, s.pinnedOnly);
    const elements = toElements(g, this.positions, vis, pinned, s.supernodes);
    this.cy.batch(() => {
      this.cy.elements().remove();
      this.cy.add(elements);
    });
    if (viewport) this.cy.viewport(viewport);
    else this.fitView();
    this.applyStyle();
    this.applySearch();
    this.updateSummary(vis.nodes.size, vis.links.length);
    this.renderNodeList(vis.nodes);
    $('threshold-value').textContent = s.threshold.toFixed(2);
    this.persist();
  }

  private restyle(): void {
    this.theme = readTheme();
    this.applyStyle();
  }

  private get isLarge(): boolean {
    return this.cy.edges().length > LARGE_GRAPH || this.cy.nodes().length > LARGE_NODES;
  }

  private styledSize = 0;
  private styledCrowded = false;
  private applyStyle(): void {
    const zoom = this.cy.zoom();
    this.styledSize = labelSize(zoom);
    // Feature labels need about 40 screen pixels between neighbours to be read at all.
    const crowded = DEFAULT_LAYOUT.nodeSpacing * this.squeeze * zoom < 40;
    this.styledCrowded = crowded;
    this.cy.style(graphStyle(this.theme, this.isLarge, this.styledSize, nodeScale(zoom), this.isLarge || crowded));
  }

  /** After zooming, labels are resized to stay readable (small graphs only: restyling is not free). */
  private onZoomEnd(): void {
    const crowded = DEFAULT_LAYOUT.nodeSpacing * this.squeeze * this.cy.zoom() < 40;
    if (this.isLarge || (Math.abs(labelSize(this.cy.zoom()) - this.styledSize) < 0.5 && crowded === this.styledCrowded)) return;
    this.applyStyle();
  }

  private updateSummary(shownNodes: number, shownLinks: number): void {
    const g = this.graph!;
    const counts = { embedding: 0, feature: 0, error: 0, logit: 0 };
    this.cy.nodes().forEach((n) => {
      const k = n.data('kind') as keyof typeof counts;
      if (k in counts) counts[k]++;
    });
    const sum = $('summary');
    sum.textContent = `${shownNodes}/${g.nodes.length} nodes · ${shownLinks}/${g.links.length} links`;
    for (const [k, v] of Object.entries(counts)) sum.dataset[k] = String(v);
    sum.dataset.layout = this.fittedFor;
    sum.dataset.nodes = String(shownNodes);
    sum.dataset.links = String(shownLinks);
  }

  private renderNodeList(visible: Set<string>): void {
    const g = this.graph!;
    const list = $('node-list');
    clear(list);
    const rows = g.nodes
      .filter((n) => visible.has(n.id) && (n.kind === 'feature' || n.kind === 'logit'))
      .sort((a, b) => (a.kind === b.kind ? 0 : a.kind === 'logit' ? -1 : 1) || (a.influence ?? 1) - (b.influence ?? 1))
      .slice(0, 300);
    for (const n of rows) {
      const where = n.kind === 'feature' ? `L${n.layer} #${n.feature} @${n.ctx}` : `@${n.ctx}`;
      const row = el(
        'button',
        { class: `node-row ${n.kind}`, 'data-testid': 'node-row', 'data-node-id': n.id, 'data-kind': n.kind, type: 'button' },
        el('span', { class: 'node-row-label' }, n.label),
        el('span', { class: 'node-row-meta' }, where),
      );
      row.addEventListener('click', () => this.selectNode(n.id, true));
      list.append(row);
    }
    $('node-count').textContent = String(rows.length);
  }

  private applySearch(): void {
    const g = this.graph;
    const s = this.state;
    if (!g || !s) return;
    const hits = new Set(searchNodes(g, s.search));
    if (!s.search.trim() && !this.searched) return;
    this.searched = !!s.search.trim();
    this.cy.batch(() => {
      this.cy.elements().removeClass('match faded');
      if (!s.search.trim()) return;
      this.cy.nodes().forEach((n) => {
        if (hits.has(n.id())) n.addClass('match');
        else if (!n.isParent()) n.addClass('faded');
      });
      this.cy.edges().addClass('faded');
    });
    $('search-count').textContent = s.search.trim() ? `${hits.size} found` : '';
  }

  // ------------------------------------------------------------------------------------- interaction

  private wireGraph(): void {
    this.cy.on('mouseover', 'node', (ev) => this.showTooltip(ev.target as NodeSingular));
    this.cy.on('mouseout', 'node', () => this.hideTooltip());
    this.cy.on('viewport', () => {
      this.hideTooltip();
      this.persistSoon();
      clearTimeout(this.zoomTimer);
      this.zoomTimer = setTimeout(() => this.onZoomEnd(), 150);
    });
    this.cy.on('tap', 'node', (ev) => {
      const n = ev.target as NodeSingular;
      if (n.isParent()) return;
      this.onNodeClicked(n.id());
    });
    this.cy.on('tap', (ev) => {
      if (ev.target === this.cy) this.clearDetails();
    });
  }

  private persistTimer?: ReturnType<typeof setTimeout>;
  private zoomTimer?: ReturnType<typeof setTimeout>;
  private persistSoon(): void {
    clearTimeout(this.persistTimer);
    this.persistTimer = setTimeout(() => this.persist(), 300);
  }

  private nodeOf(id: string): ViewNode | undefined {
    return this.graph?.byId.get(id);
  }

  private cardFor(n: ViewNode): Promise<FeatureCard | undefined> {
    if (n.kind !== 'feature' || n.feature === undefined || !this.payload?.canIntervene) return Promise.resolve(undefined);
    const key = `${n.layer}:${n.feature}`;
    let p = this.cards.get(key);
    if (!p) {
      p = this.host
        .request<Extract<ToWebview, { type: 'featureCard' }>>({ type: 'requestFeatureCard', feature: { layer: n.layer, feature: n.feature } })
        .then((r) => r.card);
      this.cards.set(key, p);
    }
    return p;
  }

  private showTooltip(n: NodeSingular): void {
    const node = this.nodeOf(n.id());
    const tip = $('tooltip');
    if (!node) return;
    const token = ++this.hoverToken;
    const draw = (card?: FeatureCard) => {
      if (token !== this.hoverToken) return;
      clear(tip);
      tip.append(renderCard(node, card, true));
      const p = n.renderedPosition();
      const box = $('graph').getBoundingClientRect();
      tip.hidden = false;
      const w = tip.offsetWidth;
      const h = tip.offsetHeight;
      tip.style.left = `${Math.max(4, Math.min(box.width - w - 4, p.x + 12))}px`;
      tip.style.top = `${Math.max(4, p.y + h + 16 > box.height ? p.y - h - 12 : p.y + 12)}px`;
    };
    draw();
    void this.cardFor(node).then((c) => c && draw(c));
    // Highlight the hovered node's edges.
    this.cy.edges('.hl').removeClass('hl');
    n.connectedEdges().addClass('hl');
  }

  private hideTooltip(): void {
    this.hoverToken++;
    $('tooltip').hidden = true;
    this.cy.edges('.hl').removeClass('hl');
  }

  private onNodeClicked(id: string): void {
    const node = this.nodeOf(id);
    if (!node) return;
    this.showDetails(node);
    if (node.kind === 'feature' && node.feature !== undefined) {
      this.host.post({ type: 'focusFeature', feature: { layer: node.layer, feature: node.feature }, nodeId: node.id });
    }
  }

  /** Selects one node (as a click would) and brings it into view. */
  private selectNode(id: string, notifyHost: boolean): void {
    const n = this.cy.getElementById(id);
    if (n.empty()) return;
    this.cy.nodes(':selected').unselect();
    n.select();
    this.cy.animate({ center: { eles: n }, duration: 200 });
    if (notifyHost) this.onNodeClicked(id);
    else {
      const node = this.nodeOf(id);
      if (node) this.showDetails(node);
    }
  }

  /** Host asked to focus a feature (from a hover link): select its node at that position, or any. */
  private focusFeature(f: FeatureRef, position?: number): void {
    const g = this.graph;
    if (!g) return;
    const matches = g.nodes.filter((n) => n.kind === 'feature' && n.layer === f.layer && n.feature === f.feature);
    const best = matches.find((n) => n.ctx === position) ?? matches[0];
    if (!best) {
      this.showMessage(`Feature L${f.layer} #${f.feature} is not in the pruned graph.`);
      return;
    }
    $('message').hidden = true;
    if (this.cy.getElementById(best.id).empty() && this.state) {
      // Pruned away at the current threshold: pin it so it shows.
      this.state.pinned = [...new Set([...this.state.pinned, best.id])];
      this.rebuild({ zoom: this.cy.zoom(), pan: this.cy.pan() });
    }
    this.selectNode(best.id, false);
  }

  private clearDetails(): void {
    this.selectedFeatureNode = undefined;
    clear($('card'));
    $('card').append(el('div', { class: 'hint' }, 'Hover a node for its card; click a feature to light up its tokens and to steer it (/ searches, Esc clears).'));
    $('steer').hidden = true;
    clear($('predictions'));
  }

  private showDetails(node: ViewNode): void {
    const card = $('card');
    clear(card);
    card.append(renderCard(node, undefined, false));
    void this.cardFor(node).then((c) => {
      if (c && this.cy.getElementById(node.id).selected()) {
        clear(card);
        card.append(renderCard(node, c, false));
      }
    });
    this.selectedFeatureNode = node.kind === 'feature' ? node : undefined;
    $('steer').hidden = !(node.kind === 'feature' && this.payload?.canIntervene);
    clear($('predictions'));
  }

  /** Steer/ablate every selected feature node, each at its own token position. */
  private async intervene(mode: 'ablate' | 'scale'): Promise<void> {
    const selected = this.cy
      .nodes(':selected')
      .map((n) => this.nodeOf(n.id()))
      .filter((n): n is ViewNode => !!n && n.kind === 'feature' && n.feature !== undefined);
    if (!selected.length && this.selectedFeatureNode) selected.push(this.selectedFeatureNode);
    if (!selected.length) return;
    const factor = Number((($('steer-value') as unknown) as { value: string }).value);
    if (mode === 'scale' && !Number.isFinite(factor)) {
      this.showPredictionsError('Enter a number to scale the feature by.');
      return;
    }
    const interventions: InterventionSpec[] = selected.map((n) => ({
      layer: n.layer,
      feature: n.feature!,
      mode,
      ...(mode === 'scale' ? { value: factor } : {}),
      positions: [n.ctx],
    }));
    const out = $('predictions');
    clear(out);
    out.append(el('div', { class: 'hint' }, 'Running…'));
    const r = await this.host.request<Extract<ToWebview, { type: 'interventionResult' }>>({ type: 'intervene', interventions });
    clear(out);
    if (r.error || !r.outcome) {
      this.showPredictionsError(r.error ?? 'The intervention failed.');
      return;
    }
    const what = mode === 'ablate' ? 'Ablated' : `Scaled ×${fmt(factor, 2)}`;
    out.append(el('div', { class: 'card-section' }, `${what}: ${selected.map((n) => n.label).join(', ')}`), renderPredictions(r.outcome.before, r.outcome.after));
    // The details pane scrolls on its own: bring the result into it when the user had scrolled away.
    out.scrollIntoView({ block: 'nearest' });
  }

  private showPredictionsError(msg: string): void {
    const out = $('predictions');
    clear(out);
    out.append(el('div', { class: 'error', 'data-testid': 'steer-error' }, msg));
  }

  private togglePins(): void {
    const s = this.state;
    if (!s) return;
    const ids = this.cy.nodes(':selected').filter((n) => !n.isParent()).map((n) => n.id());
    if (!ids.length) return;
    const pinned = new Set(s.pinned);
    const allPinned = ids.every((id) => pinned.has(id));
    for (const id of ids) allPinned ? pinned.delete(id) : pinned.add(id);
    s.pinned = [...pinned];
    this.rebuild({ zoom: this.cy.zoom(), pan: this.cy.pan() });
    for (const id of ids) this.cy.getElementById(id).select();
  }

  private group(label: string): void {
    const s = this.state;
    if (!s) return;
    const ids = this.cy.nodes(':selected').filter((n) => !n.isParent()).map((n) => n.id());
    if (ids.length < 1) return;
    // A node belongs to at most one supernode: take the members out of their old groups.
    const taken = new Set(ids);
    s.supernodes = s.supernodes.map((g) => ({ ...g, ids: g.ids.filter((id) => !taken.has(id)) })).filter((g) => g.ids.length > 0);
    s.supernodes.push({ label: label.trim() || `group ${s.supernodes.length + 1}`, ids });
    this.rebuild({ zoom: this.cy.zoom(), pan: this.cy.pan() });
  }

  private ungroup(): void {
    const s = this.state;
    if (!s) return;
    const sel = new Set(this.cy.nodes(':selected').map((n) => (n.isParent() ? n.children().map((c) => c.id()) : [n.id()])).flat());
    s.supernodes = s.supernodes.filter((g) => !g.ids.some((id) => sel.has(id)));
    this.rebuild({ zoom: this.cy.zoom(), pan: this.cy.pan() });
  }

  private svgScene(): SvgScene {
    const t = this.theme;
    const nodes = this.cy.nodes().filter((n: NodeSingular) => !n.isParent() && n.data('kind') in NODE_SHAPE).map((n: NodeSingular) => {
      const kind = n.data('kind') as keyof typeof NODE_SHAPE;
      const p = n.position();
      return { x: p.x, y: p.y, w: NODE_SIZE[kind][0], h: NODE_SIZE[kind][1], shape: NODE_SHAPE[kind], fill: t[kind], stroke: t.background, label: String(n.data('label') ?? '') };
    });
    const edges = this.cy.edges().map((e) => {
      const s = e.source().position();
      const d = e.target().position();
      return { x1: s.x, y1: s.y, x2: d.x, y2: d.y, color: e.hasClass('pos') ? t.positive : t.negative, width: Number(e.data('width')) };
    });
    return { nodes, edges, background: t.background, foreground: t.foreground, fontFamily: t.fontFamily };
  }

  private async exportAs(format: 'png' | 'svg' | 'json'): Promise<void> {
    if (!this.graph || !this.payload || !this.state) return;
    let data: string;
    if (format === 'png') data = this.cy.png({ output: 'base64', full: true, scale: 2, bg: this.theme.background });
    else if (format === 'svg') data = sceneToSvg(this.svgScene());
    else data = JSON.stringify(withViewState(this.payload.graph, this.state.pinned, this.state.supernodes), null, 1);
    const r = await this.host.request<Extract<ToWebview, { type: 'exportDone' }>>({ type: 'export', format, data });
    if (r.error) this.showMessage(r.error);
  }

  private wireControls(): void {
    const threshold = $<HTMLInputElement>('threshold');
    threshold.addEventListener('input', () => {
      if (!this.state) return;
      this.state.threshold = Number(threshold.value);
      $('threshold-value').textContent = this.state.threshold.toFixed(2);
    });
    threshold.addEventListener('change', () => this.rebuild({ zoom: this.cy.zoom(), pan: this.cy.pan() }));
    const search = $('search') as unknown as HTMLElement & { value: string };
    search.addEventListener('input', () => {
      if (!this.state) return;
      this.state.search = search.value;
      this.applySearch();
      this.persist();
    });
    search.addEventListener('keydown', (ev) => {
      if ((ev as KeyboardEvent).key !== 'Enter' || !this.graph || !this.state) return;
      const first = searchNodes(this.graph, this.state.search).find((id) => !this.cy.getElementById(id).empty());
      if (first) this.selectNode(first, true);
    });
    $('pin').addEventListener('click', () => this.togglePins());
    // A toggleable toolbar button flips its own `checked` before the click reaches this listener.
    const pinnedOnly = $('pinned-only') as HTMLElement & { checked: boolean };
    pinnedOnly.addEventListener('click', () => {
      if (!this.state) return;
      this.state.pinnedOnly = pinnedOnly.checked;
      this.rebuild();
    });
    $('group').addEventListener('click', () => {
      $('group-form').hidden = false;
      ($('group-label') as HTMLElement).focus();
    });
    const doGroup = () => {
      const f = $('group-label') as unknown as { value: string };
      this.group(f.value);
      f.value = '';
      $('group-form').hidden = true;
    };
    $('group-ok').addEventListener('click', doGroup);
    $('group-label').addEventListener('keydown', (ev) => (ev as KeyboardEvent).key === 'Enter' && doGroup());
    $('group-cancel').addEventListener('click', () => ($('group-form').hidden = true));
    $('ungroup').addEventListener('click', () => this.ungroup());
    $('fit').addEventListener('click', () => this.fitView());
    $('export-png').addEventListener('click', () => void this.exportAs('png'));
    $('export-svg').addEventListener('click', () => void this.exportAs('svg'));
    $('export-json').addEventListener('click', () => void this.exportAs('json'));
    $('open-prompt').addEventListener('click', () => this.host.post({ type: 'openPrompt' }));
    $('steer-btn').addEventListener('click', () => void this.intervene('scale'));
    $('ablate-btn').addEventListener('click', () => void this.intervene('ablate'));
    // Keyboard: "/" searches, Escape clears the selection, "f" fits the graph (not while typing).
    document.addEventListener('keydown', (ev) => {
      const typing = (ev.target as HTMLElement | null)?.closest('vscode-textfield, input, textarea');
      if (ev.key === 'Escape') {
        this.cy.nodes(':selected').unselect();
        this.clearDetails();
      } else if (!typing && ev.key === '/') {
        ev.preventDefault();
        search.focus();
      } else if (!typing && ev.key === 'f') this.fitView();
    });
    attachSplitter($('splitter'), $('graph'), $('details'));
    // The details pane grows and shrinks with its content: keep cytoscape's canvas the container's size.
    new ResizeObserver(() => this.onResize()).observe($('graph'));
  }
}

let viewer: Viewer | undefined;
const early: ToWebview[] = [];
const channel = new HostChannel((m) => (viewer ? viewer.handle(m) : early.push(m)));
viewer = new Viewer(channel);
for (const m of early.splice(0)) viewer.handle(m);
void channel.request<Extract<ToWebview, { type: 'init' }>>({ type: 'ready' }).then((r) => {
  if (r.state.payload) viewer!.show(r.state.payload);
  else if (r.state.message) viewer!.showMessage(r.state.message);
});
window.addEventListener('error', (ev) => channel.post({ type: 'log', level: 'error', message: String(ev.message) }));
