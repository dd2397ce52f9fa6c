/**
 * The local replacement model of one prompt, written out in plain TypeScript (float64) so that attention
 * can be looked inside: head loadings need the gradient at every head's value vectors, QK attribution
 * needs every source's contribution to one query and one key vector. Neither quantity leaves the ONNX
 * backward sweep (which returns only source · gradient dot products), so this module recomputes the
 * same frozen linear map on the host, only for the few targets and positions asked about.
 *
 * The model (circuit-tracing method, as onnx/backward-graph.ts): attention patterns and every norm scale
 * frozen at the prompt's values; each MLP replaced by its transcoder features (constant activations,
 * graph sources), a constant b_dec, the skip path W_skip (linear in the transcoder input) and a constant
 * error (a source). The residual stream at any layer is then
 *     x = Σ_sources (linear image of the source) + x_const,
 * where sources are active features (their activation-scaled decoder vectors), error vectors and token
 * embeddings, and x_const collects every bias: GPT-2's position embeddings, norm biases, attention
 * value/output biases, transcoder b_dec and — when BOS features are zeroed as circuit-tracer does — the
 * frozen MLP output at the BOS position (those features and that error are not graph sources, so they
 * stay constants rather than vanishing; with them x reproduces the real residual stream exactly).
 *
 * Conventions: a "field" is a Float64Array [T, d] (one vector per position). Positions past the last
 * one a target or key can see are never read.
 */
import type { ModelSpec, NormSpec } from '../model-spec';
import type { ActiveFeatures } from '../attribution/features';
import { densePatterns, type FrozenForward } from '../attribution/frozen';
import { decodeSpan, type Replacement } from '../attribution/replacement';

export interface FrozenParts {
  spec: ModelSpec;
  replacement: Replacement;
  frozen: FrozenForward;
  features: ActiveFeatures;
  /** Whether features and errors at position 0 were zeroed (dropped from the graph's sources). */
  zeroBos: boolean;
}

/** Gradients of one backward pass, at every place a source writes. */
export interface SourceGradients {
  /** gPost[l]: gradient at hook_resid_post(l) ([T, d]) for every layer below the seed; undefined above. */
  post: (Float64Array | undefined)[];
  /** Gradient at the token embeddings (hook_resid_pre(0)), [T, d]. */
  embed: Float64Array;
}

/** Σ_{q ≠ k} P_h[q, k] · (W_O^h)ᵀ g_attn[q]: the gradient at head h's value vector at key k, off the diagonal. */
export type OffDiagonalValueGrad = (layer: number, gz: Float64Array[]) => void;

const gainCache = new WeakMap<NormSpec, Float64Array>();
export function gainOf(n: NormSpec): Float64Array {
  let g = gainCache.get(n);
  if (!g) {
    g = Float64Array.from(n.weight, (w) => (n.plusOne ? 1 + w : w));
    gainCache.set(n, g);
  }
  return g;
}

/**
 * The frozen norm's linear part at one position, in place on v (length d): y = centre(v)·s·w.
 * Its transpose is centre(s·(w ⊙ g)) — the same operation, since centring is symmetric — so one
 * function serves forward and backward.
 */
export function normLinear(n: NormSpec, s: number, v: Float64Array, off = 0, len = n.weight.length): void {
  const w = gainOf(n);
  if (n.kind === 'layer') {
    let mean = 0;
    for (let i = 0; i < len; i++) mean += v[off + i];
    mean /= len;
    for (let i = 0; i < len; i++) v[off + i] -= mean;
  }
  for (let i = 0; i < len; i++) v[off + i] *= s * w[i];
}

/** Transpose of the centre-then-scale map (for LayerNorm the centring is applied after the gain). */
export function normLinearT(n: NormSpec, s: number, g: Float64Array, off = 0, len = n.weight.length): void {
  const w = gainOf(n);
  for (let i = 0; i < len; i++) g[off + i] *= s * w[i];
  if (n.kind === 'layer') {
    let mean = 0;
    for (let i = 0; i < len; i++) mean += g[off + i];
    mean /= len;
    for (let i = 0; i < len; i++) g[off + i] -= mean;
  }
}

