/**
 * Verify: the graph's predicted effect of ablating a node (a selection, the pinned subgraph, the top
 * nodes) next to the effect measured in the model, per target logit — a table and a scatter — under a
 * named setting (attention, norms: frozen or recomputed) the user can change, and, for the pinned
 * subgraph, its faithfulness (the fraction of each target logit it recovers, errors kept and ablated).
 * The run is the worker's (progress and Cancel here); nodes whose measured effect contradicts the graph
 * are flagged here and marked on the graph.
 */
import type { FeatureAt } from '../../src/shared/protocol';
import { el, fmt } from '../dom';
import type { ViewNode } from '../graph-model';
import { renderScatter, type ScatterPoint } from '../scatter';
import type { SceneNode } from '../scene';
import { semanticsNote, type Semantics, type VerifiedItem, type VerifyItem } from '../verify-runs';
import type { DetailsContext, DetailsSection } from './section';

const TOP = 10;

const at = (n: ViewNode): FeatureAt => ({ layer: n.layer, feature: n.feature!, position: n.ctx });
const isFeature = (n: ViewNode | undefined): n is ViewNode => !!n && n.kind === 'feature' && n.feature !== undefined;
export const nodeName = (n: ViewNode) => `L${n.layer}#${n.feature}@${n.ctx}`;

/** A scene node as one thing to verify: a feature, or a supernode's feature members ablated together. */
function itemOf(c: DetailsContext, s: SceneNode): VerifyItem | undefined {
  if (s.node) return isFeature(s.node) ? { sceneId: s.id, name: nodeName(s.node), features: [at(s.node)] } : undefined;
  const members = (s.members ?? []).map((id) => c.graph.byId.get(id)).filter(isFeature);
  return members.length ? { sceneId: s.id, name: s.label, features: members.map(at) } : undefined;
}

function selectedItems(c: DetailsContext): VerifyItem[] {
  return c.selection.map((s) => itemOf(c, s)).filter((x): x is VerifyItem => !!x);
}

/** The pinned features (groups' members included), each verified alone; together they are the subgraph kept. */
function pinnedFeatures(c: DetailsContext): ViewNode[] {
  const ids = new Set([...c.state.pinned, ...c.state.supernodes.flatMap((g) => g.ids)]);
  return [...ids].map((id) => c.graph.byId.get(id)).filter(isFeature);
}

function topItems(c: DetailsContext): VerifyItem[] {
  return c.scene.nodes
    .filter((s) => s.kind === 'feature' && isFeature(s.node))
    .sort((a, b) => a.rank - b.rank)
    .slice(0, TOP)
    .map((s) => ({ sceneId: s.id, name: nodeName(s.node!), features: [at(s.node!)] }));
}

const signed = (x: number) => `${x >= 0 ? '+' : '−'}${fmt(Math.abs(x), 3)}`;

function select(name: string, current: string, testid: string, onChange: (v: 'frozen' | 'recomputed') => void): HTMLSelectElement {
  const s = el('select', { 'aria-label': name, 'data-testid': testid });
  for (const o of ['frozen', 'recomputed']) {
    const opt = el('option', { value: o }, o);
    if (o === current) opt.setAttribute('selected', '');
    s.append(opt);
  }
  s.addEventListener('change', () => onChange(s.value as 'frozen' | 'recomputed'));
  return s;
}

