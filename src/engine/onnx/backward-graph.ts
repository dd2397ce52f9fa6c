/**
 * The linearised backward graph of attribution (the circuit-tracing method).
 *
 * In the local replacement model the attention patterns and every normalisation scale are frozen at
 * the prompt's values and each MLP is replaced by transcoder features plus a constant error, so the
 * residual stream is a linear function of its sources (token embeddings, feature decoder vectors,
 * error vectors). One run of this graph propagates a batch of B seed vectors (a logit direction, or a
 * feature's encoder row) down through that linear map and, at every layer, dots the gradient with the
 * sources *inside the graph*: what comes back is [B, n_sources] per layer, never the
 * [B, layers, T, d_model] gradient itself.
 *
 * Built from the same ModelSpec as the forward graph. Only the value/output path of attention is
 * traversed (patterns are inputs, so Q, K, rotary, soft-capping and sliding windows are already inside
 * them); grouped-query attention sums the query heads of each key/value head.
 *
 * Inputs (T = prompt length, B = batch of seeds, P = span):
 *   seed_vec [B, d]   seed_pos [B] int64   active [L + 1] int64   span [1] int64
 *     Seeds sorted by their layer, highest first, and active[l] = how many are at layer ≥ l (≥ 1:
 *     callers put a zero logit seed first); a seed's layer is known from `active` alone. A seed's gradient is zero above its layer, so layer l of the sweep
 *     carries only the first active[l + 1] rows and the seeds of layer l join as rows
 *     active[l + 1] … active[l] − 1: a batch of low-layer features costs a fraction of a full sweep.
 *     Attention is causal, so a seed at position p has no gradient after p: the sweep runs on the first
 *     P = span positions (P > every seed position); a batch of early seeds costs a fraction too.
 *     seed_layer l < L: injected at layer l's transcoder input (resid_mid, or the normalised MLP
 *     input, through the frozen ln2); seed_layer == L: injected after ln_final (a logit direction).
 *   pattern_{l}_{h} [T, T] (head h's, queries × keys)    ln1_scale_{l} [T]   ln2_scale_{l} [T]   (Gemma-2: ln1post_scale_{l})
 *   — or, built with `attentionBlocks` = n (long prompts), no pattern at all: q_{l} [H, T, hd], k_{l}
 *   [Hkv, T, hd] (rotated, as forward-graph.ts's blocked attention returns them) and lse_{l} [H, T], from
 *   which each key block of the pattern is rebuilt inside the sweep (see `blockedValueGrad`).
 *   lnf_scale [T]. Transcoders write at hook_mlp_out (after Gemma-2's post-feedforward norm), so that
 *   norm's scale is not needed. Callers feed the inputs the session lists.
 *   dec_{l}_{k} [n, d, m], dec_pos_{l}_{k} [n] int64, for k < DECODER_BUCKETS: the activation-scaled
 *     decoder vectors writing into layer l, in buckets of positions with similar feature counts (slot s
 *     of the i-th position of a bucket holds one feature's vector; unused slots are zero), positions
 *     ascending, so the dot products are a few batched MatMuls over positions, padded only to each
 *     bucket's busiest position (not the prompt's), and a prefix of each bucket covers the span.
 *   errors [L, T, d]          tokens [T, d] (the embeddings that entered the residual stream)
 * Outputs: feat_{l}_{k} [c, active[l + 1], m] (slot scores; c = the bucket's positions < P, at least 1
 *   — when none is, the one row is not a score), err_{l} [active[l + 1], P], tok [B, P].
 */
import type { AttentionSpec, Mat, ModelSpec, NormSpec } from '../model-spec';
import { float, GraphBuilder, int, ints } from './builder';

export type TranscoderInputHook = 'resid_mid' | 'mlp_in';

