/**
 * The details pane's sections, in order. Steering comes first so its result sits right under the
 * control; the card, its attention (QK) and connections describe the selected node; the subgraph lists
 * pins and groups.
 */
import { cardSection } from './card';
import { connectionsSection } from './connections';
import { featureSearchSection } from './feature-search';
import { nodeListSection } from './node-list';
import { qkSection } from './qk';
import type { DetailsContext, DetailsSection } from './section';
import { steerSection } from './steer';
import { subgraphSection } from './subgraph';
import { verifySection } from './verify';

export const SECTIONS: readonly DetailsSection[] = [steerSection, cardSection, qkSection, connectionsSection, subgraphSection, verifySection, featureSearchSection, nodeListSection];

/** Renders the sections into `root`, each in its own slot, re-rendering only those whose key changed. */
export class DetailsPane {
  private readonly slots = new Map<string, { el: HTMLElement; key: string; renders: number }>();

  constructor(root: HTMLElement, private readonly sections: readonly DetailsSection[] = SECTIONS) {
    for (const s of sections) {
      const slot = document.createElement('div');
      slot.dataset.section = s.id;
      slot.hidden = true;
      root.append(slot);
      this.slots.set(s.id, { el: slot, key: '\u0000', renders: 0 });
    }
  }

  update(ctx: Omit<DetailsContext, 'isCurrent'>): void {
    for (const s of this.sections) {
      const slot = this.slots.get(s.id)!;
      const probe = { ...ctx, isCurrent: () => false };
      const key = s.key(probe);
      if (key === slot.key) continue;
      slot.key = key;
      const render = ++slot.renders;
      slot.el.replaceChildren();
      slot.el.hidden = key === '';
      // A section that finishes later (a card from the host) draws only while it is still the one shown.
      if (key !== '') slot.el.append(s.render({ ...ctx, isCurrent: () => slot.renders === render }));
    }
  }

  /** Forgets every section (a new graph): all re-render on the next update. */
  reset(): void {
    for (const slot of this.slots.values()) {
      slot.key = '\u0000';
      slot.renders++;
      slot.el.replaceChildren();
      slot.el.hidden = true;
    }
  }
}