export class FrozenLinearModel {
  readonly L: number;
  readonly T: number;
  readonly d: number;

  constructor(readonly parts: FrozenParts) {
    this.L = parts.spec.nLayers;
    this.T = parts.frozen.T;
    this.d = parts.spec.dModel;
  }

  // -------------------------------------------------------------------------------------------------
  // Backward (transpose) pieces

  /** Transpose of layer l's skip path (x_in · W_skip, x_in = resid_mid or ln2(resid_mid)), added to g. */
  private skipBackward(l: number, g: Float64Array, upTo: number): void {
    const ws = this.parts.replacement.layers[l].wSkip;
    if (!ws) return;
    const d = this.d, W = ws.data;
    const ln2 = this.parts.spec.blocks[l].ln2;
    const tmp = new Float64Array(d);
    for (let t = 0; t <= upTo; t++) {
      const o = t * d;
      let any = false;
      for (let c = 0; c < d && !any; c++) any = g[o + c] !== 0;
      if (!any) continue;
      for (let c = 0; c < d; c++) {
        let s = 0;
        const r = c * d;
        for (let e = 0; e < d; e++) s += W[r + e] * g[o + e];
        tmp[c] = s;
      }
      if (this.parts.replacement.inputHook === 'mlp_in') normLinearT(ln2, this.parts.frozen.ln2[l][t], tmp);
      for (let c = 0; c < d; c++) g[o + c] += tmp[c];
    }
  }

  /**
   * Transpose of layer l's attention (value/output path, patterns frozen), added to g (at resid_mid → at
   * resid_pre). `upTo`: the last position with a non-zero gradient. With `offDiag`, also reports per
   * query head the off-diagonal gradient at its value vectors, [T, hd] per head.
   */
  private attnBackward(l: number, g: Float64Array, upTo: number, offDiag?: OffDiagonalValueGrad): void {
    const { spec, frozen } = this.parts;
    const blk = spec.blocks[l], a = blk.attn;
    const d = this.d, H = a.nHeads, Hkv = a.nKvHeads, hd = a.headDim, rep = H / Hkv;
    const wo = a.wo.data, wv = a.wv.data, P = densePatterns(frozen, 'Attention through the linear model')[l];
    const T = this.T;
    const gA = g.slice(0, (upTo + 1) * d);
    if (blk.ln1Post) for (let t = 0; t <= upTo; t++) normLinearT(blk.ln1Post, frozen.ln1Post[l][t], gA, t * d, d);
    // gz[h][q] = W_O^h g_A[q]   (wo is [H·hd, d])
    // Positions whose gradient is zero (above the seed, or never reached) are skipped throughout.
    const live = new Uint8Array(upTo + 1);
    for (let q = 0; q <= upTo; q++) for (let c = 0; c < d; c++) if (gA[q * d + c] !== 0) {
      live[q] = 1;
      break;
    }
    const gz: Float64Array[] = [];
    for (let h = 0; h < H; h++) {
      const z = new Float64Array((upTo + 1) * hd);
      for (let q = 0; q <= upTo; q++) {
        if (!live[q]) continue;
        for (let j = 0; j < hd; j++) {
          let s = 0;
          const r = (h * hd + j) * d, o = q * d;
          for (let c = 0; c < d; c++) s += wo[r + c] * gA[o + c];
          z[q * hd + j] = s;
        }
      }
      gz.push(z);
    }
    // gv[kv][k] = Σ_h∈kv Σ_q≥k P_h[q, k] gz[h][q]
    const gv = new Float64Array(Hkv * (upTo + 1) * hd);
    const off: Float64Array[] = [];
    for (let h = 0; h < H; h++) {
      const kv = Math.floor(h / rep);
      const o = offDiag ? new Float64Array(T * hd) : undefined;
      for (let q = 0; q <= upTo; q++) {
        if (!live[q]) continue;
        const row = (h * T + q) * T;
        for (let k = 0; k <= q; k++) {
          const p = P[row + k];
          if (p === 0) continue;
          const dst = (kv * (upTo + 1) + k) * hd, src = q * hd;
          for (let j = 0; j < hd; j++) gv[dst + j] += p * gz[h][src + j];
          if (o && k !== q) for (let j = 0; j < hd; j++) o[k * hd + j] += p * gz[h][src + j];
        }
      }
      if (o) off.push(o);
    }
    if (offDiag) offDiag(l, off);
    // g_pre += ln1ᵀ (W_V gv)   (wv is [d, Hkv·hd])
    const u = new Float64Array(d);
    const kvW = Hkv * hd;
    const reached = new Uint8Array(upTo + 1);
    for (let q = 0; q <= upTo; q++) if (live[q]) for (let k = 0; k <= q; k++) reached[k] = 1;
    for (let k = 0; k <= upTo; k++) {
      if (!reached[k]) continue;
      for (let c = 0; c < d; c++) {
        let s = 0;
        const r = c * kvW;
        for (let kv = 0; kv < Hkv; kv++) {
          const src = (kv * (upTo + 1) + k) * hd;
          for (let j = 0; j < hd; j++) s += wv[r + kv * hd + j] * gv[src + j];
        }
        u[c] = s;
      }
      normLinearT(blk.ln1, frozen.ln1[l][k], u);
      for (let c = 0; c < d; c++) g[k * d + c] += u[c];
    }
  }

