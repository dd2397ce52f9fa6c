/**
 * Two attribution graphs aligned: a prompt and its counterfactual, one dictionary against another, one
 * model against another.
 *
 * Nodes are matched by a key that means "the same thing" in both graphs:
 * - features by (layer, aligned token column, feature index) when both graphs use the same dictionary,
 *   else by (layer, column, label) — two dictionaries number their features independently, so only a
 *   label can say that two features are the same; repeated labels in one cell are told apart by rank;
 * - error nodes by (layer, column); embeddings by (column, token text), so a substituted token is a
 *   different embedding; logits by token text (the answer position moves when the lengths differ).
 * Token columns come from alignTokens (substitutions pair, insertions stay unpaired).
 *
 * Influence is compared as each node's share of its graph's total node influence, so graphs of
 * different size and scale compare like for like. Edges are matched by their endpoints' keys.
 */
import type { AttributionGraph, AttributionNode, AttributionNodeKind } from '../attribution/types';
import { alignTokens, type AlignedColumn } from './align-tokens';

export type AlignBy = 'feature' | 'label';

export interface CompareOptions {
  /** 'auto' (default): by feature index when both graphs name the same dictionary and model, else by label. */
  alignBy?: AlignBy | 'auto';
  /** How many gained / lost features and changed edges to list (default 10). */
  top?: number;
}

export interface NodeSide {
  /** Index into the graph's nodes. */
  node: number;
  position: number;
  activation: number;
  /** Share of the graph's total node influence (0 when the graph carries none). */
  influence: number;
  label: string;
}

export interface ComparedNode {
  key: string;
  kind: AttributionNodeKind;
  layer: number;
  /** Aligned token column (-1 for logits, which are matched by token). */
  column: number;
  label: string;
  index: number;
  a?: NodeSide;
  b?: NodeSide;
  status: 'both' | 'onlyA' | 'onlyB';
  /** influence(B) − influence(A), each a share of its own graph's total. */
  influenceDelta: number;
}

export interface ComparedEdge {
  source: string;
  target: string;
  a?: number;
  b?: number;
  delta: number;
}

export interface GraphComparison {
  alignBy: AlignBy;
  /** Why that alignment was chosen, for the reader. */
  alignReason: string;
  columns: (AlignedColumn & { tokenA?: string; tokenB?: string })[];
  nodes: ComparedNode[];
  summary: {
    nodesA: number;
    nodesB: number;
    both: number;
    onlyA: number;
    onlyB: number;
    /** |both| / |A ∪ B| over feature nodes. */
    featureJaccard: number;
    /** Σ min(share A, share B) over matched nodes: 1 when both graphs spread influence the same way. */
    influenceOverlap: number;
    edgesA: number;
    edgesB: number;
    edgesBoth: number;
    /** Largest |weight(B) − weight(A)| over matched edges (0 when no edge is matched). */
    maxEdgeDelta: number;
    /** No node or edge only on one side and every matched value equal. */
    identical: boolean;
  };
  /** Features whose influence share grew most from A to B (present in B). */
  gained: ComparedNode[];
  /** Features whose influence share fell most from A to B (present in A). */
  lost: ComparedNode[];
  /** Matched or one-sided edges with the largest |delta|. */
  changedEdges: ComparedEdge[];
  targets: { token: string; probabilityA?: number; probabilityB?: number }[];
}

/** Each node's share of the graph's total influence; from cumulative influence when only that is known. */
function influenceShares(g: AttributionGraph): Float64Array {
  const out = new Float64Array(g.nodes.length);
  let haveRaw = false;
  g.nodes.forEach((n, i) => {
    if (n.influence !== undefined && Number.isFinite(n.influence)) {
      out[i] = Math.abs(n.influence);
      haveRaw = true;
    }
  });
  if (haveRaw) {
    // Summed in sorted order, so the same graph with its nodes in another order gives the same shares.
    const total = Float64Array.from(out).sort().reduce((s, x) => s + x, 0);
    if (total > 0) for (let i = 0; i < out.length; i++) out[i] /= total;
    return out;
  }
  // Cumulative influence is a running fraction over nodes sorted by influence: successive differences
  // give each node's share (graph files carry only this).
  const withCum = g.nodes
    .map((n, i) => ({ i, c: n.cumulativeInfluence }))
    .filter((x): x is { i: number; c: number } => x.c !== undefined && Number.isFinite(x.c))
    .sort((x, y) => x.c - y.c);
  let prev = 0;
  for (const { i, c } of withCum) {
    out[i] = Math.max(0, c - prev);
    prev = c;
  }
  return out;
}

