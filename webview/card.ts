/**
 * The feature card: label, kind/layer/position, activation and influence, top activating examples
 * (each token shaded by its activation) and top logits. Built with textContent only.
 */
import type { FeatureCard, PredictionView } from '../src/shared/protocol';
import { el, fmt } from './dom';
import { tokenLabel, type ViewNode } from './graph-model';

const KIND_NAME = { embedding: 'Token embedding', feature: 'Transcoder feature', error: 'Reconstruction error', logit: 'Output logit' } as const;

function exampleRow(tokens: string[], values: number[]): HTMLElement {
  const max = Math.max(1e-9, ...values);
  const row = el('div', { class: 'example', 'data-testid': 'feature-example' });
  tokens.forEach((t, i) => {
    const level = Math.min(5, Math.ceil((Math.max(0, values[i] ?? 0) / max) * 5));
    // A token's leading space (" the", or the one added between word-level tokens) stays outside the
    // shading, so the highlight covers the word alone.
    const lead = /^[ \t]*/.exec(t)![0];
    if (lead) row.append(lead);
    row.append(el('span', { class: `tok act-${level}`, title: fmt(values[i]) }, t.slice(lead.length).replace(/\n/g, '⏎')));
  });
  return row;
}

export function renderCard(node: ViewNode, card: FeatureCard | undefined, compact: boolean): HTMLElement {
  const root = el('div', { class: 'card-body', 'data-testid': 'feature-card-body' });
  // A feature's title is its label as the graph reads it: with its L#idx, and "unlabelled (best
  // guess …)" when the label's score is under the threshold.
  root.append(el('div', { class: 'card-title', 'data-testid': 'feature-card-label' }, node.kind === 'feature' ? node.label : card?.label ?? node.label));
  if (node.kind === 'feature') {
    const score = node.labelScore ?? scoreLine(card);
    const against = node.labelAgainst ?? card?.evidence?.against;
    root.append(el('div', { class: 'card-meta', 'data-testid': 'feature-card-evidence' }, score ? `label score ${score}${against ? ` · scored against ${against}` : ''}` : 'label score: none recorded'));
  }
  if (card?.published?.label) root.append(el('div', { class: 'card-meta', 'data-testid': 'feature-card-published' }, `published label (Neuronpedia${card.published.by ? `, ${card.published.by}` : ''}): ${card.published.label}`));
  if (card?.automatic) root.append(el('div', { class: 'card-meta', 'data-testid': 'feature-card-automatic' }, `${card.automatic} (automatic)`));
  if (card?.density !== undefined) root.append(el('div', { class: 'card-meta', 'data-testid': 'feature-card-density' }, `fires on ${(card.density * 100).toFixed(2)} % of ${card.corpusTokens ?? '?'} corpus tokens`));
  if (card?.claim && !card.claim.supported) root.append(el('div', { class: 'card-flag', 'data-testid': 'feature-card-claim' }, `⚠ ${card.claim.message}`));
  const where = node.kind === 'feature' ? `L${node.layer} #${node.feature ?? '?'} · token ${node.ctx}` : node.kind === 'error' ? `L${node.layer} · token ${node.ctx}` : `token ${node.ctx}`;
  root.append(el('div', { class: 'card-meta' }, `${KIND_NAME[node.kind]} · ${where}`));
  const stats: string[] = [];
  if (node.activation !== undefined) stats.push(`activation ${fmt(node.activation)}`);
  if (node.influence !== undefined) stats.push(`influence ${fmt(node.influence)}`);
  if (node.prob !== undefined) stats.push(`p = ${fmt(node.prob)}`);
  if (stats.length) root.append(el('div', { class: 'card-meta', 'data-testid': 'feature-card-stats' }, stats.join(' · ')));
  if (!card) return root;
  if (card.examples.length) {
    const sec = section(root, 'Top activations', compact, 'feature-card-examples');
    for (const ex of card.examples.slice(0, compact ? 2 : 5)) sec.append(exampleRow(ex.tokens, ex.values));
  }
  if (!compact && card.published?.examples.length) {
    const sec = section(root, 'Published examples (Neuronpedia)', compact, 'feature-card-published-examples');
    for (const ex of card.published.examples.slice(0, 5)) sec.append(exampleRow(ex.tokens, ex.values));
  }
  if (card.topLogits.length || (!compact && card.bottomLogits.length)) {
    const sec = section(root, 'Top logits', compact, 'feature-card-logits-section');
    if (!compact && card.logitsNote) sec.append(el('div', { class: 'card-meta', 'data-testid': 'feature-card-logits-note' }, card.logitsNote));
    if (card.topLogits.length) {
      const list = el('div', { class: 'logits', 'data-testid': 'feature-card-logits' });
      for (const l of card.topLogits.slice(0, compact ? 5 : 8)) list.append(el('span', { class: 'logit pos' }, `${tokenLabel(l.token)} ${fmt(l.value, 2)}`));
      sec.append(list);
    }
    if (!compact && card.bottomLogits.length) {
      const list = el('div', { class: 'logits' });
      for (const l of card.bottomLogits.slice(0, 8)) list.append(el('span', { class: 'logit neg' }, `${tokenLabel(l.token)} ${fmt(l.value, 2)}`));
      sec.append(list);
    }
  }
  return root;
}

function scoreLine(card: FeatureCard | undefined): string {
  const e = card?.evidence;
  if (!e) return '';
  return [`F1 ${e.f1.toFixed(2)}`, e.precision !== undefined ? `P ${e.precision.toFixed(2)}` : '', e.recall !== undefined ? `R ${e.recall.toFixed(2)}` : ''].filter(Boolean).join(' · ');
}

/** Which card sections the user folded, by title: kept while they click from feature to feature. */
const folded = new Set<string>();

/**
 * A titled section of the card. In the details pane it is a <details> the user can fold (the pane is
 * short in a narrow side panel); in the hover tooltip, which takes no clicks, a plain heading.
 */
function section(root: HTMLElement, title: string, compact: boolean, testid: string): HTMLElement {
  if (compact) {
    root.append(el('div', { class: 'card-section' }, title));
    return root;
  }
  const d = el('details', { class: 'card-fold', 'data-testid': testid }, el('summary', { class: 'card-section' }, title));
  d.open = !folded.has(title);
  d.addEventListener('toggle', () => (d.open ? folded.delete(title) : folded.add(title)));
  root.append(d);
  return d;
}

export function renderPredictions(before: PredictionView[], after: PredictionView[]): HTMLElement {
  const table = el('table', { class: 'predictions', 'data-testid': 'steer-result' });
  table.append(el('tr', {}, el('th', {}, 'Before'), el('th', {}, ''), el('th', {}, 'After'), el('th', {}, '')));
  for (let i = 0; i < Math.max(before.length, after.length); i++) {
    const b = before[i];
    const a = after[i];
    const changed = a && b && a.token !== b.token;
    table.append(
      el(
        'tr',
        { class: changed ? 'changed' : '', 'data-testid': 'steer-row' },
        el('td', { class: 'tokcell', 'data-testid': 'steer-before-token' }, b ? tokenLabel(b.token) : ''),
        el('td', { class: 'num' }, b ? fmt(b.prob) : ''),
        el('td', { class: 'tokcell', 'data-testid': 'steer-after-token' }, a ? tokenLabel(a.token) : ''),
        el('td', { class: 'num' }, a ? fmt(a.prob) : ''),
      ),
    );
  }
  return table;
}