  /**
   * Backward from a gradient field `g` placed at layer `layer`'s resid_mid (`at: 'mid'`, below the MLP:
   * a transcoder's input) or at resid_pre (`at: 'pre'`, an attention layer's input; layer = nLayers is
   * after the last block). Returns the gradient where each source writes. `g` is consumed.
   */
  backward(g: Float64Array, layer: number, at: 'mid' | 'pre', upTo: number, offDiag?: OffDiagonalValueGrad): SourceGradients {
    const post: (Float64Array | undefined)[] = new Array(this.L).fill(undefined);
    if (at === 'mid') this.attnBackward(layer, g, upTo, offDiag);
    for (let l = layer - 1; l >= 0; l--) {
      post[l] = g.slice();
      this.skipBackward(l, g, upTo);
      this.attnBackward(l, g, upTo, offDiag);
    }
    return { post, embed: g };
  }

  // -------------------------------------------------------------------------------------------------
  // Sources

  /** Number of sources, in the sweep's column order: active features, errors (layer-major), tokens. */
  get nSources(): number {
    return this.parts.features.act.length + this.L * this.T + this.T;
  }

  /**
   * The activation-scaled decoder vector feature k writes into layer j (undefined if it does not):
   * per-layer transcoders write into their own layer, a CLT feature into every layer from its own on.
   */
  decoderInto(k: number, j: number): Float32Array | undefined {
    const { replacement: r, features: f } = this.parts;
    const i = f.layer[k];
    if (j < i || (r.kind !== 'clt' && j !== i)) return undefined;
    const d = this.d;
    const off = f.index[k] * decodeSpan(r, i) * d + (j - i) * d;
    return r.layers[i].wDec.data.subarray(off, off + d);
  }

  /** One source's direct effect on the seed (its column of sourceValues). */
  sourceValue(grads: SourceGradients, col: number): number {
    const { features: f, frozen } = this.parts;
    const d = this.d, L = this.L, T = this.T, nF = f.act.length;
    const dot = (a: ArrayLike<number>, ao: number, b: Float64Array, bo: number) => {
      let s = 0;
      for (let c = 0; c < d; c++) s += a[ao + c] * b[bo + c];
      return s;
    };
    if (col < nF) {
      let s = 0;
      for (let j = f.layer[col]; j < L; j++) {
        const g = grads.post[j], w = g && this.decoderInto(col, j);
        if (g && w) s += dot(w, 0, g, f.pos[col] * d);
      }
      return f.act[col] * s;
    }
    if (col < nF + L * T) {
      const l = Math.floor((col - nF) / T), t = (col - nF) % T;
      const g = grads.post[l];
      return g ? dot(f.errors, (l * T + t) * d, g, t * d) : 0;
    }
    const t = col - nF - L * T;
    return dot(frozen.embeddings, t * d, grads.embed, t * d);
  }

