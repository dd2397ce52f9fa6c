/**
 * Why a head attends where it does, for the selected node (QK attribution, src/engine/attention/qk.ts):
 * the head's pre-softmax score from the node's position to a key position, split into query-side ×
 * key-side source pairs, each side's sources against the whole other side, and the constant terms;
 * for soft-capped models (Gemma-2) the cap's factor. Computed on request in the worker from the kept
 * attribution. Shown for nodes with incoming edges from other positions (they travel through attention
 * heads); the head is the one carrying the strongest such edge, and the picker lists every head that
 * carries the node's cross-position edges.
 */
import type { QkSourceView, QkView } from '../../src/shared/protocol';
import { clear, el, fmt } from '../dom';
import type { ViewGraph, ViewNode } from '../graph-model';
import { percent } from '../heads';
import type { DetailsContext, DetailsSection } from './section';

type HeadRef = { layer: number; head: number };

const inputsCache = new WeakMap<ViewGraph, Map<string, { count: number; head?: HeadRef }>>();

/**
 * The node's incoming edges from other positions in the graph, and the largest head of the strongest
 * one (when the graph carries head loadings).
 */
export function crossPositionInputs(graph: ViewGraph, node: ViewNode): { count: number; head?: HeadRef } {
  let byNode = inputsCache.get(graph);
  if (!byNode) inputsCache.set(graph, (byNode = new Map()));
  const hit = byNode.get(node.id);
  if (hit) return hit;
  let count = 0;
  let best: { weight: number; head?: HeadRef } | undefined;
  for (const l of graph.links) {
    if (l.target !== node.id) continue;
    const src = graph.byId.get(l.source);
    if (!src || src.ctx === node.ctx) continue;
    count++;
    if (!best || Math.abs(l.weight) > Math.abs(best.weight)) best = { weight: l.weight, ...(l.heads?.length ? { head: { layer: l.heads[0].layer, head: l.heads[0].head } } : {}) };
  }
  const out = { count, ...(best?.head ? { head: best.head } : {}) };
  byNode.set(node.id, out);
  return out;
}

/** The head the user picked per node, kept while they click from node to node. */
const picked = new Map<string, HeadRef>();

const headName = (h: HeadRef) => `L${h.layer}.H${h.head}`;
const signed = (x: number) => `${x >= 0 ? '+' : '−'}${fmt(Math.abs(x), 3)}`;

/** A source's name: a link that selects it when it is a node of the graph, plain text otherwise. */
function source(c: DetailsContext, s: Omit<QkSourceView, 'value'>): HTMLElement {
  if (c.graph.byId.has(s.id)) {
    const b = el('button', { class: 'link qk-src', type: 'button', title: `${s.label} (select)`, 'data-node-id': s.id }, s.label);
    b.addEventListener('click', () => c.actions.select(s.id));
    return b;
  }
  return el('span', { class: 'qk-src', title: s.label, 'data-node-id': s.id }, s.label);
}

function row(cls: string, value: number, testid: string, ...cells: HTMLElement[]): HTMLElement {
  return el('div', { class: `qk-row ${cls} ${value >= 0 ? 'pos' : 'neg'}`, 'data-testid': testid, 'data-value': String(value) }, el('span', { class: 'qk-val' }, signed(value)), ...cells);
}

