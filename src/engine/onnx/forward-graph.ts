/**
 * The forward-with-hooks graph: one ONNX model per ModelSpec that returns the logits and every hook of
 * model-spec.ts `hooks` from a single run.
 *
 * Inputs:  input_ids int64 [1, T]; mlp_out_delta float [L, T, d_model], added to each block's MLP
 *          output before it joins the residual (zeros for a plain run; steering and ablation otherwise).
 * Outputs: the hook names, batch axis dropped ([T, d], [H, T, T], [T]); `logits` [T, vocab].
 *
 * Blocked attention (`attentionBlocks` = n, for long prompts): no [H, T, T] tensor is made. Queries are
 * cut into n blocks (padded to a multiple of n), each block's scores reach only the keys up to its last
 * query, and the graph returns, instead of the patterns, what any block of them can be rebuilt from:
 * the rotated queries and keys (hooks.rotQ / rotK) and each query's log-sum-exp (hooks.lse), so that
 * pattern = exp(scale·q·k + mask − lse). Peak memory is one block's scores, [H, T/n, T].
 *
 * Norms are written out op by op (not the fused LayerNormalization) because attribution needs the
 * scale each norm actually applied at each position. Inside the graph the batch axis is dropped too:
 * activations are [T, d] and attention is [H, T, hd], so every projection is a plain 2-D MatMul on
 * weights already stored [in, out].
 */
import type { Activation, AttentionSpec, BlockSpec, Mat, MlpSpec, ModelSpec, NormSpec } from '../model-spec';
import { hooks } from '../model-spec';
import { GraphBuilder, int, ints } from './builder';

/** Bumped whenever the graph this file emits changes, so on-disk caches of older graphs are not reused. */
export const FORWARD_GRAPH_VERSION = 4;

export interface ForwardGraphInfo {
  builder: GraphBuilder;
  /** Output names in the order they were declared. */
  outputs: string[];
}

export interface ForwardGraphOptions {
  /** Query blocks of blocked attention (see above); undefined: dense patterns as hooks. */
  attentionBlocks?: number;
}

export function buildForwardGraph(spec: ModelSpec, opts: ForwardGraphOptions = {}): ForwardGraphInfo {
  return new ForwardGraph(spec, opts.attentionBlocks).build();
}

class ForwardGraph {
  private readonly g = new GraphBuilder('forward_with_hooks');
  private readonly outputs: string[] = [];
  /** Scalars and small shape constants, shared across layers. */
  private readonly c: Record<string, string> = {};
  private T = '';
  private pos = '';
  private rope = new Map<string, { cos: string; sin: string }>();
  private masks = new Map<number, string>();

  /** Blocked attention's shapes ([1] int64): T, the block length and T padded to a whole number of blocks. */
  private geometry?: { T1: string; Bq: string; Tp: string };

  constructor(
    private readonly spec: ModelSpec,
    private readonly blocks?: number,
  ) {}

  build(): ForwardGraphInfo {
    const { g, spec } = this;
    const d = spec.dModel;
    const ids2 = g.input('input_ids', 'int64', [1, 'T']);
    const delta = g.input('mlp_out_delta', 'float', [spec.nLayers, 'T', d]);
    const ids = g.op('Reshape', [ids2, g.constI64([-1])]);
    // T as a 0-d int64 and positions 0..T-1.
    this.T = g.op('Squeeze', [g.op('Shape', [ids]), g.constI64([0])]);
    this.pos = g.op('Range', [g.init('zero_i64', BigInt64Array.of(0n), [], 'int64'), this.T, g.init('one_i64', BigInt64Array.of(1n), [], 'int64')]);
    this.c.one = g.scalar(1, 'one');

    const embedW = g.initMat('embed', spec.embed);
    let x = g.op('Gather', [embedW, ids], { axis: int(0) });
    if (spec.embedScale !== undefined) x = g.op('Mul', [x, g.scalar(spec.embedScale, 'embed_scale')]);
    this.out(x, hooks.embed);
    if (spec.posEmbed) {
      const pe = g.op('Gather', [g.initMat('pos_embed', spec.posEmbed), this.pos], { axis: int(0) });
      this.out(pe, hooks.posEmbed);
      x = g.op('Add', [x, pe]);
    }

    spec.blocks.forEach((block, l) => {
      x = this.block(block, l, x, delta);
    });

    const [xf, sf] = this.norm(spec.lnFinal, x, 'ln_final');
    this.out(sf, hooks.lnFinalScale);
    // Gemm with transB reads the [vocab, d] unembedding as stored, so a tied embedding stays one initializer.
    const unembed = g.initMat('unembed', spec.unembed);
    let logits = spec.bUnembed
      ? g.op('Gemm', [xf, unembed, g.init('b_unembed', spec.bUnembed, [spec.vocabSize])], { transB: int(1) })
      : g.op('Gemm', [xf, unembed], { transB: int(1) });
    if (spec.finalSoftcap) logits = this.softcap(logits, spec.finalSoftcap);
    this.out(logits, hooks.logits);
    return { builder: g, outputs: this.outputs };
  }

