/**
 * Steering and ablation of the selected features, with the answer tracked: for the graph's target
 * logits and any token the user adds, logit and probability before and after and the change (the logit
 * change stays readable where probabilities saturate at 0 or 1); positions chosen; the setting
 * (attention, norms) chosen and named in the result; N tokens generated with the intervention. Inputs
 * are checked before anything runs: an empty value never steers by ×0.
 */
import type { InterveneOptionsView, InterventionOutcome, InterventionSpec, TrackedTokenView } from '../../src/shared/protocol';
import { renderPredictions } from '../card';
import { clear, el, fmt } from '../dom';
import type { ViewNode } from '../graph-model';
import type { DetailsContext, DetailsSection } from './section';

/** What the user typed last, kept while they click from feature to feature. */
const kept = { value: '2', positions: '', track: '', generate: '0', attention: 'frozen', norms: 'recomputed' };

function targets(c: DetailsContext): ViewNode[] {
  const ids = new Set(c.selection.flatMap((n) => n.members ?? [n.id]));
  return [...ids].map((id) => c.graph.byId.get(id)).filter((n): n is ViewNode => !!n && n.kind === 'feature' && n.feature !== undefined);
}

/** The graph's target logits' token ids. */
function targetIds(c: DetailsContext): number[] {
  return c.payload.graph.nodes.filter((n) => n.is_target_logit && typeof n.feature === 'number').map((n) => n.feature as number);
}

/** Parses the inputs; a string is the message to show instead of running. */
export function parseSteerInputs(mode: 'ablate' | 'scale' | 'set', v: typeof kept): { value?: number; positions?: number[] | '*'; track: string[]; generate: number; semantics: { attention: 'frozen' | 'recomputed'; norms: 'frozen' | 'recomputed' } } | string {
  let value: number | undefined;
  if (mode !== 'ablate') {
    if (!v.value.trim()) return mode === 'scale' ? 'Enter a factor to scale the feature by.' : 'Enter the activation to set.';
    value = Number(v.value);
    if (!Number.isFinite(value)) return `"${v.value}" is not a number.`;
  }
  let positions: number[] | '*' | undefined;
  const p = v.positions.trim();
  if (p === '*') positions = '*';
  else if (p) {
    const ps = p.split(/[\s,]+/).filter(Boolean).map(Number);
    if (ps.some((x) => !Number.isInteger(x) || x < 0)) return `Positions are token indices (0, 1, …) separated by commas, or * for every position where the feature is active.`;
    positions = ps;
  }
  const generate = v.generate.trim() ? Number(v.generate) : 0;
  if (!Number.isInteger(generate) || generate < 0 || generate > 64) return 'Generate: a whole number of tokens from 0 to 64.';
  if (v.norms === 'frozen' && v.attention === 'recomputed') return 'Frozen norms need frozen attention.';
  const track = v.track.split(',').map((t) => t.trim()).filter(Boolean);
  return { value, positions, track, generate, semantics: { attention: v.attention as 'frozen' | 'recomputed', norms: v.norms as 'frozen' | 'recomputed' } };
}

/** A probability that reads honestly near 0 and 1. */
function prob(p: number): string {
  if (p > 0.9999) return `1 − ${(1 - p).toExponential(1)}`;
  if (p < 1e-4) return p.toExponential(1);
  return `${(p * 100).toFixed(2)}%`;
}

function trackedTable(rows: TrackedTokenView[]): HTMLElement {
  const t = el('table', { class: 'predictions', 'data-testid': 'steer-tracked' });
  t.append(el('tr', {}, el('th', {}, 'Token'), el('th', {}, 'Logit'), el('th', {}, 'Δ logit'), el('th', {}, 'Probability'), el('th', {}, 'Rank')));
  for (const r of rows) {
    t.append(
      el(
        'tr',
        { 'data-testid': 'steer-tracked-row', 'data-token': r.token },
        el('td', { class: 'tokcell' }, JSON.stringify(r.token)),
        el('td', { class: 'num' }, `${fmt(r.logitBefore, 2)} → ${fmt(r.logitAfter, 2)}`),
        el('td', { class: `num ${r.deltaLogit < 0 ? 'neg' : 'pos'}`, 'data-testid': 'steer-delta' }, `${r.deltaLogit >= 0 ? '+' : ''}${fmt(r.deltaLogit, 2)}`),
        el('td', { class: 'num' }, `${prob(r.probBefore)} → ${prob(r.probAfter)}`),
        el('td', { class: 'num' }, `${r.rankBefore} → ${r.rankAfter}`),
      ),
    );
  }
  return t;
}

function select(name: string, current: string, testid: string): HTMLSelectElement {
  const s = el('select', { 'aria-label': name, 'data-testid': testid });
  for (const o of ['frozen', 'recomputed']) {
    const opt = el('option', { value: o }, o);
    if (o === current) opt.setAttribute('selected', '');
    s.append(opt);
  }
  return s;
}

