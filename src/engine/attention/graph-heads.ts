/**
 * Head loadings for the edges of a graph: for every kept edge whose source and target sit at different
 * positions, the heads that carry it (head-loadings.ts, first-hop definition), the largest first.
 *
 * Only kept edges are split (after pruning), so the cost follows the graph that is shown, not the
 * millions of raw edges: one host backward pass per target node with such an edge. The splits are kept
 * with the raw attribution (HeadLoadingMemo), so re-pruning it splits only edges no earlier prune kept.
 */
import type { ModelSpec } from '../model-spec';
import type { Replacement } from '../attribution/replacement';
import type { RawAttribution } from '../attribution/raw';
import { FrozenLinearModel } from './linear-model';
import { headLoadings, type HeadLoadingEdge, type HeadTarget } from './head-loadings';

/** Heads kept per edge. The rest of the edge (edge − Σ kept heads) is the other heads together. */
export const HEADS_PER_EDGE = 4;

/**
 * Host float64 work (multiply-adds × 2) that `auto` head loadings allow: about a quarter of a second
 * in plain JavaScript. The embedded model's graphs need ~10⁸; a 2B-parameter model's need ~10⁹ per
 * target node, so there they run only when asked for (`headLoadings: true`).
 */
export const HEAD_LOADING_AUTO_FLOPS = 4e8;

/** FLOPs of the host backward passes head loadings need: one per target row, from its layer down. */
export function headLoadingFlops(spec: ModelSpec, r: Replacement, targets: { layer: number; position: number }[]): number {
  const d = spec.dModel;
  let f = 0;
  for (const t of targets) {
    const P = t.position + 1;
    for (let l = 0; l <= Math.min(t.layer, spec.nLayers - 1); l++) {
      const a = spec.blocks[l].attn;
      f += 2 * P * d * a.nHeads * a.headDim + a.nHeads * P * P * a.headDim + 2 * P * a.nKvHeads * a.headDim * d;
      if (r.layers[l].wSkip && l < t.layer) f += 2 * P * d * d;
    }
  }
  return f;
}

/** Per-edge heads in CSR form over the graph's edge list: edge e owns entries offsets[e] … offsets[e + 1]. */
export interface EdgeHeads {
  offsets: Int32Array;
  layer: Int32Array;
  head: Int32Array;
  /** Contribution of that head to the edge (same units as the edge; they sum to it over all heads). */
  weight: Float32Array;
}

/** One kept edge in the adjacency's terms: the target row and the source column (both node indices). */
export interface KeptEdge {
  row: number;
  col: number;
  /** Its index into the adjacency's entries (`adjacency.col`): the key its head loadings are kept under. */
  entry?: number;
}

/** The target a node row of the adjacency explains (features and logits; other rows have no inputs). */
export function headTargetOfRow(spec: ModelSpec, r: Replacement, raw: RawAttribution, row: number): HeadTarget | undefined {
  const { layout, features: f } = raw;
  const d = spec.dModel;
  if (row < layout.nFeatures) {
    const k = raw.selected[row];
    const l = f.layer[k];
    const i = f.index[k];
    return { kind: 'feature', layer: l, position: f.pos[k], encoder: r.layers[l].wEnc.data.subarray(i * d, (i + 1) * d) };
  }
  const logitStart = raw.adjacency.nNodes - layout.nLogits;
  if (row >= logitStart) return { kind: 'logit', position: raw.frozen.T - 1, direction: raw.targets[row - logitStart].vec };
  return undefined;
}

/** The sweep column (features in `raw.features` order, errors, tokens) of a graph node index. */
export function sweepColumnOfNode(raw: RawAttribution, node: number): number {
  const nSel = raw.layout.nFeatures;
  return node < nSel ? raw.selected[node] : node - nSel + raw.features.act.length;
}

/** Position of a graph node index (features, errors, tokens, logits). */
export function positionOfNode(raw: RawAttribution, node: number): number {
  const { layout } = raw;
  const T = raw.frozen.T;
  if (node < layout.nFeatures) return raw.features.pos[raw.selected[node]];
  const e = node - layout.nFeatures;
  if (e < layout.nErrors) return e % T;
  if (e < layout.nErrors + layout.nTokens) return e - layout.nErrors;
  return T - 1;
}

