/**
 * (Bench only: the viewer's cytoscape renderer before the canvas renderer, kept to measure against.)
 * Graph → cytoscape element definitions (pure data, so it is unit-tested without a browser).
 * Node kind becomes a class (the stylesheet maps it to a shape); an edge gets `pos`/`neg` by sign and a
 * width by |weight| relative to the strongest visible edge; supernodes become compound parents.
 */
import type { ElementDefinition } from 'cytoscape';
import { tokenLabel, type Supernode, type ViewGraph } from '../../webview/graph-model';
import { AXIS_PREFIX, type Point } from './layout';
import type { Visibility } from '../../webview/prune';

export const MIN_EDGE_WIDTH = 0.5;
export const MAX_EDGE_WIDTH = 6;

export function edgeWidth(weight: number, maxAbs: number): number {
  if (!(maxAbs > 0)) return MIN_EDGE_WIDTH;
  // sqrt so that weak edges stay visible next to a dominant one.
  return MIN_EDGE_WIDTH + (MAX_EDGE_WIDTH - MIN_EDGE_WIDTH) * Math.sqrt(Math.min(1, Math.abs(weight) / maxAbs));
}

export function supernodeId(i: number): string {
  return `supernode:${i}`;
}

export function toElements(
  g: ViewGraph,
  positions: Map<string, Point>,
  vis: Visibility,
  pinned: ReadonlySet<string>,
  supernodes: Supernode[],
): ElementDefinition[] {
  const parentOf = new Map<string, string>();
  const out: ElementDefinition[] = [];
  supernodes.forEach((s, i) => {
    const members = s.ids.filter((id) => vis.nodes.has(id));
    if (!members.length) return;
    const id = supernodeId(i);
    for (const m of members) parentOf.set(m, id);
    out.push({ group: 'nodes', data: { id, label: s.label, kind: 'supernode' }, classes: 'supernode' });
  });
  for (const n of g.nodes) {
    if (!vis.nodes.has(n.id)) continue;
    const p = positions.get(n.id) ?? { x: 0, y: 0 };
    const classes: string[] = [n.kind];
    if (pinned.has(n.id)) classes.push('pinned');
    const data: Record<string, unknown> = { id: n.id, label: n.label, kind: n.kind, layer: n.layer, ctx: n.ctx };
    if (n.feature !== undefined) data.feature = n.feature;
    const parent = parentOf.get(n.id);
    if (parent) data.parent = parent;
    out.push({ group: 'nodes', data, position: { x: p.x, y: p.y }, classes: classes.join(' ') });
  }
  // The token axis: prompt tokens whose embedding node is not shown still label their column.
  const shownTokens = new Set(g.nodes.filter((n) => n.kind === 'embedding' && vis.nodes.has(n.id)).map((n) => n.ctx));
  g.promptTokens.forEach((tok, c) => {
    const p = positions.get(`${AXIS_PREFIX}${c}`);
    if (shownTokens.has(c) || !p) return;
    out.push({ group: 'nodes', data: { id: `${AXIS_PREFIX}${c}`, label: tokenLabel(tok), kind: 'axis', ctx: c }, position: { x: p.x, y: p.y }, classes: 'axis', selectable: false, grabbable: false });
  });
  let maxAbs = 0;
  for (const l of vis.links) maxAbs = Math.max(maxAbs, Math.abs(l.weight));
  vis.links.forEach((l, i) => {
    out.push({
      group: 'edges',
      data: { id: `e${i}:${l.source}->${l.target}`, source: l.source, target: l.target, weight: l.weight, width: edgeWidth(l.weight, maxAbs) },
      classes: l.weight >= 0 ? 'pos' : 'neg',
    });
  });
  return out;
}
