/**
 * QK attribution: why head (layer l, query head h) attends from query position q to key position k.
 *
 * With attention patterns elsewhere and every norm scale frozen (the local replacement model), the
 * residual stream at resid_pre(l) is Σ_sources + x_const (linear-model.ts). The head's query and key are
 * affine in it:
 *     q = R_q · (g_q ⊙ σ_q) ⊙ (W_Q^hᵀ ln1(x_q) + b_Q^h)        (k likewise with W_K of h's key/value head)
 * with ln1 frozen at its per-position scale (its bias, if any, a constant), σ_q / g_q Qwen3's q-norm
 * scale (frozen at the real query's value, so the norm is linear) and gain (1 elsewhere), R_q rotary at
 * position q applied exactly. So q = Σ_i Q_i + Q_0 and k = Σ_j K_j + K_0, where Q_i is source i's image
 * and Q_0 the constant's (biases, GPT-2 positions, b_dec, …). The pre-softmax score splits exactly:
 *     s = scale · q·k = Σ_i Σ_j scale Q_i·K_j            (pairwise: query-side source × key-side source)
 *                     + Σ_i scale Q_i·K_0                (query-only: a source against the key's constant)
 *                     + Σ_j scale Q_0·K_j                (key-only)
 *                     + scale Q_0·K_0                    (bias × bias)
 * `scale` is 1/√head_dim, or Gemma-2's query_pre_attn_scalar^-½. Gemma-2 then soft-caps: the pattern
 * sees cap·tanh(s / cap); the terms decompose s (before the cap) and `capFactor` = capped / s says how
 * much the cap shrinks it. Marginals: a query-side source's total is scale Q_i·k (against the whole key,
 * its query-only term included); a key-side source's is scale q·K_j.
 *
 * Each side's per-source images come from hd host backward passes (one per component of the head's
 * query or key vector) from resid_pre(l) at that position, read at every source (linear-model.ts).
 */
import { EngineError } from '../errors';
import type { AttentionSpec } from '../model-spec';
import { rotaryInvFreq } from '../onnx/forward-graph';
import { FrozenLinearModel, normLinear, normLinearT } from './linear-model';
import { densePatterns } from '../attribution/frozen';

export interface QkQuery {
  layer: number;
  /** Query head. */
  head: number;
  query: number;
  key: number;
}

export interface QkContribution {
  /** Sweep column of the source (features, errors layer-major, tokens); -1 for the constant part. */
  column: number;
  value: number;
}

export interface QkAttribution extends QkQuery {
  /** The key/value head the query head reads (grouped-query attention). */
  kvHead: number;
  scale: number;
  /** Gemma-2's attention soft-cap, when the model has one. */
  softcap?: number;
  /** scale · q·k before the soft-cap: what the terms sum to. */
  scorePre: number;
  /** What the softmax sees: after the soft-cap (= scorePre without one). */
  score: number;
  /** score / scorePre (Gemma-2 only). */
  capFactor?: number;
  /** The head's attention weight from query to key in the forward pass. */
  pattern: number;
  /** The exact split of scorePre: Σ pairwise + query-only + key-only + bias × bias. */
  terms: { pairwise: number; queryOnly: number; keyOnly: number; biasBias: number };
  /** The largest pairwise terms scale·Q_i·K_j, by |value|. */
  pairs: { query: number; key: number; value: number }[];
  /** Query-side sources by |scale·Q_i·k| (each against the whole key). */
  queryMarginal: QkContribution[];
  /** Key-side sources by |scale·q·K_j|. */
  keyMarginal: QkContribution[];
  /** Per-source images on each side, [(nSources + 1) · hd], the constant last (tests, references). */
  qVectors: Float64Array;
  kVectors: Float64Array;
  headDim: number;
}

export interface QkOptions {
  /** How many pairs and marginal contributors to keep (default 20). */
  top?: number;
}

