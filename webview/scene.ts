/**
 * What the graph view draws, as data: the nodes that survive pruning (collapsed supernodes merged into
 * one node whose edges are the sums of its members' edges), the edges between them, and which edges
 * are drawn at rest. Pure (no DOM), so the canvas, the SVG/PNG exports and the tests all read one truth.
 *
 * Links, not nodes, are the load (a pruned graph of 868 nodes can hold 168,724 links): every edge stays
 * in the scene, but at rest only each node's strongest few are drawn; a hovered or selected node's edges
 * are drawn in full (see `restingEdges`).
 */
import type { LinkHead, NodeKind, Supernode, ViewGraph, ViewNode } from './graph-model';
import type { GraphLayout } from './layout';
import { searchNodes, visibleElements } from './prune';
import { supernodeKey, type ViewState } from './view-state';

export type SceneKind = NodeKind | 'supernode';

export interface SceneNode {
  id: string;
  kind: SceneKind;
  x: number;
  y: number;
  label: string;
  /** The graph node (absent for a supernode). */
  node?: ViewNode;
  /** A supernode's members that are shown (merged into it). */
  members?: string[];
  pinned: boolean;
  /** Member of an expanded supernode (drawn with a ring in the group's colour). */
  inGroup?: string;
  match: boolean;
  /** Sort key for which label wins a crowded spot: lower is more important. */
  rank: number;
}

export interface SceneEdge {
  source: string;
  target: string;
  weight: number;
  /** The heads carrying it (a merged edge: its members' listed parts summed per head). */
  heads?: LinkHead[];
}

/** Parts of several edges summed per (layer, head), largest |part| first. */
function sumHeads(a: LinkHead[] | undefined, b: LinkHead[] | undefined): LinkHead[] | undefined {
  if (!a?.length) return b?.length ? b.map((h) => ({ ...h })) : undefined;
  if (!b?.length) return a;
  const m = new Map<string, LinkHead>(a.map((h) => [`${h.layer}.${h.head}`, { ...h }]));
  for (const h of b) {
    const k = `${h.layer}.${h.head}`;
    const x = m.get(k);
    if (x) x.weight += h.weight;
    else m.set(k, { ...h });
  }
  return [...m.values()].sort((x, y) => Math.abs(y.weight) - Math.abs(x.weight));
}

export interface Scene {
  nodes: SceneNode[];
  byId: Map<string, SceneNode>;
  edges: SceneEdge[];
  /** Edge indices by node id. */
  incoming: Map<string, number[]>;
  outgoing: Map<string, number[]>;
  /** Largest |weight| among the scene's edges (edge widths are relative to it). */
  maxAbs: number;
  /** Graph nodes and links that survive pruning (before merging). */
  shownNodes: number;
  shownLinks: number;
  /** Edge indices drawn when nothing is hovered or selected. */
  resting: Uint32Array;
}

/** Which scene node stands for each graph node: a collapsed group's members map to the group. */
export function representatives(supernodes: readonly Supernode[], expanded: readonly string[]): Map<string, string> {
  const rep = new Map<string, string>();
  for (const g of supernodes) {
    if (expanded.includes(g.label)) continue;
    for (const id of g.ids) rep.set(id, supernodeKey(g.label));
  }
  return rep;
}

/**
 * Merges edges through `rep`: an edge between two groups (or a group and a node) carries the sum of the
 * member edges it stands for; edges inside one group disappear.
 */
export function mergeEdges(links: readonly SceneEdge[], rep: ReadonlyMap<string, string>): SceneEdge[] {
  const sum = new Map<string, SceneEdge>();
  const out: SceneEdge[] = [];
  for (const l of links) {
    const s = rep.get(l.source) ?? l.source;
    const t = rep.get(l.target) ?? l.target;
    if (s === t) continue;
    if (s === l.source && t === l.target) {
      out.push(l.heads ? { source: s, target: t, weight: l.weight, heads: l.heads } : { source: s, target: t, weight: l.weight });
      continue;
    }
    const k = `${s}\u0000${t}`;
    const e = sum.get(k);
    if (e) {
      e.weight += l.weight;
      const h = sumHeads(e.heads, l.heads);
      if (h) e.heads = h;
    } else sum.set(k, l.heads ? { source: s, target: t, weight: l.weight, heads: l.heads.map((h) => ({ ...h })) } : { source: s, target: t, weight: l.weight });
  }
  return [...out, ...sum.values()];
}

const KIND_RANK: Record<SceneKind, number> = { supernode: 0, logit: 1, embedding: 2, feature: 3, error: 4 };

/**
 * At rest, each node's strongest input and output are drawn (Neuronpedia keeps the rest quiet until a
 * node is hovered or selected), and never more than this many edges in all.
 */
export const RESTING_MAX = 15_000;