  private out(value: string, name: string): void {
    this.g.output(value, name, 'float');
    this.outputs.push(name);
  }

  private block(b: BlockSpec, l: number, residPre: string, delta: string): string {
    const g = this.g;
    this.out(residPre, hooks.residPre(l));
    const [h1, s1] = this.norm(b.ln1, residPre, `l${l}_ln1`);
    this.out(s1, hooks.ln1Scale(l));
    let attnOut = this.attention(b.attn, h1, l);
    if (b.ln1Post) {
      const [y, s] = this.norm(b.ln1Post, attnOut, `l${l}_ln1_post`);
      this.out(s, hooks.ln1PostScale(l));
      attnOut = y;
    }
    this.out(attnOut, hooks.attnOut(l));
    const residMid = g.op('Add', [residPre, attnOut]);
    this.out(residMid, hooks.residMid(l));
    const [h2, s2] = this.norm(b.ln2, residMid, `l${l}_ln2`);
    this.out(s2, hooks.ln2Scale(l));
    this.out(h2, hooks.mlpIn(l));
    let mlpOut = this.mlp(b.mlp, h2, l);
    if (b.ln2Post) {
      const [y, s] = this.norm(b.ln2Post, mlpOut, `l${l}_ln2_post`);
      this.out(s, hooks.ln2PostScale(l));
      mlpOut = y;
    }
    const dl = g.op('Gather', [delta, g.constI64([l], [], `layer_${l}`)], { axis: int(0) });
    mlpOut = g.op('Add', [mlpOut, dl]);
    this.out(mlpOut, hooks.mlpOut(l));
    const residPost = g.op('Add', [residMid, mlpOut]);
    this.out(residPost, hooks.residPost(l));
    return residPost;
  }

  /** Returns [normalised output, applied scale [T…] with the normalised axis dropped]. */
  private norm(n: NormSpec, x: string, name: string, wantScale = true): [string, string] {
    const g = this.g;
    const lastAxis = ints([-1]);
    let centred = x;
    if (n.kind === 'layer') {
      const mean = g.op('ReduceMean', [x], { axes: lastAxis, keepdims: int(1) });
      centred = g.op('Sub', [x, mean]);
    }
    const ms = g.op('ReduceMean', [g.op('Mul', [centred, centred])], { axes: lastAxis, keepdims: int(1) });
    const scaleK = g.op('Div', [this.c.one, g.op('Sqrt', [g.op('Add', [ms, g.scalar(n.eps, `${name}_eps`)])])]);
    let y = g.op('Mul', [centred, scaleK]);
    const w = n.plusOne ? Float32Array.from(n.weight, (v) => 1 + v) : n.weight;
    y = g.op('Mul', [y, g.init(`${name}_w`, w, [w.length])]);
    if (n.bias) y = g.op('Add', [y, g.init(`${name}_b`, n.bias, [n.bias.length])]);
    // The per-position scale as a hook ([T…]); q/k norms do not report theirs.
    const scale = wantScale ? g.op('Squeeze', [scaleK, g.constI64([-1])]) : '';
    return [y, scale];
  }