/** One table per target logit: node, predicted, measured, flag. */
function effectTables(c: DetailsContext, items: VerifiedItem[], reason: string): HTMLElement {
  const box = el('div', { class: 'verify-tables' });
  const targets = items[0]?.group.effects ?? [];
  targets.forEach((t, j) => {
    const table = el('table', { class: 'predictions verify-table', 'data-testid': 'verify-table', 'data-token': t.token });
    table.append(el('caption', {}, `${JSON.stringify(t.token)} (p = ${fmt(t.probability, 3)}): Δ logit when ablated`));
    table.append(el('tr', {}, el('th', {}, 'Node'), el('th', {}, 'Predicted'), el('th', {}, 'Measured'), el('th', { title: 'Flagged: the measured effect differs in sign or by more than 2× from the prediction' }, 'Flag')));
    for (const it of items) {
      const e = it.group.effects[j];
      const label = it.group.features.length === 1 ? it.group.features[0].label : undefined;
      // The short name always shows (a narrow panel has room for little else); the label is its title.
      const name = el('button', { class: 'link', type: 'button', title: label ? `${it.name} ${label}` : it.name }, it.name);
      if (it.sceneId) name.addEventListener('click', () => c.actions.select(it.sceneId!));
      else name.disabled = true;
      const row = el(
        'tr',
        { 'data-testid': 'verify-row', 'data-name': it.name, ...(it.sceneId ? { 'data-node-id': it.sceneId } : {}), 'data-token': e.token, 'data-predicted': String(e.predicted), 'data-measured': String(e.measured), 'data-flagged': String(e.flagged), class: e.flagged ? 'flagged' : '' },
        el('td', { class: 'verify-node' }, name),
        el('td', { class: 'num' }, signed(e.predicted)),
        el('td', { class: `num ${e.measured < 0 ? 'neg' : 'pos'}` }, signed(e.measured)),
        el('td', { class: 'verify-flag', ...(e.flagged ? { title: reason, 'aria-label': 'contradicts the graph' } : {}) }, e.flagged ? '⚠' : ''),
      );
      table.append(row);
    }
    box.append(table);
  });
  return box;
}

function faithfulnessTable(f: NonNullable<VerifiedReport['faithfulness']>): HTMLElement {
  const box = el('div', { class: 'card-section', 'data-testid': 'verify-faithfulness' });
  box.append(el('div', {}, `Subgraph faithfulness: ${f.kept} of ${f.active} active features kept, every other one ablated`));
  const t = el('table', { class: 'predictions' });
  t.append(el('tr', {}, el('th', {}, 'Target'), el('th', {}, 'Errors kept'), el('th', {}, 'Errors ablated')));
  f.errorsKept.forEach((k, j) => {
    const a = f.errorsAblated[j];
    t.append(
      el(
        'tr',
        { 'data-testid': 'verify-faithfulness-row', 'data-token': k.token, 'data-errors-kept': String(k.recovered), 'data-errors-ablated': String(a.recovered) },
        el('td', { class: 'tokcell' }, JSON.stringify(k.token)),
        el('td', { class: 'num', title: `logit ${fmt(k.kept, 3)} of ${fmt(k.model, 3)} (none kept: ${fmt(k.none, 3)})` }, `${(k.recovered * 100).toFixed(1)}%`),
        el('td', { class: 'num', title: `logit ${fmt(a.kept, 3)} of ${fmt(a.model, 3)} (none kept: ${fmt(a.none, 3)})` }, `${(a.recovered * 100).toFixed(1)}%`),
      ),
    );
  });
  box.append(t, el('div', { class: 'hint' }, 'Fraction of each target logit the subgraph recovers: (kept − none) / (model − none). Errors kept: each MLP keeps what its features miss; ablated: only the kept features write.'));
  return box;
}

type VerifiedReport = NonNullable<DetailsContext['verify']['result']>['report'];

function scatterPoints(items: VerifiedItem[]): ScatterPoint[] {
  return items.flatMap((it) =>
    it.group.effects.map((e) => ({
      predicted: e.predicted,
      measured: e.measured,
      flagged: e.flagged,
      name: it.name,
      title: `${it.name} → ${JSON.stringify(e.token)}: predicted ${signed(e.predicted)}, measured ${signed(e.measured)}`,
    })),
  );
}