export interface BackwardGraphOptions {
  /** Where the transcoders read: the residual stream before ln2, or the MLP's normalised input. */
  inputHook: TranscoderInputHook;
  /** Per-layer skip matrices [d, d] of skip transcoders in x @ W orientation, undefined where none. */
  skip?: (Mat | undefined)[];
  /** Rebuild the patterns in this many key blocks from q, k and lse instead of taking them as inputs. */
  attentionBlocks?: number;
  /**
   * Who cuts each decoder bucket to the span: 'graph' (a Slice inside the graph, for constants bound
   * into the session on GPUs) or 'feeds' (the caller feeds views of just the positions inside the span:
   * no copy; on the CPU the in-graph Slice copied every decoder block on every batch).
   */
  decoderCut?: 'graph' | 'feeds';
}

/** The decoder cut a provider's backward graph is built with (see BackwardGraphOptions.decoderCut). */
export function decoderCutFor(provider: string): 'graph' | 'feeds' {
  return provider === 'cpu' ? 'feeds' : 'graph';
}

/** Position buckets per layer for the decoder dot products (see `dec_{l}_{k}` above). */
export const DECODER_BUCKETS = 4;

export const backwardNames = {
  seedVec: 'seed_vec',
  seedPos: 'seed_pos',
  active: 'active',
  span: 'span',
  pattern: (l: number, h: number) => `pattern_${l}_${h}`,
  rotQ: (l: number) => `q_${l}`,
  rotK: (l: number) => `k_${l}`,
  lse: (l: number) => `lse_${l}`,
  ln1Scale: (l: number) => `ln1_scale_${l}`,
  ln1PostScale: (l: number) => `ln1post_scale_${l}`,
  ln2Scale: (l: number) => `ln2_scale_${l}`,
  lnfScale: 'lnf_scale',
  dec: (l: number, k: number) => `dec_${l}_${k}`,
  decPos: (l: number, k: number) => `dec_pos_${l}_${k}`,
  errors: 'errors',
  tokens: 'tokens',
  featOut: (l: number, k: number) => `feat_${l}_${k}`,
  errOut: (l: number) => `err_${l}`,
  tokOut: 'tok',
} as const;
/** The applied gain of a norm (Gemma stores w − 1). One array per NormSpec, so tied norms share it. */
const gains = new WeakMap<NormSpec, Float32Array>();
function gainOf(n: NormSpec): Float32Array {
  let g = gains.get(n);
  if (!g) {
    g = n.plusOne ? n.weight.map((w) => 1 + w) : n.weight;
    gains.set(n, g);
  }
  return g;
}

/**
 * Transpose of a frozen norm's Jacobian applied to g [B, T, d]: with the scale s[t] held constant,
 * RMSNorm is y = x·s·w, so gₓ = s·(w ⊙ g); LayerNorm is y = (x − mean x)·s·w + b, so gₓ = centre(s·(w ⊙ g)).
 */
function normBackward(b: GraphBuilder, norm: NormSpec, scale: string, g: string): string {
  const gain = b.init('gain', gainOf(norm), [norm.weight.length]);
  const s = b.op('Unsqueeze', [scale, b.constI64([1])]); // [T, 1]
  let v = b.op('Mul', [b.op('Mul', [g, gain]), s]);
  if (norm.kind === 'layer') v = b.op('Sub', [v, b.op('ReduceMean', [v], { axes: ints([-1]), keepdims: int(1) })]);
  return v;
}

