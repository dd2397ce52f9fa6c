/**
 * Head loadings for the edges of a graph: for every kept edge whose source and target sit at different
 * positions, the heads that carry it (head-loadings.ts, first-hop definition), the largest first.
 *
 * Only kept edges are split (after pruning), so the cost follows the graph that is shown, not the
 * millions of raw edges: one host backward pass per target node with such an edge.
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

/**
 * Head loadings of `kept` edges (in the order given; EdgeHeads' edge e is kept[e]). Edges at one
 * position get no entries.
 */
/** The target rows of kept cross-position edges (what head loadings would cost). */
export function headLoadingTargets(spec: ModelSpec, raw: RawAttribution, kept: KeptEdge[]): { layer: number; position: number }[] {
  const rows = new Set<number>();
  for (const e of kept) if (positionOfNode(raw, e.row) !== positionOfNode(raw, e.col)) rows.add(e.row);
  const logitStart = raw.adjacency.nNodes - raw.layout.nLogits;
  return [...rows].filter((r) => r < raw.layout.nFeatures || r >= logitStart).map((r) => ({ layer: r < raw.layout.nFeatures ? raw.features.layer[raw.selected[r]] : spec.nLayers, position: positionOfNode(raw, r) }));
}

export function edgeHeadsOf(spec: ModelSpec, r: Replacement, raw: RawAttribution, kept: KeptEdge[], perEdge = HEADS_PER_EDGE): EdgeHeads {
  const m = linearModelOf(spec, r, raw, false);
  const targets: HeadTarget[] = [];
  const targetOfRow = new Map<number, number>();
  const edges: HeadLoadingEdge[] = [];
  const which: number[] = [];
  kept.forEach((e, i) => {
    if (positionOfNode(raw, e.row) === positionOfNode(raw, e.col)) return;
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
  const res = headLoadings(m, targets, edges);
  const counts = new Int32Array(kept.length);
  const picks: { l: number; h: number; w: number }[][] = new Array(kept.length);
  which.forEach((i, j) => {
    const ph = res.perHead[j];
    // Heads below 0.1 % of the edge are left to "other heads" (they are rounding-level on most edges).
    const edge = ph.reduce((a, v) => a + v, 0);
    const order = Array.from(ph.keys()).filter((x) => ph[x] !== 0 && Math.abs(ph[x]) >= 1e-3 * Math.abs(edge)).sort((a, b) => Math.abs(ph[b]) - Math.abs(ph[a]) || a - b).slice(0, perEdge);
    picks[i] = order.map((x) => ({ l: Math.floor(x / res.nHeads), h: x % res.nHeads, w: ph[x] }));
    counts[i] = picks[i].length;
  });
  const offsets = new Int32Array(kept.length + 1);
  for (let i = 0; i < kept.length; i++) offsets[i + 1] = offsets[i] + counts[i];
  const n = offsets[kept.length];
  const out: EdgeHeads = { offsets, layer: new Int32Array(n), head: new Int32Array(n), weight: new Float32Array(n) };
  for (let i = 0; i < kept.length; i++) {
    (picks[i] ?? []).forEach((p, k) => {
      out.layer[offsets[i] + k] = p.l;
      out.head[offsets[i] + k] = p.h;
      out.weight[offsets[i] + k] = p.w;
    });
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