  private attention(a: AttentionSpec, x: string, l: number): string {
    const g = this.g;
    const { nHeads: H, nKvHeads: Hkv, headDim: hd } = a;
    const d = this.spec.dModel;
    const qW = H * hd;
    const kW = Hkv * hd;
    // Separate projections on the spec's own arrays: no concatenated copy of the weights is made, and
    // at prompt lengths the MatMuls are bound by reading the weights either way.
    const proj = (w: Mat, bias: Float32Array | undefined, cols: number, name: string) => {
      const y = g.op('MatMul', [x, g.initMat(`l${l}_${name}`, checked(w, d, cols))]);
      return bias ? g.op('Add', [y, g.init(`l${l}_b${name.slice(1)}`, bias, [cols])]) : y;
    };
    const q0 = proj(a.wq, a.bq, qW, 'wq');
    const k0 = proj(a.wk, a.bk, kW, 'wk');
    const v0 = proj(a.wv, a.bv, kW, 'wv');
    // [T, n*hd] → [n, T, hd]
    const heads = (t: string, n: number) => g.op('Transpose', [g.op('Reshape', [t, g.constI64([-1, n, hd])])], { perm: ints([1, 0, 2]) });
    let q = heads(q0, H);
    let k = heads(k0, Hkv);
    let v = heads(v0, Hkv);
    if (a.qNorm) q = this.norm(a.qNorm, q, `l${l}_qnorm`, false)[0];
    if (a.kNorm) k = this.norm(a.kNorm, k, `l${l}_knorm`, false)[0];
    if (a.rotary) {
      q = this.rotary(a, q);
      k = this.rotary(a, k);
    }
    if (this.blocks) {
      this.out(q, hooks.rotQ(l));
      this.out(k, hooks.rotK(l));
    }
    if (Hkv !== H) {
      // Grouped-query attention: query head h reads key/value head floor(h / (H / Hkv)), as HF repeat_kv.
      const rep = H / Hkv;
      const idx = g.constI64(Array.from({ length: H }, (_, h) => Math.floor(h / rep)), [H], `kv_index_${H}_${Hkv}`);
      k = g.op('Gather', [k, idx], { axis: int(0) });
      v = g.op('Gather', [v, idx], { axis: int(0) });
    }
    const z = this.blocks ? this.blockedAttention(a, l, q, k, v) : this.denseAttention(a, l, q, k, v);
    const zFlat = g.op('Reshape', [g.op('Transpose', [z], { perm: ints([1, 0, 2]) }), g.constI64([-1, qW])]);
    let out = g.op('MatMul', [zFlat, g.initMat(`l${l}_wo`, checked(a.wo, qW, d))]);
    if (a.bo) out = g.op('Add', [out, g.init(`l${l}_bo`, a.bo, [d])]);
    return out;
  }

  /** softmax(scale·q·kᵀ + mask) · v with the [H, T, T] pattern kept as a hook. */
  private denseAttention(a: AttentionSpec, l: number, q: string, k: string, v: string): string {
    const g = this.g;
    let scores = g.op('MatMul', [q, g.op('Transpose', [k], { perm: ints([0, 2, 1]) })]);
    scores = g.op('Mul', [scores, g.scalar(a.scale, `l${l}_attn_scale`)]);
    if (a.softcap) scores = this.softcap(scores, a.softcap);
    // An additive [T, T] mask, made once per window: adding 0 leaves visible scores as they are and the
    // hidden ones become float32's minimum, as a Where would make them, but a broadcast Add is vectorised
    // where Where over [H, T, T] is not (it was 70 % of the forward's time at 2k tokens).
    scores = g.op('Add', [scores, this.mask(a.slidingWindow)]);
    const pattern = g.op('Softmax', [scores], { axis: int(-1) });
    this.out(pattern, hooks.pattern(l));
    return g.op('MatMul', [pattern, v]);
  }

  /**
   * The same attention one query block at a time (q, k, v [H, T, hd], k and v already repeated for
   * grouped-query heads): block b holds queries [b·Bq, (b + 1)·Bq) and reads keys [0, min((b + 1)·Bq, T)),
   * so nothing [T, T]-sized exists and the causal half is never computed. The pattern is exp(s − lse)
   * with lse each query's log-sum-exp: the same values softmax gives, and the form the attribution sweep
   * rebuilds blocks of it in (backward-graph.ts). Padded queries (past T) see every key, so their rows
   * stay finite; they are cut off at the end.
   */
  private blockedAttention(a: AttentionSpec, l: number, q: string, k: string, v: string): string {
    const g = this.g;
    const n = this.blocks!;
    const { T1, Bq, Tp } = (this.geometry ??= (() => {
      const T1 = g.op('Unsqueeze', [this.T, g.constI64([0])]);
      const Bq = g.op('Div', [g.op('Add', [T1, g.constI64([n - 1])]), g.constI64([n])]);
      return { T1, Bq, Tp: g.op('Mul', [Bq, g.constI64([n])]) };
    })());
    const zero1 = g.constI64([0]), axis1 = g.constI64([1]);
    const qPad = g.op('Pad', [q, g.op('Concat', [g.constI64([0, 0, 0, 0]), g.op('Sub', [Tp, T1]), zero1], { axis: int(0) })]);
    const kT = g.op('Transpose', [k], { perm: ints([0, 2, 1]) }); // [H, hd, T]
    const zs: string[] = [];
    const lses: string[] = [];
    for (let b = 0; b < n; b++) {
      const q0 = g.op('Mul', [Bq, g.constI64([b])]);
      const q1 = g.op('Add', [q0, Bq]);
      const kEnd = g.op('Min', [q1, T1]);
      const qb = g.op('Slice', [qPad, q0, q1, axis1]); // [H, Bq, hd]
      let s = g.op('MatMul', [qb, g.op('Slice', [kT, zero1, kEnd, g.constI64([2])])]); // [H, Bq, kEnd]
      s = g.op('Mul', [s, g.scalar(a.scale, `l${l}_attn_scale`)]);
      if (a.softcap) s = this.softcap(s, a.softcap);
      const scalar = (x: string) => g.op('Squeeze', [x, zero1]);
      const qi = g.op('Range', [scalar(q0), scalar(q1), g.constI64([1], [])]);
      const ki = g.op('Range', [g.constI64([0], []), scalar(kEnd), g.constI64([1], [])]);
      s = g.op('Add', [s, this.maskOf(qi, ki, a.slidingWindow)]);
      const lse = g.op('ReduceLogSumExp', [s], { axes: ints([-1]), keepdims: int(1) }); // [H, Bq, 1]
      zs.push(g.op('MatMul', [g.op('Exp', [g.op('Sub', [s, lse])]), g.op('Slice', [v, zero1, kEnd, axis1])]));
      lses.push(lse);
    }
    const all = (xs: string[]) => g.op('Slice', [xs.length > 1 ? g.op('Concat', xs, { axis: int(1) }) : xs[0], zero1, T1, axis1]);
    this.out(g.op('Squeeze', [all(lses), g.constI64([2])]), hooks.lse(l));
    return all(zs);
  }