export function buildBackwardGraph(spec: ModelSpec, opts: BackwardGraphOptions): GraphBuilder {
  const b = new GraphBuilder(`${spec.name}-attribution-backward`);
  const L = spec.nLayers;
  const d = spec.dModel;
  const N = backwardNames;
  const axis0 = b.constI64([0]), axis1 = b.constI64([1]), zero = b.constI64([0]);

  const seedVec = b.input(N.seedVec, 'float', ['B', d]);
  const seedPos = b.input(N.seedPos, 'int64', ['B']);
  const active = b.input(N.active, 'int64', [L + 1]);
  const P = b.input(N.span, 'int64', [1]);
  const Pscalar = b.op('Squeeze', [P, axis0]);
  /** The first P entries along `axis`. */
  const span = (x: string, axis: number) => b.op('Slice', [x, zero, P, b.constI64([axis])]);
  const errors = span(b.input(N.errors, 'float', [L, 'T', d]), 1); // [L, P, d]
  const tokens = span(b.input(N.tokens, 'float', ['T', d]), 0); // [P, d]
  const scales = new Map<string, string>();
  /** A frozen norm scale input, cut to the span ([P]); declared once however often it is used. */
  const scaleIn = (name: string) => {
    if (!scales.has(name)) scales.set(name, span(b.input(name, 'float', ['T']), 0));
    return scales.get(name)!;
  };

  const activeAt = (l: number) => b.op('Slice', [active, b.constI64([l]), b.constI64([l + 1]), axis0]); // [1]
  const range = b.op('Range', [b.constI64([0], []), Pscalar, b.constI64([1], [])]);
  /**
   * The seeds of rows [from, to) laid out on the positions: [to − from, P, d], the seed vector at its
   * position and zero elsewhere.
   */
  const seedBlock = (from: string, to: string): string => {
    const pos = b.op('Slice', [seedPos, from, to, axis0]);
    const vec = b.op('Slice', [seedVec, from, to, axis0]);
    const onehot = b.op('Cast', [b.op('Equal', [b.op('Unsqueeze', [pos, axis1]), b.op('Unsqueeze', [range, axis0])])], { to: int(1) });
    return b.op('Mul', [b.op('Unsqueeze', [onehot, b.constI64([2])]), b.op('Unsqueeze', [vec, axis1])]);
  };
  const sumLastAxis = (x: string) => b.op('ReduceSum', [x, b.constI64([-1])], { keepdims: int(0) });
  const one = b.constI64([1]);
  const pMinus1 = b.op('Sub', [P, one]);
  let geometry: BlockGeometry | undefined;
  const blockGeometry = (): BlockGeometry => (geometry ??= spanBlocks(b, P, opts.attentionBlocks!));

  // Logit seeds (rows [0, active[L])) enter after ln_final.
  let above = activeAt(L);
  let g = normBackward(b, spec.lnFinal, scaleIn(N.lnfScale), seedBlock(zero, above)); // [active[L], P, d]
  for (let l = L - 1; l >= 0; l--) {
    const blk = spec.blocks[l];
    const at = blk.attn;
    const here = activeAt(l);
    // The MLP's replacement writes straight into the residual stream (hook_mlp_out): its sources read
    // the gradient there. Per bucket: the gradient at the bucket's positions inside the span, dotted
    // with the decoder vectors of the features active there.
    const gT = b.op('Transpose', [g], { perm: ints([1, 0, 2]) }); // [P, rows, d]
    for (let k = 0; k < DECODER_BUCKETS; k++) {
      const pos = b.input(N.decPos(l, k), 'int64', [`n${l}_${k}`]);
      let dec = b.input(N.dec(l, k), 'float', [`n${l}_${k}`, d, `m${l}_${k}`]);
      let rows: string;
      if (opts.decoderCut === 'feeds') {
        // The caller fed only the positions inside the span (at least one: a position past it is
        // computed at P − 1 and ignored); bound full-size blocks are correct too, only slower.
        rows = b.op('Min', [pos, pMinus1]);
      } else {
        const inSpan = b.op('ReduceSum', [b.op('Cast', [b.op('Less', [pos, P])], { to: int(7) }), axis0], { keepdims: int(1) });
        const c = b.op('Max', [inSpan, one]); // MatMul fails on empty batches: one row past the span is computed and ignored
        rows = b.op('Min', [b.op('Slice', [pos, zero, c, axis0]), pMinus1]);
        dec = b.op('Slice', [dec, zero, c, axis0]);
      }
      b.output(b.op('MatMul', [b.op('Gather', [gT, rows], { axis: int(0) }), dec]), N.featOut(l, k), 'float', [`c${l}_${k}`, `a${l + 1}`, `m${l}_${k}`]);
    }
    // Error nodes: each row dotted with the position's error vector. Kept element-wise: a batched
    // MatMul over positions ([P, rows, d] × [P, d, 1]) saves a pass but rounds differently with the
    // number of rows, so a row's error edges would depend on the batch it ran in (cap.test.ts).
    const errL = b.op('Gather', [errors, b.constI64([l], [])], { axis: int(0) }); // [P, d]
    b.output(sumLastAxis(b.op('Mul', [g, errL])), N.errOut(l), 'float', [`a${l + 1}`, 'P']);

    // Gradient at the transcoder input: the skip path W_skip for the rows carried down, the seeds of
    // this layer as new rows; through the frozen ln2 when the transcoders read the MLP's input.
    const hookBack = (x: string) => (opts.inputHook === 'mlp_in' ? normBackward(b, blk.ln2, scaleIn(N.ln2Scale(l)), x) : x);
    let carried = g;
    const skip = opts.skip?.[l];
    if (skip) {
      // skip = x @ W, so the gradient at x is g @ Wᵀ.
      const ws = b.init(`w_skip_${l}`, skip.data, [skip.rows, skip.cols]);
      carried = b.op('Add', [g, hookBack(b.op('MatMul', [g, b.op('Transpose', [ws], { perm: ints([1, 0]) })]))]);
    }
    const gMid = b.op('Concat', [carried, hookBack(seedBlock(above, here))], { axis: int(0) }); // [active[l], P, d]

    // Attention, value/output path only: out = (P · (ln1(x) W_v + b_v)) W_o (+ Gemma's post norm).
    // Per head, one Gemm over every row at once: gv_h [keys, rows·hd] = P_hᵀ [keys, queries] ·
    // gz_h [queries, rows·hd], the pattern read as stored (transA) and fed per head, so neither it nor the
    // gradient is transposed element by element; the gradient only moves in head-sized pieces
    // ([rows, P, H, hd] ↔ [H, P, rows, hd]).
    let gAttn = gMid;
    if (blk.ln1Post) gAttn = normBackward(b, blk.ln1Post, scaleIn(N.ln1PostScale(l)), gMid);
    const H = at.nHeads, Hkv = at.nKvHeads, hd = at.headDim, rep = H / Hkv;
    const wo = b.init(`w_o_${l}`, at.wo.data, [at.wo.rows, at.wo.cols]);
    // ln1's frozen Jacobian, s[key]·(gain ⊙ ·) (then centring for LayerNorm), folded into the weights
    // and the pattern instead of two passes over the [rows, P, d] gradient: the gain scales W_v's rows,
    // and the per-key scale s scales each pattern's key columns ([P, P] per head, or a block of it).
    const gain1 = gainOf(blk.ln1);
    const wvData = Float32Array.from(at.wv.data, (w, i) => w * gain1[Math.floor(i / at.wv.cols)]);
    const wv = b.init(`w_v_gain_${l}`, wvData, [at.wv.rows, at.wv.cols]);
    const keyScale = scaleIn(N.ln1Scale(l)); // [P]
    const woT = b.op('Transpose', [wo], { perm: ints([1, 0]) });
    const wvT = b.op('Transpose', [wv], { perm: ints([1, 0]) });
    const gz = b.op('Reshape', [b.op('MatMul', [gAttn, woT]), b.constI64([0, 0, H, hd])]); // [rows, P, H, hd]
    const byHead = b.op('Transpose', [gz], { perm: ints([2, 1, 0, 3]) }); // [H, P(queries), rows, hd]
    const flat = b.op('Concat', [b.constI64([H]), P, b.constI64([-1])], { axis: int(0) });
    const heads = b.opN('Split', [b.op('Reshape', [byHead, flat])], H, { axis: int(0) }); // H × [1, P, rows·hd]
    const spanPP = b.op('Concat', [P, P], { axis: int(0) });
    const blocked = opts.attentionBlocks ? blockedValueGrad(b, at, l, P, keyScale, opts.attentionBlocks, blockGeometry) : undefined;
    const keyRow = b.op('Unsqueeze', [keyScale, axis0]); // [1, P]
    const groups: string[] = [];
    for (let kv = 0; kv < Hkv; kv++) {
      let acc = '';
      for (let r = 0; r < rep; r++) {
        const h = kv * rep + r;
        const gh = b.op('Squeeze', [heads[h], axis0]); // [P(queries), rows·hd]
        let gvh: string;
        if (blocked) gvh = blocked(h, gh);
        else {
          const pat = b.op('Slice', [b.input(N.pattern(l, h), 'float', ['T', 'T']), b.constI64([0, 0]), spanPP, b.constI64([0, 1])]); // [P, P]
          gvh = b.op('Gemm', [b.op('Mul', [pat, keyRow]), gh], { transA: int(1) }); // [P(keys), rows·hd]
        }
        acc = acc ? b.op('Add', [acc, gvh]) : gvh;
      }
      groups.push(b.op('Unsqueeze', [acc, axis0]));
    }
    const gvHeads = Hkv > 1 ? b.op('Concat', groups, { axis: int(0) }) : groups[0]; // [Hkv, P(keys), rows·hd]
    const split = b.op('Concat', [b.constI64([Hkv]), P, b.constI64([-1, hd])], { axis: int(0) });
    const gv = b.op('Reshape', [b.op('Transpose', [b.op('Reshape', [gvHeads, split])], { perm: ints([2, 1, 0, 3]) }), b.constI64([0, 0, Hkv * hd])]); // [rows, P, Hkv·hd]
    let gIn = b.op('MatMul', [gv, wvT]); // gain and key scale already applied
    if (blk.ln1.kind === 'layer') gIn = b.op('Sub', [gIn, b.op('ReduceMean', [gIn], { axes: ints([-1]), keepdims: int(1) })]);
    g = b.op('Add', [gMid, gIn]);
    above = here;
  }
  b.output(sumLastAxis(b.op('Mul', [g, tokens])), N.tokOut, 'float', ['B', 'P']);
  return b;
}

