/**
 * Head loadings: which attention heads carry an edge whose source and target sit at different positions.
 *
 * Definition (first hop). In the local replacement model (attention patterns and norm scales frozen,
 * MLPs replaced by constant-activation features), a source's signal reaches another position only
 * through attention value/output hops P_h[q, k] · W_V^h W_O^h with q ≠ k. Expand the edge s → t into
 * paths: every path from a source at position p_s to a target at p_t ≠ p_s leaves p_s for the first
 * time at exactly one (layer l, head h) — before that hop it stays at p_s (residual stream, skip path,
 * the diagonal P_h[p_s, p_s] of every head). So
 *     edge(s → t) = Σ_{l, h} C_{l,h}(s → t),
 *     C_{l,h}(s → t) = Σ_{q ≠ p_s} P^l_h[q, p_s] · ⟨ W_O^h-side gradient of t at (l, q), v^{l,h}_local(s) ⟩,
 * where v^{l,h}_local(s) is head h's value vector at p_s produced by the source's position-local signal
 * (its decoder vector carried up at p_s through the residual stream, skip paths and the heads' diagonal
 * attention), and the gradient is the target's full frozen-model gradient (all paths after the hop).
 * The split is exact — no bypass term — because a cross-position edge has no path that never leaves
 * p_s. It credits the head that first moves the source's information away from its position: for a
 * token → logit edge through a previous-token head then an induction head, the previous-token head.
 * (circuit-tracer's open PR #114 splits per single layer instead: per-head parts of that layer plus a
 * bypass term for paths that skip it. The first-hop split sums over all layers at once.)
 *
 * Cost: one host-side backward pass per target row that has a kept cross-position edge (the gradient at
 * every head's value vectors is what the ONNX sweep never returns), plus one position-local forward per
 * source; both in float64 on the CPU (linear-model.ts).
 */
import type { FrozenLinearModel } from './linear-model';
import { normLinear, normLinearT } from './linear-model';
import { densePatterns } from '../attribution/frozen';

/** What a head-loading target is: a feature (its encoder row at its layer's transcoder input) or a logit direction. */
export type HeadTarget =
  | { kind: 'feature'; layer: number; position: number; encoder: Float32Array }
  | { kind: 'logit'; position: number; direction: Float32Array };

/** A source by its sweep column: features first, then errors (layer-major), then tokens. */
export interface HeadLoadingEdge {
  /** Sweep column of the source. */
  source: number;
  target: number;
}

export interface HeadLoadingResult {
  /** Per edge, contributions per (layer, head): index layer · H + head (H = max heads per layer). */
  perHead: Float64Array[];
  /** Per edge, the edge itself recomputed on the host (Σ perHead equals it). */
  total: Float64Array;
  nHeads: number;
}

/** Source description from its sweep column. */
export function sourceOfColumn(m: FrozenLinearModel, col: number): { kind: 'feature' | 'error' | 'embedding'; layer: number; position: number; feature?: number } {
  const f = m.parts.features;
  const nF = f.act.length;
  if (col < nF) return { kind: 'feature', layer: f.layer[col], position: f.pos[col], feature: col };
  if (col < nF + m.L * m.T) return { kind: 'error', layer: Math.floor((col - nF) / m.T), position: (col - nF) % m.T };
  return { kind: 'embedding', layer: -1, position: col - nF - m.L * m.T };
}

/**
 * The source's position-local value vectors: for each attention layer l it reaches (from the layer after
 * the one it writes into, up to `lastLayer`), v[l] = ln1(x_local(l)) W_V ([Hkv · hd]), where x_local is
 * the source's signal kept at its own position.
 */