  /** Additive mask [queries, keys] for query and key positions: 0 where visible, float32's minimum elsewhere. */
  private maskOf(qi: string, ki: string, window?: number): string {
    const g = this.g;
    const diff = g.op('Sub', [g.op('Unsqueeze', [qi, g.constI64([1])]), g.op('Unsqueeze', [ki, g.constI64([0])])]);
    let allowed = g.op('GreaterOrEqual', [diff, g.constI64([0], [], 'zero_diff')]);
    if (window !== undefined) allowed = g.op('And', [allowed, g.op('Less', [diff, g.constI64([window], [], `window_${window}`)])]);
    return g.op('Where', [allowed, this.zero(), this.negInf()]);
  }

  private zero(): string {
    return (this.c.zero ??= this.g.scalar(0, 'mask_zero'));
  }

  private negInf(): string {
    // The most negative float32 (as HF's finfo.min): exp underflows to exactly 0 without inf arithmetic.
    return (this.c.negInf ??= this.g.scalar(-3.4028234663852886e38, 'neg_inf'));
  }

  /** Float [T, T]: 0 where key k is visible from query q (k <= q and, with a window, q - k < window), float32's minimum elsewhere. */
  private mask(window?: number): string {
    const key = window ?? 0;
    const cached = this.masks.get(key);
    if (cached) return cached;
    const bias = this.maskOf(this.pos, this.pos, window);
    this.masks.set(key, bias);
    return bias;
  }

  /** cap * tanh(x / cap) */
  private softcap(x: string, cap: number): string {
    const g = this.g;
    return g.op('Mul', [g.op('Tanh', [g.op('Div', [x, g.scalar(cap, 'softcap')])]), g.scalar(cap, 'softcap')]);
  }

  /** HF rotate_half rotary on the leading `dim` features of each head: x·cos + rotate_half(x)·sin. */
  private rotary(a: AttentionSpec, x: string): string {
    const g = this.g;
    const r = a.rotary!;
    const { cos, sin } = this.ropeTables(a);
    const hd = a.headDim;
    const half = r.dim / 2;
    let xr = x;
    let pass: string | undefined;
    if (r.dim < hd) {
      [xr, pass] = g.opN('Split', [x, g.constI64([r.dim, hd - r.dim])], 2, { axis: int(-1) });
    }
    const [x1, x2] = g.opN('Split', [xr, g.constI64([half, half])], 2, { axis: int(-1) });
    const rotated = g.op('Concat', [g.op('Neg', [x2]), x1], { axis: int(-1) });
    let y = g.op('Add', [g.op('Mul', [xr, cos]), g.op('Mul', [rotated, sin])]);
    if (pass) y = g.op('Concat', [y, pass], { axis: int(-1) });
    return y;
  }

