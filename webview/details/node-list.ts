/** Every shown feature and logit, most influential first: the keyboard's and screen reader's way in. */
import { el } from '../dom';
import type { DetailsSection } from './section';

const ROWS = 300;
/** Whether the user left the list open (kept while the list is rebuilt). */
let openAtStart = false;

export const nodeListSection: DetailsSection = {
  id: 'node-list',
  key: (c) => String(c.sceneVersion),
  render(c) {
    const rows = c.scene.nodes
      .filter((n) => n.kind === 'feature' || n.kind === 'logit' || n.kind === 'supernode')
      .sort((a, b) => a.rank - b.rank)
      .slice(0, ROWS);
    // A native <details> (folded at first): its header takes the theme's own text colours.
    const section = el('details', { class: 'card-fold', 'data-testid': 'node-list-section' }, el('summary', { class: 'card-section' }, `Nodes (${rows.length})`));
    if (openAtStart) section.open = true;
    section.addEventListener('toggle', () => (openAtStart = section.open));
    const list = el('div', { class: 'node-list', 'data-testid': 'node-list' });
    for (const n of rows) {
      const v = n.node;
      const where = !v ? `${n.members?.length ?? 0} nodes` : `@${v.ctx}`; // a feature's label already starts with its L#idx and carries its score
      const row = el(
        'button',
        { class: `node-row ${n.kind}`, 'data-testid': 'node-row', 'data-node-id': n.id, 'data-kind': n.kind, type: 'button' },
        el('span', { class: 'node-row-label' }, n.label),
        el('span', { class: 'node-row-meta' }, where),
      );
      row.addEventListener('click', () => c.actions.select(n.id));
      list.append(row);
    }
    section.append(list);
    return section;
  },
};