  /** Every source's direct effect on the seed (source value · gradient), in the sweep's column order. */
  sourceValues(grads: SourceGradients): Float64Array {
    const { features: f, frozen } = this.parts;
    const d = this.d, L = this.L, T = this.T;
    const nF = f.act.length;
    const out = new Float64Array(this.nSources);
    for (let k = 0; k < nF; k++) {
      const p = f.pos[k];
      let s = 0;
      for (let j = f.layer[k]; j < L; j++) {
        const g = grads.post[j];
        const w = g && this.decoderInto(k, j);
        if (!g || !w) continue;
        for (let c = 0; c < d; c++) s += w[c] * g[p * d + c];
      }
      out[k] = f.act[k] * s;
    }
    for (let l = 0; l < L; l++) {
      const g = grads.post[l];
      if (!g) continue;
      for (let t = 0; t < T; t++) {
        let s = 0;
        const o = (l * T + t) * d;
        for (let c = 0; c < d; c++) s += f.errors[o + c] * g[t * d + c];
        out[nF + l * T + t] = s;
      }
    }
    for (let t = 0; t < T; t++) {
      let s = 0;
      for (let c = 0; c < d; c++) s += frozen.embeddings[t * d + c] * grads.embed[t * d + c];
      out[nF + L * T + t] = s;
    }
    return out;
  }

  // -------------------------------------------------------------------------------------------------
  // Forward (affine) pieces

  /** Layer l's attention (affine: with value and output biases) applied to field x; returns y [T, d]. */
  attnForward(l: number, x: Float64Array, upTo: number, withBias: boolean): Float64Array {
    const { spec, frozen } = this.parts;
    const blk = spec.blocks[l], a = blk.attn;
    const d = this.d, T = this.T, H = a.nHeads, Hkv = a.nKvHeads, hd = a.headDim, rep = H / Hkv;
    const kvW = Hkv * hd;
    const wv = a.wv.data, wo = a.wo.data, P = densePatterns(frozen, 'Attention through the linear model')[l];
    const v = new Float64Array((upTo + 1) * kvW);
    const u = new Float64Array(d);
    for (let k = 0; k <= upTo; k++) {
      u.set(x.subarray(k * d, (k + 1) * d));
      normLinear(blk.ln1, frozen.ln1[l][k], u);
      if (withBias && blk.ln1.bias) for (let c = 0; c < d; c++) u[c] += blk.ln1.bias[c];
      for (let c = 0; c < d; c++) {
        const uc = u[c];
        if (uc === 0) continue;
        const r = c * kvW;
        for (let j = 0; j < kvW; j++) v[k * kvW + j] += uc * wv[r + j];
      }
      if (withBias && a.bv) for (let j = 0; j < kvW; j++) v[k * kvW + j] += a.bv[j];
    }
    const y = new Float64Array(T * d);
    const z = new Float64Array(hd);
    for (let q = 0; q <= upTo; q++) {
      for (let h = 0; h < H; h++) {
        z.fill(0);
        const kv = Math.floor(h / rep);
        const row = (h * T + q) * T;
        for (let k = 0; k <= q; k++) {
          const p = P[row + k];
          if (p === 0) continue;
          const src = k * kvW + kv * hd;
          for (let j = 0; j < hd; j++) z[j] += p * v[src + j];
        }
        for (let j = 0; j < hd; j++) {
          const zj = z[j];
          if (zj === 0) continue;
          const r = (h * hd + j) * d;
          for (let c = 0; c < d; c++) y[q * d + c] += zj * wo[r + c];
        }
      }
      if (withBias && a.bo) for (let c = 0; c < d; c++) y[q * d + c] += a.bo[c];
      if (blk.ln1Post) normLinear(blk.ln1Post, frozen.ln1Post[l][q], y, q * d, d);
    }
    return y;
  }