  private ropeTables(a: AttentionSpec): { cos: string; sin: string } {
    const r = a.rotary!;
    const key = JSON.stringify(r);
    const hit = this.rope.get(key);
    if (hit) return hit;
    const g = this.g;
    const invFreq = rotaryInvFreq(r.dim, r.base, r.scaling);
    // freqs [T, dim/2] = positions ⊗ inv_freq, in float32 as HF computes it; emb = [freqs, freqs].
    const posF = g.op('Unsqueeze', [g.op('Cast', [this.pos], { to: int(1) }), g.constI64([1])]);
    const freqs = g.op('Mul', [posF, g.constF(invFreq, [1, invFreq.length], 'inv_freq')]);
    const emb = g.op('Concat', [freqs, freqs], { axis: int(-1) });
    const t = { cos: g.op('Cos', [emb]), sin: g.op('Sin', [emb]) };
    this.rope.set(key, t);
    return t;
  }

  private mlp(m: MlpSpec, x: string, l: number): string {
    const g = this.g;
    const d = this.spec.dModel;
    const dm = m.wIn.cols;
    let hidden: string;
    if (m.kind === 'gated') {
      const gate = g.op('MatMul', [x, g.initMat(`l${l}_w_gate`, checked(m.wGate!, d, dm))]);
      const up = g.op('MatMul', [x, g.initMat(`l${l}_w_in`, checked(m.wIn, d, dm))]);
      hidden = g.op('Mul', [this.act(m.act, gate), up]);
    } else {
      let pre = g.op('MatMul', [x, g.initMat(`l${l}_w_in`, checked(m.wIn, d, dm))]);
      if (m.bIn) pre = g.op('Add', [pre, g.init(`l${l}_b_in`, m.bIn, [dm])]);
      hidden = this.act(m.act, pre);
    }
    let out = g.op('MatMul', [hidden, g.initMat(`l${l}_w_out`, checked(m.wOut, dm, d))]);
    if (m.bOut) out = g.op('Add', [out, g.init(`l${l}_b_out`, m.bOut, [d])]);
    return out;
  }

  private act(kind: Activation, x: string): string {
    const g = this.g;
    switch (kind) {
      case 'relu':
        return g.op('Relu', [x]);
      case 'silu':
        return g.op('Mul', [x, g.op('Sigmoid', [x])]);
      case 'gelu': {
        // 0.5·x·(1 + erf(x/√2))
        const e = g.op('Erf', [g.op('Mul', [x, g.scalar(Math.SQRT1_2, 'inv_sqrt2')])]);
        return g.op('Mul', [g.op('Mul', [x, g.scalar(0.5, 'half')]), g.op('Add', [e, this.c.one])]);
      }
      case 'gelu_tanh': {
        // 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
        const x3 = g.op('Mul', [g.op('Mul', [x, x]), x]);
        const inner = g.op('Mul', [g.op('Add', [x, g.op('Mul', [x3, g.scalar(0.044715, 'gelu_c')])]), g.scalar(Math.sqrt(2 / Math.PI), 'gelu_k')]);
        return g.op('Mul', [g.op('Mul', [x, g.scalar(0.5, 'half')]), g.op('Add', [g.op('Tanh', [inner]), this.c.one])]);
      }
    }
  }
}

/** The matrix, after checking it has the shape the graph wires it in as (without reading its values). */
function checked(m: Mat, rows: number, cols: number): Mat {
  if (m.rows !== rows || m.cols !== cols) throw new Error(`weight matrix is [${m.rows}, ${m.cols}], the graph needs [${rows}, ${cols}]`);
  return m;
}

/** Rotary inverse frequencies, including Llama-3's smooth frequency scaling and linear scaling. */
export function rotaryInvFreq(dim: number, base: number, scaling?: NonNullable<AttentionSpec['rotary']>['scaling']): Float32Array {
  const inv = new Float64Array(dim / 2);
  for (let i = 0; i < dim / 2; i++) inv[i] = 1 / Math.pow(base, (2 * i) / dim);
  if (scaling?.type === 'linear') {
    for (let i = 0; i < inv.length; i++) inv[i] /= scaling.factor;
  } else if (scaling?.type === 'llama3') {
    const { factor, lowFreqFactor, highFreqFactor, originalMaxPositions } = scaling;
    const lowWavelen = originalMaxPositions / lowFreqFactor;
    const highWavelen = originalMaxPositions / highFreqFactor;
    for (let i = 0; i < inv.length; i++) {
      const wavelen = (2 * Math.PI) / inv[i];
      if (wavelen < highWavelen) continue;
      if (wavelen > lowWavelen) {
        inv[i] = inv[i] / factor;
        continue;
      }
      const smooth = (originalMaxPositions / wavelen - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
      inv[i] = (1 - smooth) * (inv[i] / factor) + smooth * inv[i];
    }
  }
  return Float32Array.from(inv);
}