/** Key blocks of the span: block length Bk = ceil(P / n), the span padded to Pp = n·Bk, and Pp − P ([1] int64 each). */
interface BlockGeometry {
  Bk: string;
  Pp: string;
  pad: string;
  /** Additive causal masks [Pp, Bk] by window (0 = none), rows = query − block start, columns = key − block start. */
  masks: Map<number, string>;
}

function spanBlocks(b: GraphBuilder, P: string, n: number): BlockGeometry {
  const Bk = b.op('Div', [b.op('Add', [P, b.constI64([n - 1])]), b.constI64([n])]);
  const Pp = b.op('Mul', [Bk, b.constI64([n])]);
  return { Bk, Pp, pad: b.op('Sub', [Pp, P]), masks: new Map() };
}

/**
 * The value path's gradient of one head without its pattern: gv_h[keys] = Pᵀ[keys, queries] · gz_h, one
 * key block at a time. The pattern of keys [k0, k0 + Bk) for queries ≥ k0 (the only ones that see them)
 * is rebuilt as exp(scale·q·kᵀ (soft-capped) + mask − lse) — the forward's blocked attention wrote q, k
 * and lse, so these are the patterns of the forward pass — multiplied into the gradient and dropped, so
 * the largest tensor is [Pp, Bk] rather than [P, P]. Everything is padded to Pp = n·Bk positions so every
 * block has the same shape and none is empty: padded queries carry zero gradient (and q = 0, lse = 0,
 * finite), padded keys are masked from every real query, and their rows are cut off at the end.
 */
