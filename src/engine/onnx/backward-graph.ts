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
 * Inputs (T = prompt length, B = batch of seeds):
 *   seed_vec [B, d]   seed_layer [B] int64   seed_pos [B] int64   active [L + 1] int64
 *     Seeds sorted by layer, highest first; active[l] ≥ how many are at layer ≥ l (and ≥ 1). A seed's
 *     gradient is zero above its layer, so layer l of the sweep computes only the first active[l]
 *     rows: a batch of low-layer features costs a fraction of a full sweep.
 *     seed_layer l < L: injected at layer l's transcoder input (resid_mid, or the normalised MLP
 *     input, through the frozen ln2); seed_layer == L: injected after ln_final (a logit direction).
 *   pattern_{l} [H, T, T]    ln1_scale_{l} [T]   ln2_scale_{l} [T]   (Gemma-2: ln1post_scale_{l})
 *   lnf_scale [T]. Transcoders write at hook_mlp_out (after Gemma-2's post-feedforward norm), so that
 *   norm's scale is not needed. Callers feed the inputs the session lists.
 *   dec_{l} [T, d, m_l]: the activation-scaled decoder vectors writing into layer l, grouped by
 *     position (slot s of position t holds one feature's vector; unused slots are zero), so the dot
 *     products are one batched MatMul over positions instead of a [B, n_features, d] gather
 *   errors [L, T, d]          tokens [T, d] (the embeddings that entered the residual stream)
 * Outputs: feat_{l} [T, active[l + 1], m_l] (slot scores), err [B, L, T], tok [B, T].
 */
import type { Mat, ModelSpec, NormSpec } from '../model-spec';
import { GraphBuilder, int, ints } from './builder';

export type TranscoderInputHook = 'resid_mid' | 'mlp_in';

export interface BackwardGraphOptions {
  /** Where the transcoders read: the residual stream before ln2, or the MLP's normalised input. */
  inputHook: TranscoderInputHook;
  /** Per-layer skip matrices [d, d] of skip transcoders in x @ W orientation, undefined where none. */
  skip?: (Mat | undefined)[];
}

export const backwardNames = {
  seedVec: 'seed_vec',
  seedLayer: 'seed_layer',
  seedPos: 'seed_pos',
  active: 'active',
  pattern: (l: number) => `pattern_${l}`,
  ln1Scale: (l: number) => `ln1_scale_${l}`,
  ln1PostScale: (l: number) => `ln1post_scale_${l}`,
  ln2Scale: (l: number) => `ln2_scale_${l}`,
  lnfScale: 'lnf_scale',
  dec: (l: number) => `dec_${l}`,
  errors: 'errors',
  tokens: 'tokens',
  featOut: (l: number) => `feat_${l}`,
  errOut: 'err',
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

  const seedVec = b.input(N.seedVec, 'float', ['B', d]);
  const seedLayer = b.input(N.seedLayer, 'int64', ['B']);
  const seedPos = b.input(N.seedPos, 'int64', ['B']);
  const active = b.input(N.active, 'int64', [L + 1]);
  const errors = b.input(N.errors, 'float', [L, 'T', d]);
  const tokens = b.input(N.tokens, 'float', ['T', d]);
  const lnf = b.input(N.lnfScale, 'float', ['T']);

  // S[b, t, :] = seed_vec[b] where t == seed_pos[b]: the seeds laid out on the positions.
  const T = b.op('Gather', [b.op('Shape', [tokens]), b.constI64([0], [])], { axis: int(0) });
  const T1 = b.op('Unsqueeze', [T, b.constI64([0])]);
  const range = b.op('Range', [b.constI64([0], []), T, b.constI64([1], [])]);
  const onehot = b.op('Cast', [b.op('Equal', [b.op('Unsqueeze', [seedPos, b.constI64([1])]), b.op('Unsqueeze', [range, b.constI64([0])])])], { to: int(1) });
  const seeds = b.op('Mul', [b.op('Unsqueeze', [onehot, b.constI64([2])]), b.op('Unsqueeze', [seedVec, b.constI64([1])])]); // [B,T,d]
  const batch = b.op('Shape', [seedLayer]); // [B] as a 1-D tensor
  // Seeds arrive sorted by layer, highest first, and active[l] counts those at layer ≥ l: above a
  // seed's layer its gradient is zero, so layer l only carries the first active[l] rows.
  const activeAt = (l: number) => b.op('Slice', [active, b.constI64([l]), b.constI64([l + 1]), b.constI64([0])]); // [1]
  const firstRows = (x: string, n: string) => b.op('Slice', [x, b.constI64([0]), n, b.constI64([0])]);
  /** Zero rows appended along axis 0 so x ([from, ...rest]) has `to` rows; `rest` = number of other axes. */
  const padRows = (x: string, from: string, to: string, rest: number) =>
    b.op('Pad', [x, b.op('Concat', [b.constI64([0]), b.constI64(new Array(rest).fill(0)), b.op('Sub', [to, from]), b.constI64(new Array(rest).fill(0))], { axis: int(0) })]);
  const seedsAt = (layer: number, n: string): string => {
    const mask = b.op('Cast', [b.op('Equal', [firstRows(seedLayer, n), b.constI64([layer], [])])], { to: int(1) });
    return b.op('Mul', [firstRows(seeds, n), b.op('Unsqueeze', [mask, b.constI64([1, 2])])]);
  };
  const sumLastAxis = (x: string) => b.op('ReduceSum', [x, b.constI64([-1])], { keepdims: int(0) });

  // Logit seeds enter after ln_final.
  let above = activeAt(L);
  let g = normBackward(b, spec.lnFinal, lnf, seedsAt(L, above)); // [active[L], T, d]
  const errRows: string[] = new Array(L);
  for (let l = L - 1; l >= 0; l--) {
    const blk = spec.blocks[l];
    const at = blk.attn;
    const here = activeAt(l);
    // The MLP's replacement writes straight into the residual stream (hook_mlp_out): its sources read
    // the gradient there.
    const dec = b.input(N.dec(l), 'float', ['T', d, `m${l}`]);
    const gT = b.op('Transpose', [g], { perm: ints([1, 0, 2]) }); // [T, rows, d]
    b.output(b.op('MatMul', [gT, dec]), N.featOut(l), 'float', ['T', `a${l + 1}`, `m${l}`]);
    const errL = b.op('Gather', [errors, b.constI64([l], [])], { axis: int(0) }); // [T, d]
    errRows[l] = b.op('Unsqueeze', [padRows(sumLastAxis(b.op('Mul', [g, errL])), above, batch, 1), b.constI64([1])]); // [B,1,T]

    // Gradient at the transcoder input: this layer's seeds, plus the skip path W_skip.
    let gIn = seedsAt(l, here);
    const skip = opts.skip?.[l];
    if (skip) {
      // skip = x @ W, so the gradient at x is g @ Wᵀ.
      const ws = b.init(`w_skip_${l}`, skip.data, [skip.rows, skip.cols]);
      gIn = b.op('Add', [gIn, padRows(b.op('MatMul', [g, b.op('Transpose', [ws], { perm: ints([1, 0]) })]), above, here, 2)]);
    }
    const ln2 = b.input(N.ln2Scale(l), 'float', ['T']);
    const gMid = b.op('Add', [padRows(g, above, here, 2), opts.inputHook === 'mlp_in' ? normBackward(b, blk.ln2, ln2, gIn) : gIn]);

    // Attention, value/output path only: out = (P · (ln1(x) W_v + b_v)) W_o (+ Gemma's post norm).
    let gAttn = gMid;
    if (blk.ln1Post) {
      b.input(N.ln1PostScale(l), 'float', ['T']);
      gAttn = normBackward(b, blk.ln1Post, N.ln1PostScale(l), gMid);
    }
    const H = at.nHeads, Hkv = at.nKvHeads, hd = at.headDim, rep = H / Hkv;
    const wo = b.init(`w_o_${l}`, at.wo.data, [at.wo.rows, at.wo.cols]);
    const wv = b.init(`w_v_${l}`, at.wv.data, [at.wv.rows, at.wv.cols]);
    const woT = b.op('Transpose', [wo], { perm: ints([1, 0]) });
    const wvT = b.op('Transpose', [wv], { perm: ints([1, 0]) });
    let gz = b.op('MatMul', [gAttn, woT]); // [rows, T, H*hd]
    gz = b.op('Transpose', [b.op('Reshape', [gz, b.constI64([0, 0, H, hd])])], { perm: ints([0, 2, 1, 3]) }); // [rows,H,T,hd]
    const pattern = b.input(N.pattern(l), 'float', [H, 'T', 'T']);
    const pT = b.op('Transpose', [pattern], { perm: ints([0, 2, 1]) });
    let gv = b.op('MatMul', [pT, gz]); // [rows, H, T(keys), hd]
    if (rep > 1) {
      // No -1 in the shape: a batch of zero rows would make its inference divide by zero.
      const shape = b.op('Concat', [b.constI64([0, Hkv, rep]), T1, b.constI64([hd])], { axis: int(0) });
      gv = b.op('ReduceSum', [b.op('Reshape', [gv, shape]), b.constI64([2])], { keepdims: int(0) });
    }
    gv = b.op('Reshape', [b.op('Transpose', [gv], { perm: ints([0, 2, 1, 3]) }), b.constI64([0, 0, Hkv * hd])]);
    const ln1 = b.input(N.ln1Scale(l), 'float', ['T']);
    g = b.op('Add', [gMid, normBackward(b, blk.ln1, ln1, b.op('MatMul', [gv, wvT]))]);
    above = here;
  }
  b.output(b.op('Concat', errRows, { axis: int(1) }), N.errOut, 'float', ['B', L, 'T']);
  b.output(sumLastAxis(b.op('Mul', [g, tokens])), N.tokOut, 'float', ['B', 'T']);
  return b;
}