export function buildScene(g: ViewGraph, layout: GraphLayout, s: ViewState, restingBudget?: number): Scene {
  const pinned = new Set(s.pinned);
  const subgraph = new Set([...s.pinned, ...s.supernodes.flatMap((x) => x.ids)]);
  const vis = visibleElements(g, s.threshold, s.pinnedOnly ? subgraph : pinned, s.pinnedOnly);
  const rep = representatives(s.supernodes, s.expanded);
  const hits = new Set(searchNodes(g, s.search));
  const groupOf = new Map<string, string>();
  for (const sn of s.supernodes) for (const id of sn.ids) groupOf.set(id, sn.label);

  const nodes: SceneNode[] = [];
  const merged = new Map<string, SceneNode & { n: number }>();
  for (const n of g.nodes) {
    if (!vis.nodes.has(n.id)) continue;
    const p = layout.positions.get(n.id) ?? { x: 0, y: 0 };
    const r = rep.get(n.id);
    if (r) {
      let m = merged.get(r);
      if (!m) {
        const label = r.slice(r.indexOf(':') + 1);
        m = { id: r, kind: 'supernode', x: 0, y: 0, label, members: [], pinned: true, match: false, rank: 0, n: 0 };
        merged.set(r, m);
      }
      m.x += p.x;
      m.y += p.y;
      m.n++;
      m.members!.push(n.id);
      m.match ||= hits.has(n.id);
      continue;
    }
    const inGroup = groupOf.get(n.id);
    nodes.push({
      id: n.id,
      kind: n.kind,
      x: p.x,
      y: p.y,
      label: n.label,
      node: n,
      pinned: pinned.has(n.id),
      ...(inGroup ? { inGroup } : {}),
      match: hits.has(n.id),
      rank: KIND_RANK[n.kind] + (n.influence ?? 0),
    });
  }
  // A merged node sits at its members' centre.
  for (const m of merged.values()) {
    const { n, ...node } = m;
    node.x /= n;
    node.y /= n;
    nodes.push(node);
  }
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const edges = mergeEdges(vis.links, rep);
  const incoming = new Map<string, number[]>();
  const outgoing = new Map<string, number[]>();
  let maxAbs = 0;
  edges.forEach((e, i) => {
    (outgoing.get(e.source) ?? outgoing.set(e.source, []).get(e.source)!).push(i);
    (incoming.get(e.target) ?? incoming.set(e.target, []).get(e.target)!).push(i);
    maxAbs = Math.max(maxAbs, Math.abs(e.weight));
  });
  return { nodes, byId, edges, incoming, outgoing, maxAbs, shownNodes: vis.nodes.size, shownLinks: vis.links.length, resting: restingEdges(edges, nodes.length, restingBudget ?? Math.min(RESTING_MAX, 2 * nodes.length)) };
}

/**
 * The edges drawn at rest: each node's `k` strongest incoming and `k` strongest outgoing edges (by
 * |weight|), with k chosen so that about `budget` edges are drawn at most. Greedy over edges sorted
 * strongest first, so the strongest edges of the whole graph are always among them.
 */
export function restingEdges(edges: readonly SceneEdge[], nNodes: number, budget: number): Uint32Array {
  if (edges.length <= budget) return Uint32Array.from(edges.keys());
  const k = Math.max(1, Math.floor(budget / Math.max(1, 2 * nNodes)));
  const order = Uint32Array.from(edges.keys()).sort((a, b) => Math.abs(edges[b].weight) - Math.abs(edges[a].weight));
  const outN = new Map<string, number>();
  const inN = new Map<string, number>();
  const keep: number[] = [];
  for (const i of order) {
    const e = edges[i];
    const o = outN.get(e.source) ?? 0;
    const n = inN.get(e.target) ?? 0;
    if (o >= k && n >= k) continue;
    outN.set(e.source, o + 1);
    inN.set(e.target, n + 1);
    keep.push(i);
  }
  return Uint32Array.from(keep);
}

export interface Connection {
  /** The node at the other end. */
  id: string;
  weight: number;
  /** |weight| / Σ |weights| on this side of the node. */
  share: number;
  /** The attention heads carrying the edge (edges between positions). */
  heads?: LinkHead[];
}

/**
 * A node's incoming and outgoing edges, strongest first, each with its share of the node's total
 * |weight| on that side (Neuronpedia's "node connections").
 */
export function connections(scene: Scene, id: string): { incoming: Connection[]; outgoing: Connection[] } {
  const side = (idx: number[] | undefined, other: (e: SceneEdge) => string) => {
    const list = (idx ?? []).map((i) => scene.edges[i]);
    const total = list.reduce((a, e) => a + Math.abs(e.weight), 0);
    return list
      .map((e) => ({ id: other(e), weight: e.weight, share: total > 0 ? Math.abs(e.weight) / total : 0, ...(e.heads ? { heads: e.heads } : {}) }))
      .sort((a, b) => Math.abs(b.weight) - Math.abs(a.weight) || (a.id < b.id ? -1 : 1));
  };
  return { incoming: side(scene.incoming.get(id), (e) => e.source), outgoing: side(scene.outgoing.get(id), (e) => e.target) };
}

/** Ids a hover or selection lights up: the nodes themselves and their direct neighbours. */
export function neighbourhood(scene: Scene, ids: readonly string[]): Set<string> {
  const out = new Set<string>();
  for (const id of ids) {
    if (!scene.byId.has(id)) continue;
    out.add(id);
    for (const i of scene.incoming.get(id) ?? []) out.add(scene.edges[i].source);
    for (const i of scene.outgoing.get(id) ?? []) out.add(scene.edges[i].target);
  }
  return out;
}