function blockedValueGrad(b: GraphBuilder, at: AttentionSpec, l: number, P: string, keyScale: string, n: number, geometry: () => BlockGeometry): (h: number, gh: string) => string {
  const { Bk, Pp, pad, masks } = geometry();
  const zero = b.constI64([0]), axis0 = b.constI64([0]), axis1 = b.constI64([1]);
  // [H, T, hd] → the span, padded: [H, Pp, hd].
  const spanPad = (name: string, dims: (string | number)[]) => {
    const x = b.op('Slice', [b.input(name, 'float', dims), zero, P, axis1]);
    const pads = dims.length === 3 ? b.op('Concat', [b.constI64([0, 0, 0, 0]), pad, zero], { axis: int(0) }) : b.op('Concat', [b.constI64([0, 0, 0]), pad], { axis: int(0) });
    return b.op('Pad', [x, pads]);
  };
  const q = spanPad(backwardNames.rotQ(l), [at.nHeads, 'T', at.headDim]);
  const k = spanPad(backwardNames.rotK(l), [at.nKvHeads, 'T', at.headDim]);
  const lse = spanPad(backwardNames.lse(l), [at.nHeads, 'T']);
  // ln1's per-key scale (folded into the pattern, as in the dense path), padded: [1, Pp].
  const keyRow = b.op('Unsqueeze', [b.op('Pad', [keyScale, b.op('Concat', [zero, pad], { axis: int(0) })]), axis0]);
  const window = at.slidingWindow ?? 0;
  let mask = masks.get(window);
  if (!mask) {
    // Query i − block start against key j − block start: the same for every block, cut to its rows.
    const rows = b.op('Range', [b.constI64([0], []), b.op('Squeeze', [Pp, axis0]), b.constI64([1], [])]);
    const cols = b.op('Range', [b.constI64([0], []), b.op('Squeeze', [Bk, axis0]), b.constI64([1], [])]);
    const diff = b.op('Sub', [b.op('Unsqueeze', [rows, axis1]), b.op('Unsqueeze', [cols, axis0])]);
    let allowed = b.op('GreaterOrEqual', [diff, b.constI64([0], [])]);
    if (window) allowed = b.op('And', [allowed, b.op('Less', [diff, b.constI64([window], [])])]);
    mask = b.op('Where', [allowed, b.scalar(0), b.scalar(-3.4028234663852886e38)]);
    masks.set(window, mask);
  }
  const rep = at.nHeads / at.nKvHeads;
  // Soft-capping bounds the scaled score: cap·tanh(scale·s / cap); otherwise Gemm's alpha is the scale.
  const alpha = at.softcap ? at.scale / at.softcap : at.scale;
  return (h, gh) => {
    const pick = (x: string, i: number) => b.op('Gather', [x, b.constI64([i], [])], { axis: int(0) });
    const qh = pick(q, h), kh = pick(k, Math.floor(h / rep)); // [Pp, hd]
    const lseh = b.op('Unsqueeze', [pick(lse, h), axis1]); // [Pp, 1]
    const ghPad = b.op('Pad', [gh, b.op('Concat', [zero, zero, pad, zero], { axis: int(0) })]); // [Pp, rows·hd]
    const outs: string[] = [];
    for (let blk = 0; blk < n; blk++) {
      const k0 = b.op('Mul', [Bk, b.constI64([blk])]);
      const k1 = b.op('Add', [k0, Bk]);
      const rowsFrom = (x: string) => b.op('Slice', [x, k0, Pp, axis0]); // queries [k0, Pp)
      let s = b.op('Gemm', [rowsFrom(qh), b.op('Slice', [kh, k0, k1, axis0])], { transB: int(1), alpha: float(alpha) }); // [Pp − k0, Bk]
      if (at.softcap) s = b.op('Mul', [b.op('Tanh', [s]), b.scalar(at.softcap)]);
      s = b.op('Add', [s, b.op('Slice', [mask!, zero, b.op('Sub', [Pp, k0]), axis0])]);
      const pattern = b.op('Mul', [b.op('Exp', [b.op('Sub', [s, rowsFrom(lseh)])]), b.op('Slice', [keyRow, k0, k1, axis1])]);
      outs.push(b.op('Gemm', [pattern, rowsFrom(ghPad)], { transA: int(1) })); // [Bk, rows·hd]
    }
    return b.op('Slice', [n > 1 ? b.op('Concat', outs, { axis: int(0) }) : outs[0], zero, P, axis0]); // [P(keys), rows·hd]
  };
}