  /** Layer l's skip path on field xMid (affine when withBias: ln2's bias for mlp_in transcoders). */
  private skipForward(l: number, xMid: Float64Array, upTo: number, withBias: boolean, out: Float64Array): void {
    const ws = this.parts.replacement.layers[l].wSkip;
    if (!ws) return;
    const { spec, frozen, replacement } = this.parts;
    const d = this.d, W = ws.data, ln2 = spec.blocks[l].ln2;
    const xin = new Float64Array(d);
    for (let t = 0; t <= upTo; t++) {
      xin.set(xMid.subarray(t * d, (t + 1) * d));
      if (replacement.inputHook === 'mlp_in') {
        normLinear(ln2, frozen.ln2[l][t], xin);
        if (withBias && ln2.bias) for (let c = 0; c < d; c++) xin[c] += ln2.bias[c];
      }
      for (let c = 0; c < d; c++) {
        const xc = xin[c];
        if (xc === 0) continue;
        const r = c * d;
        for (let e = 0; e < d; e++) out[t * d + e] += xc * W[r + e];
      }
    }
  }

  /**
   * The constant part x_const of resid_pre(layer) ([T, d]): the replacement model run with every source
   * at zero (see the file comment for what it holds).
   */
  constantResidPre(layer: number, upTo = this.T - 1): Float64Array {
    const { frozen, replacement: r, zeroBos } = this.parts;
    const d = this.d, T = this.T;
    const x = new Float64Array(T * d);
    if (frozen.posEmbed) for (let i = 0; i < (upTo + 1) * d; i++) x[i] = frozen.posEmbed[i];
    for (let l = 0; l < layer; l++) {
      const y = this.attnForward(l, x, upTo, true);
      for (let i = 0; i < x.length; i++) x[i] += y[i];
      const mlp = new Float64Array(T * d);
      for (let t = 0; t <= upTo; t++) for (let c = 0; c < d; c++) mlp[t * d + c] = r.layers[l].bDec[c];
      this.skipForward(l, x, upTo, true, mlp);
      if (zeroBos) {
        // The BOS position's features and error are not sources: their sum (the real MLP output minus
        // b_dec and the skip term of the real input) stays in the constant.
        const real = frozen.mlpOut[l];
        const skipReal = new Float64Array(T * d);
        const xin = Float64Array.from(frozen.inputs[l].subarray(0, d));
        const ws = r.layers[l].wSkip;
        if (ws) {
          const W = ws.data;
          for (let c = 0; c < d; c++) for (let e = 0; e < d; e++) skipReal[e] += xin[c] * W[c * d + e];
        }
        for (let c = 0; c < d; c++) mlp[c] += real[c] - r.layers[l].bDec[c] - skipReal[c];
      }
      for (let i = 0; i < x.length; i++) x[i] += mlp[i];
    }
    return x;
  }

  /** The real resid_pre(layer) ([T, d]), rebuilt from the embeddings and the frozen MLP outputs. */
  realResidPre(layer: number, upTo = this.T - 1): Float64Array {
    const { frozen } = this.parts;
    const d = this.d;
    const x = Float64Array.from(frozen.embeddings);
    if (frozen.posEmbed) for (let i = 0; i < x.length; i++) x[i] += frozen.posEmbed[i];
    for (let l = 0; l < layer; l++) {
      const y = this.attnForward(l, x, upTo, true);
      const m = frozen.mlpOut[l];
      for (let i = 0; i < (upTo + 1) * d; i++) x[i] += y[i] + m[i];
    }
    return x;
  }
}
