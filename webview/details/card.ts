/** The card of the node the pane describes: label, where it is, activation, examples, top logits. */
import { clear } from '../dom';
import { renderCard } from '../card';
import type { DetailsSection } from './section';

export const cardSection: DetailsSection = {
  id: 'card',
  key: (c) => c.focus?.id ?? 'none',
  render(c) {
    const box = document.createElement('div');
    box.className = 'card';
    box.dataset.testid = 'feature-card';
    const n = c.focus?.node;
    if (!c.focus) {
      const hint = document.createElement('div');
      hint.className = 'hint';
      hint.textContent = 'Click a node for its card and connections; Shift-click adds to the selection. Drag to pan, wheel to zoom, / searches, Esc clears.';
      box.append(hint);
      return box;
    }
    if (!n) return box; // a supernode: the subgraph section describes it
    box.append(renderCard(n, undefined, false));
    void c.card(n).then((card) => {
      if (!card || !c.isCurrent()) return;
      clear(box);
      box.append(renderCard(n, card, false));
    });
    return box;
  },
};