/** A dictionary's folder as a reader knows it: its last two path parts, not the whole local path. */
const shortPath = (p: string) => p.split(/[\\/]/).filter(Boolean).slice(-2).join('/');

function sameDictionary(a: AttributionGraph, b: AttributionGraph): { same: boolean; why: string } {
  const da = a.source?.dictionary;
  const db = b.source?.dictionary;
  if (a.modelName !== b.modelName) return { same: false, why: `different models (${a.modelName} vs ${b.modelName}): matched by label` };
  if (da === undefined || db === undefined) {
    return da === db
      ? { same: true, why: `same model (${a.modelName}), neither graph names its dictionary: matched by feature index` }
      : { same: false, why: 'only one graph names its dictionary: matched by label' };
  }
  return da === db
    ? { same: true, why: `same dictionary (${shortPath(da)}): matched by (layer, position, feature index)` }
    : { same: false, why: `different dictionaries (${shortPath(da)} vs ${shortPath(db)}): matched by (layer, position, label)` };
}

interface Keyed {
  keys: string[];
  columns: number[];
}

function keyNodes(g: AttributionGraph, columnOf: Int32Array, by: AlignBy): Keyed {
  const keys: string[] = [];
  const columns: number[] = [];
  const seen = new Map<string, number>();
  for (const n of g.nodes) {
    const col = n.kind === 'logit' ? -1 : columnOf[n.position] ?? -1;
    let key: string;
    switch (n.kind) {
      case 'embedding':
        key = `E|${col}|${g.tokens[n.position]?.text ?? n.index}`;
        break;
      case 'error':
        key = `R|${n.layer}|${col}`;
        break;
      case 'logit':
        key = `L|${n.token ?? n.index}${n.minusIndex !== undefined ? `-${n.minusIndex}` : ''}`;
        break;
      case 'feature':
        key = by === 'feature' ? `F|${n.layer}|${col}|${n.index}` : `F|${n.layer}|${col}|${n.label}`;
        break;
    }
    // Repeated labels in one cell (or a file with duplicate nodes) are told apart by their rank.
    const k = seen.get(key) ?? 0;
    seen.set(key, k + 1);
    keys.push(k ? `${key}#${k}` : key);
    columns.push(col);
  }
  return { keys, columns };
}

function side(n: AttributionNode, i: number, share: number): NodeSide {
  return { node: i, position: n.position, activation: n.activation, influence: share, label: n.label };
}

