/**
 * The toolbar: search, the pruning threshold, pin / group / ungroup / pinned-only, fit, exports, the
 * link to the prompt, and the always-visible summary line with the scores. It turns controls into
 * actions and shows state; it holds none.
 */
import { fmt } from './dom';
import type { GraphScores } from './scores';
import type { ViewState } from './view-state';

export interface ToolbarActions {
  search(q: string, go: boolean): void;
  /** `final`: the slider was released (re-prune); otherwise it is moving (preview the number). */
  threshold(t: number, final: boolean): void;
  pin(): void;
  pinnedOnly(on: boolean): void;
  group(label: string): void;
  ungroup(): void;
  fit(): void;
  export(format: 'png' | 'svg' | 'json'): void;
  openPrompt(): void;
}

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
type Field = HTMLElement & { value: string };

export class Toolbar {
  constructor(a: ToolbarActions) {
    const threshold = $<HTMLInputElement>('threshold');
    threshold.addEventListener('input', () => a.threshold(Number(threshold.value), false));
    threshold.addEventListener('change', () => a.threshold(Number(threshold.value), true));
    const search = $('search') as Field;
    search.addEventListener('input', () => a.search(search.value, false));
    search.addEventListener('keydown', (ev) => (ev as KeyboardEvent).key === 'Enter' && a.search(search.value, true));
    $('pin').addEventListener('click', () => a.pin());
    // A toggleable toolbar button flips its own `checked` before the click reaches this listener.
    const pinnedOnly = $('pinned-only') as HTMLElement & { checked: boolean };
    pinnedOnly.addEventListener('click', () => a.pinnedOnly(pinnedOnly.checked));
    $('group').addEventListener('click', () => {
      $('group-form').hidden = false;
      $('group-label').focus();
    });
    const doGroup = () => {
      const f = $('group-label') as Field;
      a.group(f.value);
      f.value = '';
      $('group-form').hidden = true;
    };
    $('group-ok').addEventListener('click', doGroup);
    $('group-label').addEventListener('keydown', (ev) => (ev as KeyboardEvent).key === 'Enter' && doGroup());
    $('group-cancel').addEventListener('click', () => ($('group-form').hidden = true));
    $('ungroup').addEventListener('click', () => a.ungroup());
    $('fit').addEventListener('click', () => a.fit());
    for (const f of ['png', 'svg', 'json'] as const) $(`export-${f}`).addEventListener('click', () => a.export(f));
    $('open-prompt').addEventListener('click', () => a.openPrompt());
  }

  /** A graph is shown (true) or the panel is empty / has an error (false): no toolbar then. */
  setVisible(on: boolean): void {
    $('toolbar').hidden = !on;
    document.body.classList.toggle('has-graph', on);
  }

  /** `method`: the graph file's info.method ("SAE graph: …"), shown by its name after the title, in full on hover. */
  showGraph(title: string, canOpenPrompt: boolean, s: ViewState, method?: string): void {
    const t = $('title');
    t.textContent = method ? `${title} · ${method.split(':')[0]}` : title;
    t.title = method ?? '';
    t.dataset.method = method ?? '';
    $('open-prompt').hidden = !canOpenPrompt;
    $<HTMLInputElement>('threshold').value = String(s.threshold);
    $('threshold-value').textContent = s.threshold.toFixed(2);
    ($('search') as Field).value = s.search;
    ($('pinned-only') as HTMLElement & { checked: boolean }).checked = s.pinnedOnly;
    $('group-form').hidden = true;
  }

  showThreshold(t: number): void {
    $('threshold-value').textContent = t.toFixed(2);
  }

  showSearchCount(n: number | undefined): void {
    $('search-count').textContent = n === undefined ? '' : `${n} found`;
  }

  focusSearch(): void {
    $('search').focus();
  }

  /** The summary line: counts (also as data attributes, which the tests and the bench read). */
  showSummary(d: { shownNodes: number; totalNodes: number; shownLinks: number; totalLinks: number; byKind: Record<string, number> }): void {
    const sum = $('summary');
    sum.textContent = `${d.shownNodes}/${d.totalNodes} nodes · ${d.shownLinks}/${d.totalLinks} links`;
    for (const [k, v] of Object.entries(d.byKind)) sum.dataset[k] = String(v);
    sum.dataset.nodes = String(d.shownNodes);
    sum.dataset.total = String(d.totalNodes);
    sum.dataset.links = String(d.shownLinks);
  }

  /**
   * Scores of the graph as shown and of the pinned subgraph (circuit-tracer's definitions, scores.ts);
   * `engine`: the engine's scores of the unpruned attribution, when the file carries them.
   */
  showScores(shown: GraphScores, sub: GraphScores | undefined, engine?: GraphScores): void {
    const box = $('scores');
    const g = $('scores-graph');
    g.textContent = `Graph: replacement ${fmt(shown.replacement, 3)} · completeness ${fmt(shown.completeness, 3)}`;
    g.dataset.replacement = String(shown.replacement);
    g.dataset.completeness = String(shown.completeness);
    g.title = engine
      ? `Of the graph as shown (pruned). Before pruning, the engine measured replacement ${fmt(engine.replacement, 3)}, completeness ${fmt(engine.completeness, 3)}.`
      : 'Of the graph as shown (pruned), by circuit-tracer’s definitions.';
    const s = $('scores-subgraph');
    s.hidden = !sub;
    if (sub) {
      s.textContent = `Subgraph: replacement ${fmt(sub.replacement, 3)} · completeness ${fmt(sub.completeness, 3)}`;
      s.dataset.replacement = String(sub.replacement);
      s.dataset.completeness = String(sub.completeness);
      s.title = 'Of the pinned nodes and groups, with every other feature counted as an error node.';
    }
    box.hidden = false;
  }
}
