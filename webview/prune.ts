/**
 * Which nodes and links are shown. The node slider is circuit-tracer's cumulative-influence threshold:
 * a node whose `influence` (its place in the cumulative influence order, 0..1) is ≤ t survives.
 * Embeddings and logits always stay (they are the frame of the graph); pinned nodes always stay; "pinned
 * only" shows the pinned subgraph alone.
 */
import type { ViewGraph, ViewLink } from './graph-model';

export interface Visibility {
  nodes: Set<string>;
  links: ViewLink[];
}

export function visibleElements(g: ViewGraph, threshold: number, pinned: ReadonlySet<string>, pinnedOnly: boolean): Visibility {
  const nodes = new Set<string>();
  const cutoff = influenceCutoff(g, threshold);
  for (const n of g.nodes) {
    if (pinnedOnly) {
      if (pinned.has(n.id)) nodes.add(n.id);
      continue;
    }
    if (pinned.has(n.id) || n.kind === 'embedding' || n.kind === 'logit' || n.influence === undefined || n.influence <= cutoff) nodes.add(n.id);
  }
  const links = g.links.filter((l) => nodes.has(l.source) && nodes.has(l.target));
  return { nodes, links };
}

/**
 * The largest cumulative influence that survives threshold t. circuit-tracer (and the engine) keep the
 * node whose share carries the running sum across t, so its cumulative value is ≥ t: the cut is the
 * smallest cumulative value at or above t, over every node (embeddings and logits take part in the order).
 * At the graph's own threshold the view therefore shows every node the engine kept.
 */
export function influenceCutoff(g: ViewGraph, threshold: number): number {
  let cutoff = Number.POSITIVE_INFINITY;
  for (const n of g.nodes) if (n.influence !== undefined && n.influence >= threshold && n.influence < cutoff) cutoff = n.influence;
  return cutoff === Number.POSITIVE_INFINITY ? threshold : cutoff;
}

/** Nodes whose label, token or id contains the query (case-insensitive); empty query = none. */
export function searchNodes(g: ViewGraph, query: string): string[] {
  const q = query.trim().toLowerCase();
  if (!q) return [];
  return g.nodes.filter((n) => n.label.toLowerCase().includes(q) || n.id.toLowerCase() === q || (n.feature !== undefined && `#${n.feature}` === q)).map((n) => n.id);
}