function rotate(a: AttentionSpec, pos: number, v: Float64Array, off: number, inverse: boolean): void {
  const r = a.rotary;
  if (!r) return;
  const inv = rotaryInvFreq(r.dim, r.base, r.scaling);
  const half = r.dim / 2;
  for (let i = 0; i < half; i++) {
    // As the forward graph: the angle is a float32 product, cos / sin of it.
    const th = Math.fround(Math.fround(pos) * inv[i]);
    const c = Math.cos(th), s = inverse ? -Math.sin(th) : Math.sin(th);
    const x1 = v[off + i], x2 = v[off + i + half];
    v[off + i] = x1 * c - x2 * s;
    v[off + i + half] = x2 * c + x1 * s;
  }
}

interface Side {
  /** Column slice of W_Q (or W_K) for this head: W[c, col0 + j]. */
  w: Float32Array;
  stride: number;
  col0: number;
  bias?: Float32Array;
  norm?: AttentionSpec['qNorm'];
}

/** Which positions a query may attend to: causal, and inside a sliding window. */
export function visibleKeys(a: AttentionSpec, query: number): number[] {
  const out = [];
  for (let k = 0; k <= query; k++) if (a.slidingWindow === undefined || query - k < a.slidingWindow) out.push(k);
  return out;
}

export class QkTracer {
  constructor(readonly m: FrozenLinearModel) {}

  private side(layer: number, head: number, which: 'q' | 'k'): Side {
    const a = this.m.parts.spec.blocks[layer].attn;
    const hd = a.headDim;
    if (which === 'q') return { w: a.wq.data, stride: a.wq.cols, col0: head * hd, bias: a.bq, norm: a.qNorm };
    const kv = Math.floor(head / (a.nHeads / a.nKvHeads));
    return { w: a.wk.data, stride: a.wk.cols, col0: kv * hd, bias: a.bk, norm: a.kNorm };
  }

  /** W^hᵀ u (+ b): the head's pre-norm query or key from a normalised residual vector u. */
  private project(s: Side, hd: number, u: Float64Array, withBias: boolean): Float64Array {
    const d = this.m.d;
    const y = new Float64Array(hd);
    for (let c = 0; c < d; c++) {
      const uc = u[c];
      if (uc === 0) continue;
      const r = c * s.stride + s.col0;
      for (let j = 0; j < hd; j++) y[j] += uc * s.w[r + j];
    }
    if (withBias && s.bias) for (let j = 0; j < hd; j++) y[j] += s.bias[s.col0 + j];
    return y;
  }

  /** The real query or key vector (after norm and rotary) and the frozen q/k-norm factor per component. */
  private real(layer: number, pos: number, s: Side, xReal: Float64Array): { vec: Float64Array; factor: Float64Array } {
    const { spec, frozen } = this.m.parts;
    const blk = spec.blocks[layer], a = blk.attn, hd = a.headDim, d = this.m.d;
    const u = Float64Array.from(xReal.subarray(pos * d, (pos + 1) * d));
    normLinear(blk.ln1, frozen.ln1[layer][pos], u);
    if (blk.ln1.bias) for (let c = 0; c < d; c++) u[c] += blk.ln1.bias[c];
    const pre = this.project(s, hd, u, true);
    const factor = new Float64Array(hd).fill(1);
    if (s.norm) {
      let ms = 0;
      for (const v of pre) ms += v * v;
      const sc = 1 / Math.sqrt(ms / hd + s.norm.eps);
      const w = s.norm.weight;
      for (let j = 0; j < hd; j++) factor[j] = sc * (s.norm.plusOne ? 1 + w[j] : w[j]);
    }
    const vec = Float64Array.from(pre, (v, j) => v * factor[j]);
    rotate(a, pos, vec, 0, false);
    return { vec, factor };
  }