/** Aligns graph B against graph A (see the module comment for what "the same node" means). */
export function compareGraphs(a: AttributionGraph, b: AttributionGraph, opts: CompareOptions = {}): GraphComparison {
  const top = opts.top ?? 10;
  const dict = sameDictionary(a, b);
  const alignBy: AlignBy = opts.alignBy === 'feature' || opts.alignBy === 'label' ? opts.alignBy : dict.same ? 'feature' : 'label';
  const alignReason = opts.alignBy === 'feature' || opts.alignBy === 'label' ? `matched by ${opts.alignBy} (asked for)` : dict.why;

  const ta = a.tokens.map((t) => t.text);
  const tb = b.tokens.map((t) => t.text);
  const al = alignTokens(ta, tb);
  const ka = keyNodes(a, al.columnOfA, alignBy);
  const kb = keyNodes(b, al.columnOfB, alignBy);
  const sa = influenceShares(a);
  const sb = influenceShares(b);

  const byKey = new Map<string, ComparedNode>();
  a.nodes.forEach((n, i) => {
    byKey.set(ka.keys[i], {
      key: ka.keys[i], kind: n.kind, layer: n.layer, column: ka.columns[i], label: n.label, index: n.index,
      a: side(n, i, sa[i]), status: 'onlyA', influenceDelta: -sa[i],
    });
  });
  b.nodes.forEach((n, i) => {
    const prev = byKey.get(kb.keys[i]);
    if (prev) {
      prev.b = side(n, i, sb[i]);
      prev.status = 'both';
      prev.influenceDelta = sb[i] - (prev.a?.influence ?? 0);
    } else {
      byKey.set(kb.keys[i], {
        key: kb.keys[i], kind: n.kind, layer: n.layer, column: kb.columns[i], label: n.label, index: n.index,
        b: side(n, i, sb[i]), status: 'onlyB', influenceDelta: sb[i],
      });
    }
  });
  const nodes = [...byKey.values()];

  // Edges by their endpoints' keys.
  const edgeMap = new Map<string, ComparedEdge>();
  const ea = a.edges;
  for (let e = 0; e < ea.weight.length; e++) {
    const s = ka.keys[ea.source[e]];
    const t = ka.keys[ea.target[e]];
    edgeMap.set(`${s}\u0000${t}`, { source: s, target: t, a: ea.weight[e], delta: -ea.weight[e] });
  }
  const eb = b.edges;
  let edgesBoth = 0;
  let maxEdgeDelta = 0;
  for (let e = 0; e < eb.weight.length; e++) {
    const s = kb.keys[eb.source[e]];
    const t = kb.keys[eb.target[e]];
    const k = `${s}\u0000${t}`;
    const prev = edgeMap.get(k);
    if (prev) {
      prev.b = eb.weight[e];
      prev.delta = eb.weight[e] - (prev.a ?? 0);
      edgesBoth++;
      maxEdgeDelta = Math.max(maxEdgeDelta, Math.abs(prev.delta));
    } else edgeMap.set(k, { source: s, target: t, b: eb.weight[e], delta: eb.weight[e] });
  }

  const count = (st: ComparedNode['status']) => nodes.filter((n) => n.status === st).length;
  const feats = nodes.filter((n) => n.kind === 'feature');
  const featBoth = feats.filter((n) => n.status === 'both').length;
  let overlap = 0;
  let valuesEqual = true;
  for (const n of nodes) {
    if (n.a && n.b) {
      overlap += Math.min(n.a.influence, n.b.influence);
      if (n.a.activation !== n.b.activation || n.a.influence !== n.b.influence) valuesEqual = false;
    }
  }
  const onlyA = count('onlyA');
  const onlyB = count('onlyB');
  const edgesOneSided = edgeMap.size - edgesBoth;

  const gained = feats.filter((n) => n.b).sort((x, y) => y.influenceDelta - x.influenceDelta).filter((n) => n.influenceDelta > 0).slice(0, top);
  const lost = feats.filter((n) => n.a).sort((x, y) => x.influenceDelta - y.influenceDelta).filter((n) => n.influenceDelta < 0).slice(0, top);
  const changedEdges = [...edgeMap.values()].filter((e) => e.delta !== 0).sort((x, y) => Math.abs(y.delta) - Math.abs(x.delta)).slice(0, top);

  const targetTokens = new Map<string, { token: string; probabilityA?: number; probabilityB?: number }>();
  for (const t of a.targets) targetTokens.set(t.token, { token: t.token, probabilityA: t.probability });
  for (const t of b.targets) {
    const prev = targetTokens.get(t.token);
    if (prev) prev.probabilityB = t.probability;
    else targetTokens.set(t.token, { token: t.token, probabilityB: t.probability });
  }

  return {
    alignBy,
    alignReason,
    columns: al.columns.map((c) => ({
      ...c,
      ...(c.a !== null ? { tokenA: ta[c.a] } : {}),
      ...(c.b !== null ? { tokenB: tb[c.b] } : {}),
    })),
    nodes,
    summary: {
      nodesA: a.nodes.length,
      nodesB: b.nodes.length,
      both: count('both'),
      onlyA,
      onlyB,
      featureJaccard: feats.length ? featBoth / feats.length : 1,
      influenceOverlap: overlap,
      edgesA: ea.weight.length,
      edgesB: eb.weight.length,
      edgesBoth,
      maxEdgeDelta,
      identical: onlyA === 0 && onlyB === 0 && edgesOneSided === 0 && maxEdgeDelta === 0 && valuesEqual,
    },
    gained,
    lost,
    changedEdges,
    targets: [...targetTokens.values()],
  };
}
