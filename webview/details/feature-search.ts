/**
 * Search all features: every feature of the loaded dictionary whose label, automatic description or top
 * tokens match the text (the feature dashboards' full-text index, asked of the host), best label score
 * first, each with its `L#idx`, its score and how often it fires; "Show in graph" selects the feature's
 * node when the current graph has it (pinning it when the threshold hides it).
 */
import { labelView } from '../../src/shared/label-text';
import { MAX_FEATURE_QUERY, type FeatureSearchHitView } from '../../src/shared/protocol';
import { clear, el } from '../dom';
import type { DetailsContext, DetailsSection } from './section';

/** What the user searched last and whether the section was open, kept while the pane re-renders. */
const kept = { query: '', open: false, hits: undefined as FeatureSearchHitView[] | undefined, message: '', error: false };

function hitSource(h: FeatureSearchHitView): string {
  if (h.labelSource === 'automatic') return 'automatic description';
  if (h.labelSource === 'published') return 'published label';
  if (h.labelSource === 'latent') return 'probed label';
  return 'no label';
}

function hitRow(c: DetailsContext, h: FeatureSearchHitView, status: HTMLElement): HTMLElement {
  const v = labelView(h.layer, h.feature, h.label, h.f1 === null ? undefined : { f1: h.f1 }, c.payload.labelMinF1, h.labelSource === 'automatic');
  const inGraph = c.graph.nodes.some((n) => n.kind === 'feature' && n.layer === h.layer && n.feature === h.feature);
  const scores = [h.f1 === null ? 'no score' : `F1 ${h.f1.toFixed(2)}`, hitSource(h), `fires on ${(h.density * 100).toFixed(2)} %`];
  const show = el('vscode-button' as 'button', { secondary: '', 'data-testid': 'feature-search-show', title: inGraph ? 'Select this feature in the graph' : 'This feature is not in the current graph' }, 'Show in graph');
  show.addEventListener('click', () => {
    status.textContent = c.actions.showFeature({ layer: h.layer, feature: h.feature })
      ? ''
      : `${v.id} is not in this graph: it was pruned away or does not fire on this prompt.`;
  });
  return el(
    'div',
    { class: 'search-hit', 'data-testid': 'feature-search-hit', 'data-feature': `${h.layer}:${h.feature}`, 'data-in-graph': String(inGraph) },
    el('div', { class: 'search-hit-text' },
      el('div', { class: 'node-row-label', 'data-testid': 'feature-search-label' }, `${v.id} ${v.text}`),
      el('div', { class: 'node-row-meta', 'data-testid': 'feature-search-score' }, `${scores.join(' · ')}${inGraph ? ' · in this graph' : ''}`)),
    show,
  );
}

export const featureSearchSection: DetailsSection = {
  id: 'feature-search',
  key: (c) => c.state.key,
  render(c) {
    const section = el('details', { class: 'card-fold', 'data-testid': 'feature-search-section' }, el('summary', { class: 'card-section' }, 'Search all features'));
    section.open = kept.open;
    section.addEventListener('toggle', () => (kept.open = section.open));
    const field = el('vscode-textfield' as 'input', { value: kept.query, placeholder: 'label or token, e.g. Texas', 'data-testid': 'feature-search-input', 'aria-label': 'Search all features by label or top token', maxlength: String(MAX_FEATURE_QUERY) });
    const go = el('vscode-button' as 'button', { 'data-testid': 'feature-search-button' }, 'Search');
    const status = el('div', { class: kept.error ? 'error' : 'hint', 'data-testid': 'feature-search-status', 'aria-live': 'polite' }, kept.message);
    const list = el('div', { class: 'node-list', 'data-testid': 'feature-search-results' });
    const draw = () => {
      clear(list);
      for (const h of kept.hits ?? []) list.append(hitRow(c, h, status));
    };
    const run = async () => {
      const query = String((field as unknown as { value: string }).value ?? '').trim().slice(0, MAX_FEATURE_QUERY);
      kept.query = query;
      if (!query) {
        kept.hits = undefined;
        kept.error = false;
        kept.message = 'Type a word of a label or a token the feature fires on.';
      } else {
        status.textContent = 'Searching…';
        const r = await c.host.request({ type: 'searchFeatures', query });
        kept.hits = r.hits;
        kept.error = !!r.error;
        kept.message = r.error ?? (r.hits?.length ? `${r.hits.length} feature${r.hits.length === 1 ? '' : 's'} of the whole dictionary, best label score first` : `No feature matches "${query}".`);
      }
      if (!c.isCurrent()) return;
      status.textContent = kept.message;
      status.className = kept.error ? 'error' : 'hint';
      draw();
    };
    go.addEventListener('click', () => void run());
    field.addEventListener('keydown', (ev) => (ev as KeyboardEvent).key === 'Enter' && void run());
    draw();
    section.append(el('div', { class: 'feature-search' }, field, go), status, list);
    return section;
  },
};