  /** Real pre-softmax scores (before any soft-cap) of every visible key for a query: the forward pass's own. */
  realScores(layer: number, head: number, query: number): Float64Array {
    const a = this.m.parts.spec.blocks[layer].attn;
    const x = this.m.realResidPre(layer, query);
    const q = this.real(layer, query, this.side(layer, head, 'q'), x).vec;
    const ks = this.side(layer, head, 'k');
    const out = new Float64Array(query + 1).fill(-Infinity);
    for (const k of visibleKeys(a, query)) {
      const kv = this.real(layer, k, ks, x).vec;
      let s = 0;
      for (let j = 0; j < a.headDim; j++) s += q[j] * kv[j];
      out[k] = s * a.scale;
    }
    return out;
  }

  /** Per-source images of one side's vector at `pos`: [(nSources + 1) · hd], the constant last. */
  private images(layer: number, pos: number, s: Side, xReal: Float64Array): Float64Array {
    const m = this.m;
    const { spec, frozen } = m.parts;
    const blk = spec.blocks[layer], a = blk.attn, hd = a.headDim, d = m.d;
    const { factor } = this.real(layer, pos, s, xReal);
    const n = m.nSources;
    const out = new Float64Array((n + 1) * hd);
    // Row j of the linear map x ↦ R(factor ⊙ W^hᵀ ln1(x)): ln1ᵀ W^h (factor ⊙ Rᵀ e_j).
    for (let j = 0; j < hd; j++) {
      const e = new Float64Array(hd);
      e[j] = 1;
      rotate(a, pos, e, 0, true);
      for (let i = 0; i < hd; i++) e[i] *= factor[i];
      const g = new Float64Array(m.T * d);
      for (let c = 0; c < d; c++) {
        let acc = 0;
        const r = c * s.stride + s.col0;
        for (let i = 0; i < hd; i++) acc += s.w[r + i] * e[i];
        g[pos * d + c] = acc;
      }
      normLinearT(blk.ln1, frozen.ln1[layer][pos], g, pos * d, d);
      const vals = m.sourceValues(m.backward(g, layer, 'pre', pos));
      for (let i = 0; i < n; i++) out[i * hd + j] = vals[i];
    }
    // The constant: the image of x_const plus the biases that enter after ln1's linear part.
    const xc = m.constantResidPre(layer, pos);
    const u = Float64Array.from(xc.subarray(pos * d, (pos + 1) * d));
    normLinear(blk.ln1, frozen.ln1[layer][pos], u);
    if (blk.ln1.bias) for (let c = 0; c < d; c++) u[c] += blk.ln1.bias[c];
    const c0 = this.project(s, hd, u, true);
    for (let j = 0; j < hd; j++) c0[j] *= factor[j];
    rotate(a, pos, c0, 0, false);
    out.set(c0, n * hd);
    return out;
  }