export function localValues(m: FrozenLinearModel, col: number, lastLayer: number): (Float64Array | undefined)[] {
  const { spec, frozen, features: f, replacement: r } = m.parts;
  const d = m.d;
  const src = sourceOfColumn(m, col);
  const p = src.position;
  const x = new Float64Array(d);
  if (src.kind === 'feature') {
    const w = m.decoderInto(col, src.layer)!;
    for (let c = 0; c < d; c++) x[c] = f.act[col] * w[c];
  } else if (src.kind === 'error') {
    x.set(f.errors.subarray((src.layer * m.T + p) * d, (src.layer * m.T + p + 1) * d));
  } else {
    x.set(frozen.embeddings.subarray(p * d, (p + 1) * d));
  }
  const out: (Float64Array | undefined)[] = new Array(m.L).fill(undefined);
  const u = new Float64Array(d);
  for (let l = src.layer + 1; l <= lastLayer; l++) {
    const blk = spec.blocks[l], a = blk.attn;
    const H = a.nHeads, Hkv = a.nKvHeads, hd = a.headDim, kvW = Hkv * hd, rep = H / Hkv;
    u.set(x);
    normLinear(blk.ln1, frozen.ln1[l][p], u);
    const v = new Float64Array(kvW);
    // Weights read once per layer (`data` is a getter on lazily loaded matrices: not in the inner loops).
    const wv = a.wv.data, wo = a.wo.data;
    for (let c = 0; c < d; c++) {
      const uc = u[c];
      if (uc === 0) continue;
      for (let j = 0; j < kvW; j++) v[j] += uc * wv[c * kvW + j];
    }
    out[l] = v;
    // The diagonal of every head keeps the signal at p.
    const y = new Float64Array(d);
    const P = densePatterns(frozen, 'Head loadings')[l];
    for (let h = 0; h < H; h++) {
      const pd = P[(h * m.T + p) * m.T + p];
      if (pd === 0) continue;
      const kv = Math.floor(h / rep);
      for (let j = 0; j < hd; j++) {
        const z = pd * v[kv * hd + j];
        const row = (h * hd + j) * d;
        for (let c = 0; c < d; c++) y[c] += z * wo[row + c];
      }
    }
    if (blk.ln1Post) normLinear(blk.ln1Post, frozen.ln1Post[l][p], y);
    for (let c = 0; c < d; c++) x[c] += y[c];
    const ws = r.layers[l].wSkip;
    if (ws) {
      const xin = Float64Array.from(x);
      if (r.inputHook === 'mlp_in') normLinear(blk.ln2, frozen.ln2[l][p], xin);
      const W = ws.data;
      for (let c = 0; c < d; c++) for (let e = 0; e < d; e++) x[e] += xin[c] * W[c * d + e];
    }
    if (src.kind === 'feature') {
      const w = m.decoderInto(col, l);
      if (w && l > src.layer) for (let c = 0; c < d; c++) x[c] += f.act[col] * w[c];
    }
  }
  return out;
}

/** The target's gradient field placed where it reads, and where the backward pass starts. */
export function targetSeed(m: FrozenLinearModel, t: HeadTarget): { g: Float64Array; layer: number; at: 'mid' | 'pre'; position: number } {
  const { spec, frozen, replacement: r } = m.parts;
  const d = m.d;
  const g = new Float64Array(m.T * d);
  const p = t.position;
  if (t.kind === 'feature') {
    for (let c = 0; c < d; c++) g[p * d + c] = t.encoder[c];
    if (r.inputHook === 'mlp_in') normLinearT(spec.blocks[t.layer].ln2, frozen.ln2[t.layer][p], g, p * d, d);
    return { g, layer: t.layer, at: 'mid', position: p };
  }
  for (let c = 0; c < d; c++) g[p * d + c] = t.direction[c];
  normLinearT(spec.lnFinal, frozen.lnf[p], g, p * d, d);
  return { g, layer: m.L, at: 'pre', position: p };
}

/**
 * Head loadings of the given edges. `targets[i]` describes target i; edges refer to targets by index.
 * Edges whose source and target share a position get all-zero loadings (no head carries them).
 */
export function headLoadings(m: FrozenLinearModel, targets: HeadTarget[], edges: HeadLoadingEdge[]): HeadLoadingResult {
  const spec = m.parts.spec;
  const nH = Math.max(...spec.blocks.map((b) => b.attn.nHeads));
  const byTarget = new Map<number, number[]>();
  edges.forEach((e, i) => {
    const list = byTarget.get(e.target);
    if (list) list.push(i);
    else byTarget.set(e.target, [i]);
  });
  const perHead = edges.map(() => new Float64Array(m.L * nH));
  const total = new Float64Array(edges.length);
  const local = new Map<string, (Float64Array | undefined)[]>();
  for (const [ti, list] of byTarget) {
    const seed = targetSeed(m, targets[ti]);
    const cross = list.filter((i) => sourceOfColumn(m, edges[i].source).position !== seed.position);
    if (!cross.length) continue;
    const goff: Float64Array[][] = new Array(m.L);
    const grads = m.backward(seed.g, seed.layer, seed.at, seed.position, (l, off) => (goff[l] = off));
    const lastLayer = seed.at === 'mid' ? seed.layer : m.L - 1;
    for (const i of cross) {
      const col = edges[i].source;
      total[i] = m.sourceValue(grads, col);
      const key = `${col}:${lastLayer}`;
      let v = local.get(key);
      if (!v) local.set(key, (v = localValues(m, col, lastLayer)));
      const p = sourceOfColumn(m, col).position;
      for (let l = 0; l <= lastLayer; l++) {
        const vl = v[l];
        if (!vl || !goff[l]) continue;
        const a = spec.blocks[l].attn;
        const hd = a.headDim, rep = a.nHeads / a.nKvHeads;
        for (let h = 0; h < a.nHeads; h++) {
          const o = goff[l][h], kv = Math.floor(h / rep);
          let s = 0;
          for (let j = 0; j < hd; j++) s += o[p * hd + j] * vl[kv * hd + j];
          perHead[i][l * nH + h] = s;
        }
      }
    }
  }
  return { perHead, total, nHeads: nH };
}
