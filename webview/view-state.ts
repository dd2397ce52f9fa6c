/**
 * What the user has done to the view of one graph — selection, pins, supernodes, pruning threshold,
 * hover, search, viewport — and every change to it, as pure functions (no DOM, no canvas): each takes a
 * state and returns the next one, so the rules are unit-tested and the renderer, details pane and
 * toolbar only read the result. None of these changes moves a node: positions come from the layout alone.
 */
import type { Supernode, ViewGraph } from './graph-model';

export interface Viewport {
  /** Screen px per world unit, horizontally and vertically (a wide prompt in a tall panel fits both ways). */
  zoomX: number;
  zoomY: number;
  /** Screen position of world (0, 0). */
  panX: number;
  panY: number;
}

export interface ViewState {
  /** Which graph this state belongs to (see graphKey). */
  key: string;
  /** Node pruning threshold (cumulative influence) the panel shows. */
  threshold: number;
  pinned: string[];
  pinnedOnly: boolean;
  supernodes: Supernode[];
  /** Labels of supernodes drawn as their members rather than as one merged node. */
  expanded: string[];
  /** Selected node ids (graph nodes, or `supernode:<label>`), the last one clicked last. */
  selected: string[];
  hovered?: string;
  search: string;
  viewport?: Viewport;
}

export const SUPERNODE_PREFIX = 'supernode:';
export const supernodeKey = (label: string) => `${SUPERNODE_PREFIX}${label}`;

export function graphKey(g: ViewGraph): string {
  return `${g.slug}|${g.nodes.length}|${g.links.length}|${g.prompt.length}`;
}

export function initialState(g: ViewGraph, threshold = 1): ViewState {
  return { key: graphKey(g), threshold, pinned: [...g.pinnedIds], pinnedOnly: false, supernodes: g.supernodes.map((s) => ({ label: s.label, ids: [...s.ids] })), expanded: [], selected: [], search: '' };
}

/** A saved state is reused only for the same graph, and only with the ids that still exist in it. */
export function restoreState(g: ViewGraph, saved: unknown): ViewState | undefined {
  if (!saved || typeof saved !== 'object') return undefined;
  const s = saved as Partial<ViewState>;
  if (s.key !== graphKey(g)) return undefined;
  const ids = (x: unknown) => (Array.isArray(x) ? x.filter((id): id is string => typeof id === 'string' && (g.byId.has(id) || id.startsWith(SUPERNODE_PREFIX))) : []);
  const v = s.viewport;
  const viewport = v && [v.zoomX, v.zoomY, v.panX, v.panY].every((n) => typeof n === 'number' && Number.isFinite(n)) && v.zoomX > 0 && v.zoomY > 0 ? { ...v } : undefined;
  return {
    key: s.key,
    threshold: typeof s.threshold === 'number' && s.threshold > 0 && s.threshold <= 1 ? s.threshold : 1,
    pinned: ids(s.pinned),
    pinnedOnly: !!s.pinnedOnly,
    supernodes: Array.isArray(s.supernodes) ? s.supernodes.filter((x) => x && typeof x.label === 'string' && Array.isArray(x.ids)).map((x) => ({ label: x.label, ids: ids(x.ids) })).filter((x) => x.ids.length) : [],
    expanded: Array.isArray(s.expanded) ? s.expanded.filter((x) => typeof x === 'string') : [],
    selected: ids(s.selected),
    search: typeof s.search === 'string' ? s.search : '',
    ...(viewport ? { viewport } : {}),
  };
}

/** A click: alone it selects just that node (or clears on the background); additive toggles it in the selection. */
export function clickNode(s: ViewState, id: string | undefined, additive: boolean): ViewState {
  if (id === undefined) return additive ? s : { ...s, selected: [] };
  if (!additive) return { ...s, selected: [id] };
  return s.selected.includes(id) ? { ...s, selected: s.selected.filter((x) => x !== id) } : { ...s, selected: [...s.selected, id] };
}

export function clearSelection(s: ViewState): ViewState {
  return s.selected.length ? { ...s, selected: [] } : s;
}

export function hover(s: ViewState, id: string | undefined): ViewState {
  return s.hovered === id ? s : { ...s, hovered: id };
}

/** The selected graph nodes, with a selected supernode standing for its members. */
export function selectedMembers(s: ViewState): string[] {
  const out: string[] = [];
  for (const id of s.selected) {
    if (id.startsWith(SUPERNODE_PREFIX)) out.push(...(s.supernodes.find((g) => supernodeKey(g.label) === id)?.ids ?? []));
    else out.push(id);
  }
  return [...new Set(out)];
}