export const steerSection: DetailsSection = {
  id: 'steer',
  key: (c) => (c.payload.canIntervene && targets(c).length ? targets(c).map((n) => n.id).join(',') : ''),
  render(c) {
    const box = el('div', { class: 'steer-section' });
    // vscode-textfield keeps the workbench's look; its value is read from the element.
    const input = (testid: string, label: string, value: string, placeholder = '') => el('vscode-textfield' as 'input', { value, placeholder, 'data-testid': testid, 'aria-label': label, size: '6' });
    const read = (e: HTMLElement) => String((e as unknown as { value?: string }).value ?? '');
    const value = input('steer-value', 'Factor or value', kept.value);
    const scale = el('vscode-button' as 'button', { 'data-testid': 'steer-button' }, 'Scale');
    const set = el('vscode-button' as 'button', { secondary: '', 'data-testid': 'set-button' }, 'Set');
    const ablate = el('vscode-button' as 'button', { secondary: '', 'data-testid': 'ablate-button' }, 'Ablate');
    const positions = input('steer-positions', 'Positions', kept.positions, "node's own");
    const track = input('steer-track', 'Also track tokens', kept.track, 'e.g. Dallas, Houston');
    const generate = input('steer-generate', 'Generate tokens', kept.generate);
    const attention = select('Attention', kept.attention, 'steer-attention');
    const norms = select('Norms', kept.norms, 'steer-norms');
    const out = el('div', { class: 'predictions-wrap', 'data-testid': 'steer-predictions' });
    // The result sits right under the buttons (in a narrow panel anything lower is off screen); the
    // options follow it.
    box.append(
      el('div', { class: 'steer', 'data-testid': 'steer-panel' }, value, scale, set, ablate),
      out,
      el('div', { class: 'steer-options' }, el('label', {}, 'positions ', positions), el('label', {}, ' track ', track), el('label', {}, ' generate ', generate)),
      el('div', { class: 'steer-options' }, el('label', {}, 'attention ', attention), el('label', {}, ' norms ', norms)),
    );
    const error = (msg: string) => {
      clear(out);
      out.append(el('div', { class: 'error', 'data-testid': 'steer-error' }, msg));
    };
    const run = async (mode: 'ablate' | 'scale' | 'set') => {
      const nodes = targets(c);
      if (!nodes.length) return;
      Object.assign(kept, { value: read(value), positions: read(positions), track: read(track), generate: read(generate), attention: attention.value, norms: norms.value });
      const p = parseSteerInputs(mode, kept);
      if (typeof p === 'string') return error(p);
      const interventions: InterventionSpec[] = nodes.map((n) => ({
        layer: n.layer,
        feature: n.feature!,
        mode,
        ...(p.value !== undefined ? { value: p.value } : {}),
        ...(p.positions === '*' ? {} : { positions: p.positions ?? [n.ctx] }),
      }));
      const options: InterveneOptionsView = { semantics: p.semantics, trackIds: targetIds(c), ...(p.track.length ? { track: p.track } : {}), ...(p.generate ? { generate: p.generate } : {}) };
      clear(out);
      out.append(el('div', { class: 'hint' }, 'Running…'));
      const r = await c.host.request({ type: 'intervene', interventions, options });
      clear(out);
      if (r.error || !r.outcome) return error(r.error ?? 'The intervention failed.');
      const o: InterventionOutcome = r.outcome;
      const what = mode === 'ablate' ? 'Ablated' : mode === 'scale' ? `Scaled ×${fmt(p.value, 2)}` : `Set to ${fmt(p.value, 2)}`;
      const where = p.positions === '*' ? 'every active position' : `position ${(p.positions ?? nodes.map((n) => n.ctx)).join(', ')}`;
      // Top predictions first (right under the control), then the tracked tokens, then what was done.
      out.append(renderPredictions(o.before, o.after));
      if (o.tracked?.length) out.append(trackedTable(o.tracked));
      out.append(
        el('div', { class: 'card-section', 'data-testid': 'steer-summary' }, `${what}: ${nodes.map((n) => n.label).join(', ')} at ${where}`),
        el('div', { class: 'hint', 'data-testid': 'steer-semantics' }, `attention ${o.semantics.attention}, norms ${o.semantics.norms}`),
      );
      if (o.generated) {
        out.append(
          el('div', { class: 'card-section', 'data-testid': 'steer-generated' }, 'Generated without: ', el('code', {}, o.generated.baseline)),
          el('div', { class: 'card-section' }, 'Generated with: ', el('code', {}, o.generated.intervened)),
        );
      }
      out.scrollIntoView({ block: 'nearest' });
    };
    scale.addEventListener('click', () => void run('scale'));
    set.addEventListener('click', () => void run('set'));
    ablate.addEventListener('click', () => void run('ablate'));
    return box;
  },
};