  trace(qq: QkQuery, opts: QkOptions = {}): QkAttribution {
    const m = this.m;
    const spec = m.parts.spec;
    const { layer, head, query, key } = qq;
    if (!Number.isInteger(layer) || layer < 0 || layer >= m.L) throw new EngineError('ATTENTION_QUERY_INVALID', `Layer ${layer} does not exist (the model has layers 0..${m.L - 1}).`, 'Pick a layer from the graph.');
    const a = spec.blocks[layer].attn;
    if (!Number.isInteger(head) || head < 0 || head >= a.nHeads) throw new EngineError('ATTENTION_QUERY_INVALID', `Head ${head} does not exist at layer ${layer} (heads 0..${a.nHeads - 1}).`, 'Pass --head LAYER.HEAD with a head the layer has.');
    if (!Number.isInteger(query) || query < 0 || query >= m.T) throw new EngineError('ATTENTION_QUERY_INVALID', `Query position ${query} is outside the prompt (0..${m.T - 1}).`);
    if (!visibleKeys(a, query).includes(key)) {
      throw new EngineError('ATTENTION_QUERY_INVALID', `Position ${query} cannot attend to position ${key} at layer ${layer} (keys must come at or before the query${a.slidingWindow !== undefined ? ` and within the sliding window of ${a.slidingWindow}` : ''}).`, 'Pick an earlier key position.');
    }
    const hd = a.headDim;
    const xReal = m.realResidPre(layer, query);
    const qs = this.side(layer, head, 'q'), ks = this.side(layer, head, 'k');
    const Q = this.images(layer, query, qs, xReal);
    const K = this.images(layer, key, ks, xReal);
    const n = m.nSources;
    const qTot = new Float64Array(hd), kTot = new Float64Array(hd);
    for (let i = 0; i <= n; i++) for (let j = 0; j < hd; j++) {
      qTot[j] += Q[i * hd + j];
      kTot[j] += K[i * hd + j];
    }
    const dot = (A: Float64Array, i: number, B: Float64Array, k: number) => {
      let s = 0;
      for (let j = 0; j < hd; j++) s += A[i * hd + j] * B[k * hd + j];
      return s;
    };
    const sc = a.scale;
    let scorePre = 0;
    for (let j = 0; j < hd; j++) scorePre += qTot[j] * kTot[j];
    scorePre *= sc;
    const qMarg: QkContribution[] = [], kMarg: QkContribution[] = [];
    let queryOnly = 0, keyOnly = 0;
    const qNz: number[] = [], kNz: number[] = [];
    for (let i = 0; i < n; i++) {
      const qm = sc * dot(Q, i, kTot, 0);
      const km = sc * dot(qTot, 0, K, i);
      if (qm !== 0) qMarg.push({ column: i, value: qm });
      if (km !== 0) kMarg.push({ column: i, value: km });
      let qz = false, kz = false;
      for (let j = 0; j < hd; j++) {
        if (Q[i * hd + j] !== 0) qz = true;
        if (K[i * hd + j] !== 0) kz = true;
      }
      if (qz) qNz.push(i);
      if (kz) kNz.push(i);
      queryOnly += sc * dot(Q, i, K, n);
      keyOnly += sc * dot(Q, n, K, i);
    }
    const biasBias = sc * dot(Q, n, K, n);
    const top = Math.max(1, opts.top ?? 20);
    const byAbs = (x: { value: number }, y: { value: number }) => Math.abs(y.value) - Math.abs(x.value);
    qMarg.sort(byAbs);
    kMarg.sort(byAbs);
    // Pairs: every non-zero query-side source against every non-zero key-side one, keeping the largest.
    let pairwise = 0;
    const pairs: { query: number; key: number; value: number }[] = [];
    let floor = 0;
    for (const i of qNz) {
      for (const k of kNz) {
        const v = sc * dot(Q, i, K, k);
        pairwise += v;
        if (Math.abs(v) <= floor) continue;
        pairs.push({ query: i, key: k, value: v });
        if (pairs.length >= 4 * top) {
          pairs.sort(byAbs);
          pairs.length = top;
          floor = Math.abs(pairs[top - 1].value);
        }
      }
    }
    pairs.sort(byAbs);
    if (pairs.length > top) pairs.length = top;
    const score = a.softcap ? a.softcap * Math.tanh(scorePre / a.softcap) : scorePre;
    return {
      layer, head, query, key,
      kvHead: Math.floor(head / (a.nHeads / a.nKvHeads)),
      scale: sc,
      ...(a.softcap ? { softcap: a.softcap, capFactor: scorePre !== 0 ? score / scorePre : 1 } : {}),
      scorePre,
      score,
      pattern: densePatterns(m.parts.frozen, 'QK attribution')[layer][(head * m.T + query) * m.T + key],
      terms: { pairwise, queryOnly, keyOnly, biasBias },
      pairs,
      queryMarginal: qMarg.slice(0, top),
      keyMarginal: kMarg.slice(0, top),
      qVectors: Q,
      kVectors: K,
      headDim: hd,
    };
  }
}