export function linearModelOf(spec: ModelSpec, r: Replacement, raw: RawAttribution, zeroBos: boolean): FrozenLinearModel {
  return new FrozenLinearModel({ spec, replacement: r, frozen: raw.frozen, features: raw.features, zeroBos });
}

/** The target rows of kept cross-position edges (what head loadings would cost). */
export function headLoadingTargets(spec: ModelSpec, raw: RawAttribution, kept: KeptEdge[]): { layer: number; position: number }[] {
  const rows = new Set<number>();
  for (const e of kept) if (positionOfNode(raw, e.row) !== positionOfNode(raw, e.col)) rows.add(e.row);
  const logitStart = raw.adjacency.nNodes - raw.layout.nLogits;
  return [...rows].filter((r) => r < raw.layout.nFeatures || r >= logitStart).map((r) => ({ layer: r < raw.layout.nFeatures ? raw.features.layer[raw.selected[r]] : spec.nLayers, position: positionOfNode(raw, r) }));
}

/**
 * FLOPs of the source side of head loadings: each distinct source carried up at its own position
 * (localValues: value projection, the heads' diagonal, skip paths) to the last layer its targets read,
 * plus one dot product per head and edge. With thousands of sources on a d768 model this, not the
 * targets' backward passes, is most of the work.
 */
export function headLoadingSourceFlops(spec: ModelSpec, r: Replacement, raw: RawAttribution, kept: KeptEdge[]): number {
  const d = spec.dModel;
  const lastOf = new Map<number, number>();
  let f = 0;
  const logitStart = raw.adjacency.nNodes - raw.layout.nLogits;
  for (const e of kept) {
    if (positionOfNode(raw, e.row) === positionOfNode(raw, e.col)) continue;
    const last = e.row >= logitStart ? spec.nLayers - 1 : e.row < raw.layout.nFeatures ? raw.features.layer[raw.selected[e.row]] : -1;
    if (last < 0) continue;
    lastOf.set(e.col, Math.max(lastOf.get(e.col) ?? -1, last));
    for (let l = 0; l <= last; l++) f += 2 * spec.blocks[l].attn.nHeads * spec.blocks[l].attn.headDim;
  }
  const nF = raw.layout.nFeatures, T = raw.frozen.T;
  for (const [col, last] of lastOf) {
    const first = col < nF ? raw.features.layer[raw.selected[col]] + 1 : col < nF + raw.layout.nErrors ? Math.floor((col - nF) / T) + 1 : 0;
    for (let l = first; l <= last; l++) {
      const a = spec.blocks[l].attn;
      f += 2 * d * a.nKvHeads * a.headDim + 2 * a.nHeads * a.headDim * d;
      if (r.layers[l].wSkip) f += 2 * d * d;
    }
  }
  return f;
}

/** All the host work head loadings of `kept` would take (targets' backward passes and sources). */
export function headLoadingCost(spec: ModelSpec, r: Replacement, raw: RawAttribution, kept: KeptEdge[]): number {
  return headLoadingFlops(spec, r, headLoadingTargets(spec, raw, kept)) + headLoadingSourceFlops(spec, r, raw, kept);
}

interface HeadPick {
  l: number;
  h: number;
  w: number;
}

/**
 * The head loadings of one raw attribution, kept with it: an edge's split depends on that edge alone,
 * so each is computed once, when a prune first keeps it, and every later prune (the panel's threshold
 * control) reads it back. `hostBackwardPasses` counts the target backward passes run so far.
 */
export class HeadLoadingMemo {
  /** Top heads per adjacency entry (its index into `adjacency.col`), computed so far. */
  readonly byEntry = new Map<number, HeadPick[]>();
  /** 'auto' decides once per attribution (at its first prune), so a re-prune never flips heads on or off. */
  autoEnabled?: boolean;
  hostBackwardPasses = 0;
  edgesSplit = 0;
}

const memos = new WeakMap<RawAttribution, HeadLoadingMemo>();

/** The memo of a raw attribution (created empty on first use; it lives as long as the attribution). */
export function headLoadingMemo(raw: RawAttribution): HeadLoadingMemo {
  let m = memos.get(raw);
  if (!m) memos.set(raw, (m = new HeadLoadingMemo()));
  return m;
}

/**
 * Head loadings of `kept` edges (in the order given; EdgeHeads' edge e is kept[e]). Edges at one
 * position get no entries. Edges that carry their adjacency `entry` are memoised on `raw`: only those
 * not split before are computed.
 */