export function renderQk(c: DetailsContext, q: QkView, pick: (h: HeadRef) => void): HTMLElement {
  const box = el('div', { class: 'qk', 'data-testid': 'qk-result', 'data-head': headName(q) });
  // The head picker: every head carrying the node's cross-position edges, with its share of them.
  const heads = q.heads.some((h) => h.layer === q.layer && h.head === q.head) ? q.heads : [{ layer: q.layer, head: q.head, share: NaN }, ...q.heads];
  const select = el('select', { class: 'qk-select', 'aria-label': 'Attention head', 'data-testid': 'qk-head' });
  for (const h of heads) {
    const opt = el('option', { value: `${h.layer}.${h.head}` }, `${headName(h)}${Number.isFinite(h.share) ? ` · ${percent(h.share)} of its cross-position edges` : ''}`);
    if (h.layer === q.layer && h.head === q.head) opt.setAttribute('selected', '');
    select.append(opt);
  }
  select.addEventListener('change', () => {
    const [layer, head] = select.value.split('.').map(Number);
    pick({ layer, head });
  });
  box.append(el('div', { class: 'qk-head' }, el('label', {}, 'head ', select)));
  const tok = (t: string, p: number) => `${JSON.stringify(t)}@${p}`;
  box.append(
    el('div', { class: 'card-meta', 'data-testid': 'qk-summary' }, `${headName(q)}${q.kvHead !== q.head ? ` (key/value head ${q.kvHead})` : ''}: query ${tok(q.queryToken, q.query)} → key ${tok(q.keyToken, q.key)} · attention weight ${fmt(q.pattern)}`),
  );
  const t = q.terms;
  box.append(
    el('div', { class: 'qk-score', 'data-testid': 'qk-score', 'data-score': String(q.scorePre) }, `score ${fmt(q.scorePre)}${q.softcap !== undefined ? ' (before the soft-cap)' : ''} = scale ${fmt(q.scale, 4)} × q·k`),
    el(
      'div',
      { class: 'qk-terms', 'data-testid': 'qk-terms' },
      el('span', {}, `pairs ${signed(t.pairwise)}`),
      el('span', {}, `query × key bias ${signed(t.queryOnly)}`),
      el('span', {}, `query bias × key ${signed(t.keyOnly)}`),
      el('span', {}, `bias × bias ${signed(t.biasBias)}`),
    ),
  );
  if (q.softcap !== undefined) {
    box.append(el('div', { class: 'card-meta', 'data-testid': 'qk-cap' }, `soft-cap ${q.softcap}: ${q.softcap}·tanh(score/${q.softcap}) = ${fmt(q.score)}, factor ${fmt(q.capFactor, 4)}`));
  }
  box.append(el('div', { class: 'hint qk-chosen' }, q.chosen));

  const pairs = el('div', { class: 'qk-list', 'data-testid': 'qk-pairs' }, el('div', { class: 'qk-row pair qk-header' }, el('span', { class: 'qk-val' }, 'term'), el('span', {}, 'query side'), el('span', {}, '× key side')));
  for (const p of q.pairs) pairs.append(row('pair', p.value, 'qk-pair', source(c, p.query), source(c, p.key)));
  const side = (title: string, list: QkSourceView[], testid: string) => {
    const d = el('div', { class: 'qk-list', 'data-testid': testid }, el('div', { class: 'card-section' }, title));
    for (const s of list) d.append(row('single', s.value, `${testid}-row`, source(c, s)));
    return d;
  };
  box.append(
    el('div', { class: 'card-section' }, 'Top query × key pairs'),
    pairs,
    side('Query side (each against the whole key)', q.queryMarginal, 'qk-query'),
    side('Key side (each against the whole query)', q.keyMarginal, 'qk-key'),
  );
  return box;
}

export const qkSection: DetailsSection = {
  id: 'qk',
  key(c) {
    const n = c.focus?.node;
    if (!c.payload.canTraceQk || !n || (n.kind !== 'feature' && n.kind !== 'logit')) return '';
    const inputs = crossPositionInputs(c.graph, n);
    return inputs.count ? `${n.id}|${inputs.head ? headName(inputs.head) : ''}` : '';
  },
  render(c) {
    const n = c.focus!.node!;
    const d = el('details', { class: 'card-fold', open: '', 'data-testid': 'qk' }, el('summary', { class: 'card-section' }, 'Attention: why the head attends here'));
    const body = el('div', { 'data-testid': 'qk-body' });
    d.append(body);
    let asked = 0;
    const load = async (head?: HeadRef) => {
      const mine = ++asked;
      clear(body);
      body.append(el('div', { class: 'hint', 'data-testid': 'qk-loading' }, `Tracing ${head ? headName(head) : 'the head'}'s attention score…`));
      const r = await c.host.request({ type: 'requestQk', nodeId: n.id, ...(head ? { head } : {}) });
      if (!c.isCurrent() || mine !== asked) return;
      clear(body);
      if (r.error || !r.qk) {
        body.append(el('div', { class: 'error', 'data-testid': 'qk-error' }, r.error ?? 'The QK attribution failed.'));
        if (head) {
          const back = el('button', { class: 'link', type: 'button' }, 'Use the default head');
          back.addEventListener('click', () => {
            picked.delete(n.id);
            void load(undefined);
          });
          body.append(back);
        }
        return;
      }
      body.append(
        renderQk(c, r.qk, (h) => {
          picked.set(n.id, h);
          void load(h);
        }),
      );
    };
    void load(picked.get(n.id) ?? crossPositionInputs(c.graph, n).head);
    return d;
  },
};
