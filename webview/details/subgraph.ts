/**
 * The subgraph pane: the pinned nodes and the supernodes (groups), with the subgraph's scores. A group
 * is drawn as one merged node (its edges the sums of its members') or, expanded, as its members; the
 * toggle and the member rows are here. Stored as qParams.pinnedIds / qParams.supernodes when saved.
 */
import { el } from '../dom';
import { supernodeKey, toggleExpanded, togglePins } from '../view-state';
import type { DetailsContext, DetailsSection } from './section';

function nodeRow(c: DetailsContext, id: string): HTMLElement {
  const n = c.graph.byId.get(id);
  const where = n ? (n.kind === 'feature' ? `L${n.layer} #${n.feature} @${n.ctx}` : `${n.kind} @${n.ctx}`) : '';
  const row = el('div', { class: 'sg-row', 'data-testid': 'subgraph-node', 'data-node-id': id });
  const go = el('button', { class: 'link', type: 'button', title: 'Select' }, n?.label ?? id);
  go.addEventListener('click', () => c.actions.select(id));
  const unpin = el('button', { class: 'icon-btn', type: 'button', title: 'Unpin', 'aria-label': `Unpin ${n?.label ?? id}` }, '×');
  unpin.addEventListener('click', () => c.actions.update((s) => togglePins(s, [id])));
  row.append(go, el('span', { class: 'muted' }, where), unpin);
  return row;
}

export const subgraphSection: DetailsSection = {
  id: 'subgraph',
  key: (c) => (c.state.pinned.length || c.state.supernodes.length ? JSON.stringify([c.state.pinned, c.state.supernodes, c.state.expanded]) : ''),
  render(c) {
    const s = c.state;
    const d = el('details', { class: 'card-fold', open: '', 'data-testid': 'subgraph' }, el('summary', { class: 'card-section' }, `Subgraph (${s.pinned.length} pinned, ${s.supernodes.length} groups)`));
    const grouped = new Set(s.supernodes.flatMap((g) => g.ids));
    for (const g of s.supernodes) {
      const expanded = s.expanded.includes(g.label);
      const head = el('div', { class: 'sg-group', 'data-testid': 'subgraph-group', 'data-label': g.label });
      const toggle = el('button', { class: 'icon-btn', type: 'button', 'aria-expanded': String(expanded), title: expanded ? 'Merge into one node' : 'Show the members', 'data-testid': 'subgraph-group-toggle' }, expanded ? '▾' : '▸');
      toggle.addEventListener('click', () => c.actions.update((x) => toggleExpanded(x, g.label)));
      const name = el('button', { class: 'link sg-name', type: 'button', title: 'Select the group' }, g.label);
      name.addEventListener('click', () => c.actions.select(expanded ? g.ids[0] : supernodeKey(g.label)));
      head.append(toggle, name, el('span', { class: 'muted' }, `${g.ids.length} nodes`));
      d.append(head);
      if (expanded) {
        const members = el('div', { class: 'sg-members' });
        for (const id of g.ids) members.append(nodeRow(c, id));
        d.append(members);
      }
    }
    for (const id of s.pinned) if (!grouped.has(id)) d.append(nodeRow(c, id));
    return d;
  },
};
