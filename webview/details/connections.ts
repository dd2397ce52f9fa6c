/**
 * The selected node's connections (Neuronpedia's "node connections"): incoming and outgoing edges with
 * their signed weight and share of the node's total |weight| on that side, strongest first; a row moves
 * the selection to the node at the other end. A supernode's edges are the sums of its members'.
 */
import { el, fmt } from '../dom';
import { headShares, percent } from '../heads';
import { connections, type Connection } from '../scene';
import type { DetailsContext, DetailsSection } from './section';

const SHOWN = 60;

function list(c: DetailsContext, title: string, rows: Connection[], side: 'in' | 'out'): HTMLElement {
  const box = el('div', { class: 'conn-side', 'data-testid': `connections-${side}` });
  box.append(el('div', { class: 'card-section' }, `${title} (${rows.length})`));
  for (const r of rows.slice(0, SHOWN)) {
    const other = c.scene.byId.get(r.id);
    const row = el(
      'button',
      { class: `conn-row ${r.weight >= 0 ? 'pos' : 'neg'}`, type: 'button', 'data-testid': 'connection-row', 'data-node-id': r.id, 'data-weight': String(r.weight), title: `${other?.label ?? r.id}: weight ${r.weight}` },
      el('span', { class: 'conn-weight' }, `${r.weight >= 0 ? '+' : '−'}${fmt(Math.abs(r.weight), 3)}`),
      el('span', { class: 'conn-share' }, `${(r.share * 100).toFixed(1)}%`),
      el('span', { class: 'conn-label' }, other?.label ?? r.id),
    );
    if (r.heads?.length) {
      // The heads that carry it (an edge between positions): the strongest, with its share of the edge.
      const { listed } = headShares(r.heads, r.weight);
      const names = listed.slice(0, 2).map((h) => `${h.name} ${percent(h.share)}`).join(', ');
      row.append(el('span', { class: 'conn-heads', 'data-testid': 'connection-heads', title: listed.map((h) => `${h.name}: ${fmt(h.weight, 3)} (${percent(h.share)})`).join('\n') }, `via ${names}`));
    }
    row.addEventListener('click', () => c.actions.select(r.id));
    box.append(row);
  }
  if (rows.length > SHOWN) box.append(el('div', { class: 'hint' }, `… and ${rows.length - SHOWN} weaker`));
  return box;
}

export const connectionsSection: DetailsSection = {
  id: 'connections',
  key: (c) => (c.focus ? `${c.focus.id}|${c.sceneVersion}` : ''),
  render(c) {
    const { incoming, outgoing } = connections(c.scene, c.focus!.id);
    const d = el('details', { class: 'card-fold', open: '', 'data-testid': 'connections' }, el('summary', { class: 'card-section' }, 'Connections'));
    d.append(list(c, 'Incoming', incoming, 'in'), list(c, 'Outgoing', outgoing, 'out'));
    return d;
  },
};
