/**
 * Steering and ablation of the selected features, each at its own token position, with the changed
 * top predictions right under the control (in a narrow side panel a result below the card would be off
 * screen).
 */
import type { InterventionSpec } from '../../src/shared/protocol';
import { renderPredictions } from '../card';
import { clear, el, fmt } from '../dom';
import type { ViewNode } from '../graph-model';
import type { DetailsContext, DetailsSection } from './section';

/** The scale factor typed last, kept while the user clicks from feature to feature. */
let lastFactor = '2';

function targets(c: DetailsContext): ViewNode[] {
  const ids = new Set(c.selection.flatMap((n) => n.members ?? [n.id]));
  return [...ids].map((id) => c.graph.byId.get(id)).filter((n): n is ViewNode => !!n && n.kind === 'feature' && n.feature !== undefined);
}

export const steerSection: DetailsSection = {
  id: 'steer',
  key: (c) => (c.payload.canIntervene && targets(c).length ? targets(c).map((n) => n.id).join(',') : ''),
  render(c) {
    const box = el('div', { class: 'steer-section' });
    const value = el('vscode-textfield' as 'input', { type: 'number', value: lastFactor, step: '0.5', 'data-testid': 'steer-value', 'aria-label': 'Scale factor' });
    const scale = el('vscode-button' as 'button', { 'data-testid': 'steer-button' }, 'Scale');
    const ablate = el('vscode-button' as 'button', { secondary: '', 'data-testid': 'ablate-button' }, 'Ablate');
    const out = el('div', { class: 'predictions-wrap', 'data-testid': 'steer-predictions' });
    box.append(el('div', { class: 'steer', 'data-testid': 'steer-panel' }, value, scale, ablate), out);
    const error = (msg: string) => {
      clear(out);
      out.append(el('div', { class: 'error', 'data-testid': 'steer-error' }, msg));
    };
    const run = async (mode: 'ablate' | 'scale') => {
      const nodes = targets(c);
      if (!nodes.length) return;
      lastFactor = (value as unknown as { value: string }).value;
      const factor = Number(lastFactor);
      if (mode === 'scale' && !Number.isFinite(factor)) return error('Enter a number to scale the feature by.');
      const interventions: InterventionSpec[] = nodes.map((n) => ({ layer: n.layer, feature: n.feature!, mode, ...(mode === 'scale' ? { value: factor } : {}), positions: [n.ctx] }));
      clear(out);
      out.append(el('div', { class: 'hint' }, 'Running…'));
      const r = await c.host.request({ type: 'intervene', interventions });
      clear(out);
      if (r.error || !r.outcome) return error(r.error ?? 'The intervention failed.');
      const what = mode === 'ablate' ? 'Ablated' : `Scaled ×${fmt(factor, 2)}`;
      out.append(el('div', { class: 'card-section' }, `${what}: ${nodes.map((n) => n.label).join(', ')}`), renderPredictions(r.outcome.before, r.outcome.after));
      out.scrollIntoView({ block: 'nearest' });
    };
    scale.addEventListener('click', () => void run('scale'));
    ablate.addEventListener('click', () => void run('ablate'));
    return box;
  },
};