export function edgeHeadsOf(spec: ModelSpec, r: Replacement, raw: RawAttribution, kept: KeptEdge[], perEdge = HEADS_PER_EDGE): EdgeHeads {
  const memo = headLoadingMemo(raw);
  const picks: (HeadPick[] | undefined)[] = new Array(kept.length);
  const targets: HeadTarget[] = [];
  const targetOfRow = new Map<number, number>();
  const edges: HeadLoadingEdge[] = [];
  const which: number[] = [];
  kept.forEach((e, i) => {
    if (positionOfNode(raw, e.row) === positionOfNode(raw, e.col)) return;
    const known = e.entry !== undefined ? memo.byEntry.get(e.entry) : undefined;
    if (known) {
      picks[i] = known;
      return;
    }
    let ti = targetOfRow.get(e.row);
    if (ti === undefined) {
      const t = headTargetOfRow(spec, r, raw, e.row);
      if (!t) return;
      ti = targets.length;
      targets.push(t);
      targetOfRow.set(e.row, ti);
    }
    edges.push({ source: sweepColumnOfNode(raw, e.col), target: ti });
    which.push(i);
  });
  if (edges.length) {
    const res = headLoadings(linearModelOf(spec, r, raw, false), targets, edges);
    memo.hostBackwardPasses += targets.length;
    memo.edgesSplit += edges.length;
    which.forEach((i, j) => {
      const ph = res.perHead[j];
      // Heads below 0.1 % of the edge are left to "other heads" (they are rounding-level on most edges).
      const edge = ph.reduce((a, v) => a + v, 0);
      const order = Array.from(ph.keys()).filter((x) => ph[x] !== 0 && Math.abs(ph[x]) >= 1e-3 * Math.abs(edge)).sort((a, b) => Math.abs(ph[b]) - Math.abs(ph[a]) || a - b).slice(0, HEADS_PER_EDGE);
      picks[i] = order.map((x) => ({ l: Math.floor(x / res.nHeads), h: x % res.nHeads, w: ph[x] }));
      const entry = kept[i].entry;
      if (entry !== undefined) memo.byEntry.set(entry, picks[i]!);
    });
  }
  const counts = Array.from(picks, (p) => Math.min(perEdge, p?.length ?? 0));
  const offsets = new Int32Array(kept.length + 1);
  for (let i = 0; i < kept.length; i++) offsets[i + 1] = offsets[i] + counts[i];
  const n = offsets[kept.length];
  const out: EdgeHeads = { offsets, layer: new Int32Array(n), head: new Int32Array(n), weight: new Float32Array(n) };
  for (let i = 0; i < kept.length; i++) {
    for (let k = 0; k < counts[i]; k++) {
      const p = picks[i]![k];
      out.layer[offsets[i] + k] = p.l;
      out.head[offsets[i] + k] = p.h;
      out.weight[offsets[i] + k] = p.w;
    }
  }
  return out;
}

/** The heads of a subset of edges: new edge i takes the heads of old edge `from[i]` (-1: none). */
export function selectEdgeHeads(h: EdgeHeads, from: number[]): EdgeHeads {
  const offsets = new Int32Array(from.length + 1);
  from.forEach((e, i) => (offsets[i + 1] = offsets[i] + (e >= 0 ? h.offsets[e + 1] - h.offsets[e] : 0)));
  const n = offsets[from.length];
  const out: EdgeHeads = { offsets, layer: new Int32Array(n), head: new Int32Array(n), weight: new Float32Array(n) };
  from.forEach((e, i) => {
    if (e < 0) return;
    const a = h.offsets[e], len = h.offsets[e + 1] - a;
    out.layer.set(h.layer.subarray(a, a + len), offsets[i]);
    out.head.set(h.head.subarray(a, a + len), offsets[i]);
    out.weight.set(h.weight.subarray(a, a + len), offsets[i]);
  });
  return out;
}

/** The heads of edge e, largest first. */
export function headsOfEdge(h: EdgeHeads, e: number): { layer: number; head: number; weight: number }[] {
  const out = [];
  for (let k = h.offsets[e]; k < h.offsets[e + 1]; k++) out.push({ layer: h.layer[k], head: h.head[k], weight: h.weight[k] });
  return out;
}