export const verifySection: DetailsSection = {
  id: 'verify',
  key: (c) => (c.payload.canIntervene ? `${c.verify.version}|${c.selection.map((n) => n.id).join(',')}|${c.state.pinned.join(',')}|${c.sceneVersion}` : ''),
  render(c) {
    const v = c.verify;
    const d = el('details', { class: 'card-fold verify-section', open: '', 'data-testid': 'verify-section' }, el('summary', { class: 'card-section' }, 'Verify against the model'));
    const selected = selectedItems(c);
    const pinned = pinnedFeatures(c);
    const buttons = el('div', { class: 'steer verify-actions' });
    const button = (label: string, testid: string, secondary: boolean, go: () => void) => {
      const b = el('vscode-button' as 'button', { 'data-testid': testid, ...(secondary ? { secondary: '' } : {}) }, label);
      b.addEventListener('click', go);
      buttons.append(b);
    };
    if (selected.length) button(selected.length === 1 ? 'Verify node' : `Verify ${selected.length} nodes`, 'verify-nodes', false, () => void v.run(c.host, selected, selected.length === 1 ? selected[0].name : `${selected.length} selected nodes`));
    if (selected.length > 1) {
      const together = { name: `${selected.length} nodes together`, features: selected.flatMap((s) => s.features) };
      button('Together', 'verify-together', true, () => void v.run(c.host, [together], 'the selection ablated together'));
    }
    if (pinned.length) {
      const items = pinned.map((n) => ({ sceneId: n.id, name: nodeName(n), features: [at(n)] }));
      button(`Pinned subgraph (${pinned.length})`, 'verify-subgraph', true, () => void v.run(c.host, items, `the pinned subgraph (${pinned.length} features)`, items.map((i) => i.features[0])));
    }
    // The graph's own ranking over the features in view: a feature the threshold hides is not verified
    // here (circuit-inspector verify --top ranks every feature of the graph), so the label says so.
    button(`Top ${TOP} in view`, 'verify-top', !!selected.length, () => {
      const items = topItems(c);
      void v.run(c.host, items, `the ${items.length} most influential features in view`);
    });

    const setSem = (change: Partial<Semantics>) => v.setSemantics({ ...v.semantics, ...change });
    const options = el(
      'div',
      { class: 'steer-options' },
      el('label', {}, 'attention ', select('Attention', v.semantics.attention, 'verify-attention', (x) => setSem({ attention: x }))),
      el('label', {}, ' norms ', select('Norms', v.semantics.norms, 'verify-norms', (x) => setSem({ norms: x }))),
      el('span', { class: 'hint' }, ` ${semanticsNote(v.semantics)}`),
    );
    d.append(buttons, options);

    const out = el('div', { class: 'verify-out', 'data-testid': 'verify-out' });
    if (v.running) {
      const pct = v.running.fraction === undefined ? undefined : Math.round(v.running.fraction * 100);
      const cancel = el('vscode-button' as 'button', { secondary: '', 'data-testid': 'verify-cancel' }, 'Cancel');
      cancel.addEventListener('click', () => v.cancel());
      const bar = el('progress', { max: '100', 'aria-label': 'Verify progress', ...(pct === undefined ? {} : { value: String(pct) }) });
      out.append(el('div', { class: 'verify-progress', 'data-testid': 'verify-progress' }, el('span', {}, `Verifying ${v.running.what}: ${v.running.stage}${pct === undefined ? '' : ` (${pct}%)`}`), bar, cancel));
    }
    if (v.error) out.append(el('div', { class: 'error', 'data-testid': 'verify-error' }, v.error));
    const r = v.result;
    if (r) {
      const nFlagged = r.items.filter((i) => i.group.flagged).length;
      out.append(
        el('div', { class: 'card-section', 'data-testid': 'verify-summary' }, `${r.what}: ${nFlagged ? `⚠ ${nFlagged} of ${r.items.length} contradict the graph` : `none of ${r.items.length} contradicts the graph`}`),
        el('div', { class: 'hint', 'data-testid': 'verify-setting' }, `Measured with ${r.report.setting}. Predicted: the graph's linear propagation of the ablation along its edges.`),
      );
      if (nFlagged) out.append(el('div', { class: 'hint verify-reason' }, `⚠ ${r.report.reason}`));
      out.append(effectTables(c, r.items, r.report.reason));
      const plot = el('div', { class: 'verify-plot' });
      plot.append(renderScatter(scatterPoints(r.items)));
      out.append(plot);
      if (r.report.faithfulness) out.append(faithfulnessTable(r.report.faithfulness));
    } else if (!v.running && !v.error) {
      out.append(el('div', { class: 'hint' }, `Ablate a node in the model and compare with what the graph predicts. Select nodes (Shift-click for several), pin a subgraph, or verify the top ${TOP}.`));
    }
    d.append(out);
    return d;
  },
};

/** The flagged verdict as tooltip lines (the canvas's hover). */
export function verdictLines(v: VerifiedItem, setting: string): { warn: boolean; lines: string[] } {
  return {
    warn: v.group.flagged,
    lines: v.group.effects.map((e) => `${JSON.stringify(e.token)}: predicted ${signed(e.predicted)}, measured ${signed(e.measured)}${e.flagged ? ' ⚠' : ''}`).concat(`(${setting})`),
  };
}