/** Pins the selected nodes, or unpins them when all of them were pinned. */
export function togglePins(s: ViewState, ids = selectedMembers(s)): ViewState {
  if (!ids.length) return s;
  const pinned = new Set(s.pinned);
  const allPinned = ids.every((id) => pinned.has(id));
  for (const id of ids) {
    if (allPinned) pinned.delete(id);
    else pinned.add(id);
  }
  return { ...s, pinned: [...pinned] };
}

/**
 * Groups nodes into a supernode named `label` (a node belongs to at most one: members leave their old
 * groups; a label already in use gets a number). The new group is selected, merged (not expanded), and
 * its members are pinned so it shows in the subgraph.
 */
export function group(s: ViewState, ids: string[], label: string): ViewState {
  if (!ids.length) return s;
  const taken = new Set(ids);
  const kept = s.supernodes.map((g) => ({ ...g, ids: g.ids.filter((id) => !taken.has(id)) })).filter((g) => g.ids.length > 0);
  const base = label.trim() || `group ${kept.length + 1}`;
  let name = base;
  for (let i = 2; kept.some((g) => g.label === name); i++) name = `${base} (${i})`;
  const pinned = [...new Set([...s.pinned, ...ids])];
  return { ...s, supernodes: [...kept, { label: name, ids: [...ids] }], pinned, expanded: s.expanded.filter((l) => l !== name), selected: [supernodeKey(name)] };
}

/** Dissolves every supernode that is selected or has a selected member. */
export function ungroup(s: ViewState): ViewState {
  const members = new Set(selectedMembers(s));
  const gone = s.supernodes.filter((g) => s.selected.includes(supernodeKey(g.label)) || g.ids.some((id) => members.has(id)));
  if (!gone.length) return s;
  const goneKeys = new Set(gone.map((g) => supernodeKey(g.label)));
  return {
    ...s,
    supernodes: s.supernodes.filter((g) => !gone.includes(g)),
    expanded: s.expanded.filter((l) => !gone.some((g) => g.label === l)),
    selected: [...new Set(s.selected.flatMap((id) => (goneKeys.has(id) ? gone.find((g) => supernodeKey(g.label) === id)!.ids : [id])))],
  };
}

/** Shows a supernode as its members, or merges them back into one node. */
export function toggleExpanded(s: ViewState, label: string): ViewState {
  const expanded = s.expanded.includes(label) ? s.expanded.filter((l) => l !== label) : [...s.expanded, label];
  // A merged group's members cannot be selected on their own: the group is selected instead.
  const g = s.supernodes.find((x) => x.label === label);
  let selected = s.selected;
  if (g && !expanded.includes(label) && g.ids.some((id) => selected.includes(id))) selected = [...selected.filter((id) => !g.ids.includes(id)), supernodeKey(label)];
  if (g && expanded.includes(label) && selected.includes(supernodeKey(label))) selected = [...selected.filter((id) => id !== supernodeKey(label)), ...g.ids];
  return { ...s, expanded, selected };
}

export function setThreshold(s: ViewState, t: number): ViewState {
  const threshold = Math.max(0.01, Math.min(1, t));
  return threshold === s.threshold ? s : { ...s, threshold };
}

export function setPinnedOnly(s: ViewState, on: boolean): ViewState {
  return { ...s, pinnedOnly: on };
}

export function setSearch(s: ViewState, q: string): ViewState {
  return { ...s, search: q };
}

export function setViewport(s: ViewState, v: Viewport): ViewState {
  return { ...s, viewport: { ...v } };
}

/** Pins one node (e.g. a feature the host asked to focus that the threshold had pruned away). */
export function ensurePinned(s: ViewState, id: string): ViewState {
  return s.pinned.includes(id) ? s : { ...s, pinned: [...s.pinned, id] };
}

/** Per-graph states kept across reloads (getState / setState): the most recent few graphs. */
export interface SavedStates {
  states: ViewState[];
}

export function rememberState(saved: unknown, s: ViewState, keep = 8): SavedStates {
  const prev = saved && typeof saved === 'object' && Array.isArray((saved as SavedStates).states) ? (saved as SavedStates).states : [];
  return { states: [s, ...prev.filter((x) => x && x.key !== s.key)].slice(0, keep) };
}

export function recallState(g: ViewGraph, saved: unknown): ViewState | undefined {
  const prev = saved && typeof saved === 'object' && Array.isArray((saved as SavedStates).states) ? (saved as SavedStates).states : [];
  return restoreState(g, prev.find((x) => x && x.key === graphKey(g)));
}
