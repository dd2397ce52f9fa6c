/**
 * The linearised backward graph of an SAE graph (sparse feature circuits, Marks et al.: attribution
 * patching through the model's local Jacobian).
 *
 * Unlike the transcoder graph (backward-graph.ts) no MLP is replaced, so the gradient goes THROUGH every
 * MLP, linearised at the prompt: with the MLP's input x = ln2(resid_mid) (scale frozen) and its
 * pre-activations recomputed here from the frozen resid_mid,
 *   dense  act(x W_in + b) W_out:            gₓ = ((g W_outᵀ) ⊙ act'(pre)) W_inᵀ
 *   gated  (act(x W_gate) ⊙ x W_in) W_out:   gₓ = ((g W_outᵀ) ⊙ up ⊙ act'(gate)) W_gateᵀ + ((g W_outᵀ) ⊙ act(gate)) W_inᵀ
 * (Gemma-2's post-feedforward norm frozen before it). Attention patterns and norm scales are frozen as
 * in the transcoder graph; only the value/output path of attention is traversed.
 *
 * One residual-stream SAE sits at blocks.{site}.hook_resid_post. The residual there is exactly
 * reconstruction + error, so every path from the embeddings to the logits crosses the site: logit seeds
 * (injected after ln_final) are propagated down to the site and stop there; feature seeds (encoder rows,
 * injected at the site) are propagated from the site down to the embeddings.
 *
 * Inputs (T = prompt length, B = seeds): seed_vec [B, d], seed_pos [B] int64, seed_logit [B] float
 * (1: a logit seed, 0: a feature seed at the site); pattern_{l} [H, T, T]; ln1_scale_{l}, ln2_scale_{l}
 * [T] (Gemma-2: ln1post_scale_{l}, ln2post_scale_{l}); lnf_scale [T]; resid_mid_{l} [T, d]; tokens [T, d].
 * Outputs: site [B, T, d] (the gradient at the site: dotted with feature decoder vectors and error
 * vectors by the caller), tok [B, T] (the gradient dotted with the token embeddings).
 */
import type { Activation, ModelSpec, NormSpec } from '../model-spec';
import { GraphBuilder, int, ints } from './builder';

export const saeBackwardNames = {
  seedVec: 'seed_vec',
  seedPos: 'seed_pos',
  seedLogit: 'seed_logit',
  pattern: (l: number) => `pattern_${l}`,
  ln1Scale: (l: number) => `ln1_scale_${l}`,
  ln1PostScale: (l: number) => `ln1post_scale_${l}`,
  ln2Scale: (l: number) => `ln2_scale_${l}`,
  ln2PostScale: (l: number) => `ln2post_scale_${l}`,
  lnfScale: 'lnf_scale',
  residMid: (l: number) => `resid_mid_${l}`,
  tokens: 'tokens',
  siteOut: 'site',
  tokOut: 'tok',
} as const;

function gain(n: NormSpec): Float32Array {
  return n.plusOne ? n.weight.map((w) => 1 + w) : n.weight;
}

/** Frozen norm, transposed Jacobian (as in backward-graph.ts): RMS gₓ = s·(w ⊙ g); LayerNorm centres it. */
function normBackward(b: GraphBuilder, norm: NormSpec, scale: string, g: string): string {
  const w = b.init('gain', gain(norm), [norm.weight.length]);
  const s = b.op('Unsqueeze', [scale, b.constI64([1])]);
  let v = b.op('Mul', [b.op('Mul', [g, w]), s]);
  if (norm.kind === 'layer') v = b.op('Sub', [v, b.op('ReduceMean', [v], { axes: ints([-1]), keepdims: int(1) })]);
  return v;
}

/** The norm's forward output with its scale frozen at the prompt's (equal to the real one at the prompt). */
function normForward(b: GraphBuilder, norm: NormSpec, scale: string, x: string): string {
  const w = b.init('gain', gain(norm), [norm.weight.length]);
  const s = b.op('Unsqueeze', [scale, b.constI64([1])]);
  const c = norm.kind === 'layer' ? b.op('Sub', [x, b.op('ReduceMean', [x], { axes: ints([-1]), keepdims: int(1) })]) : x;
  let y = b.op('Mul', [b.op('Mul', [c, s]), w]);
  if (norm.kind === 'layer' && norm.bias) y = b.op('Add', [y, b.init('bias', norm.bias, [norm.bias.length])]);
  return y;
}

/** act(z) and act'(z), elementwise. */
function activation(b: GraphBuilder, act: Activation, z: string): { f: string; df: string } {
  const one = b.scalar(1);
  const half = b.scalar(0.5);
  if (act === 'silu') {
    const sg = b.op('Sigmoid', [z]);
    // silu'(z) = σ(z)·(1 + z·(1 − σ(z)))
    return { f: b.op('Mul', [z, sg]), df: b.op('Mul', [sg, b.op('Add', [one, b.op('Mul', [z, b.op('Sub', [one, sg])])])]) };
  }
  if (act === 'relu') {
    const step = b.op('Cast', [b.op('Greater', [z, b.scalar(0)])], { to: int(1) });
    return { f: b.op('Mul', [z, step]), df: step };
  }
  if (act === 'gelu') {
    // Φ(z) + z·φ(z)
    const phi = b.op('Mul', [half, b.op('Add', [one, b.op('Erf', [b.op('Mul', [z, b.scalar(Math.SQRT1_2)])])])]);
    const dens = b.op('Mul', [b.scalar(1 / Math.sqrt(2 * Math.PI)), b.op('Exp', [b.op('Mul', [b.scalar(-0.5), b.op('Mul', [z, z])])])]);
    return { f: b.op('Mul', [z, phi]), df: b.op('Add', [phi, b.op('Mul', [z, dens])]) };
  }
  // gelu_tanh: 0.5·z·(1 + tanh(u)), u = k·(z + 0.044715 z³)
  const k = Math.sqrt(2 / Math.PI);
  const z2 = b.op('Mul', [z, z]);
  const u = b.op('Mul', [b.scalar(k), b.op('Add', [z, b.op('Mul', [b.scalar(0.044715), b.op('Mul', [z2, z])])])]);
  const th = b.op('Tanh', [u]);
  const f = b.op('Mul', [b.op('Mul', [half, z]), b.op('Add', [one, th])]);
  const du = b.op('Mul', [b.scalar(k), b.op('Add', [one, b.op('Mul', [b.scalar(3 * 0.044715), z2])])]);
  const df = b.op('Add', [b.op('Mul', [half, b.op('Add', [one, th])]), b.op('Mul', [b.op('Mul', [half, z]), b.op('Mul', [b.op('Sub', [one, b.op('Mul', [th, th])]), du])])]);
  return { f, df };
}

export function buildSaeBackwardGraph(spec: ModelSpec, site: number): GraphBuilder {
  const b = new GraphBuilder(`${spec.name}-sae-attribution-backward`);
  const L = spec.nLayers;
  const d = spec.dModel;
  const N = saeBackwardNames;
  const seedVec = b.input(N.seedVec, 'float', ['B', d]);
  const seedPos = b.input(N.seedPos, 'int64', ['B']);
  const seedLogit = b.input(N.seedLogit, 'float', ['B']);
  const tokens = b.input(N.tokens, 'float', ['T', d]);
  const lnf = b.input(N.lnfScale, 'float', ['T']);

  const T = b.op('Gather', [b.op('Shape', [tokens]), b.constI64([0], [])], { axis: int(0) });
  const range = b.op('Range', [b.constI64([0], []), T, b.constI64([1], [])]);
  const onehot = b.op('Cast', [b.op('Equal', [b.op('Unsqueeze', [seedPos, b.constI64([1])]), b.op('Unsqueeze', [range, b.constI64([0])])])], { to: int(1) });
  const seeds = b.op('Mul', [b.op('Unsqueeze', [onehot, b.constI64([2])]), b.op('Unsqueeze', [seedVec, b.constI64([1])])]); // [B,T,d]
  const mask = (m: string) => b.op('Unsqueeze', [m, b.constI64([1, 2])]);
  const logitSeeds = b.op('Mul', [seeds, mask(seedLogit)]);
  const featSeeds = b.op('Mul', [seeds, mask(b.op('Sub', [b.scalar(1), seedLogit]))]);

  const block = (l: number, g: string): string => {
    const blk = spec.blocks[l];
    // MLP, linearised at the prompt: resid_mid → ln2 (frozen scale) → MLP (→ Gemma's ln2_post, frozen).
    const ln2 = b.input(N.ln2Scale(l), 'float', ['T']);
    const x = normForward(b, blk.ln2, ln2, b.input(N.residMid(l), 'float', ['T', d])); // [T, d]
    let gm = g;
    if (blk.ln2Post) gm = normBackward(b, blk.ln2Post, b.input(N.ln2PostScale(l), 'float', ['T']), g);
    const mlp = blk.mlp;
    const wIn = b.init(`w_in_${l}`, mlp.wIn.data, [mlp.wIn.rows, mlp.wIn.cols]);
    const wOutT = b.op('Transpose', [b.init(`w_out_${l}`, mlp.wOut.data, [mlp.wOut.rows, mlp.wOut.cols])], { perm: ints([1, 0]) });
    const wInT = b.op('Transpose', [wIn], { perm: ints([1, 0]) });
    const gh = b.op('MatMul', [gm, wOutT]); // [B, T, d_mlp]
    let gx: string;
    if (mlp.kind === 'gated') {
      const wGate = b.init(`w_gate_${l}`, mlp.wGate!.data, [mlp.wGate!.rows, mlp.wGate!.cols]);
      const up = b.op('MatMul', [x, wIn]);
      const gate = activation(b, mlp.act, b.op('MatMul', [x, wGate]));
      gx = b.op('Add', [
        b.op('MatMul', [b.op('Mul', [gh, b.op('Mul', [up, gate.df])]), b.op('Transpose', [wGate], { perm: ints([1, 0]) })]),
        b.op('MatMul', [b.op('Mul', [gh, gate.f]), wInT]),
      ]);
    } else {
      let pre = b.op('MatMul', [x, wIn]);
      if (mlp.bIn) pre = b.op('Add', [pre, b.init(`b_in_${l}`, mlp.bIn, [mlp.bIn.length])]);
      gx = b.op('MatMul', [b.op('Mul', [gh, activation(b, mlp.act, pre).df]), wInT]);
    }
    const gMid = b.op('Add', [g, normBackward(b, blk.ln2, ln2, gx)]);

    // Attention, value/output path (patterns frozen).
    const at = blk.attn;
    let gAttn = gMid;
    if (blk.ln1Post) gAttn = normBackward(b, blk.ln1Post, b.input(N.ln1PostScale(l), 'float', ['T']), gMid);
    const H = at.nHeads, Hkv = at.nKvHeads, hd = at.headDim, rep = H / Hkv;
    const woT = b.op('Transpose', [b.init(`w_o_${l}`, at.wo.data, [at.wo.rows, at.wo.cols])], { perm: ints([1, 0]) });
    const wvT = b.op('Transpose', [b.init(`w_v_${l}`, at.wv.data, [at.wv.rows, at.wv.cols])], { perm: ints([1, 0]) });
    let gz = b.op('MatMul', [gAttn, woT]);
    gz = b.op('Transpose', [b.op('Reshape', [gz, b.constI64([0, 0, H, hd])])], { perm: ints([0, 2, 1, 3]) }); // [B,H,T,hd]
    const pT = b.op('Transpose', [b.input(N.pattern(l), 'float', [H, 'T', 'T'])], { perm: ints([0, 2, 1]) });
    let gv = b.op('MatMul', [pT, gz]);
    if (rep > 1) {
      const shape = b.op('Concat', [b.constI64([0, Hkv, rep]), b.op('Unsqueeze', [T, b.constI64([0])]), b.constI64([hd])], { axis: int(0) });
      gv = b.op('ReduceSum', [b.op('Reshape', [gv, shape]), b.constI64([2])], { keepdims: int(0) });
    }
    gv = b.op('Reshape', [b.op('Transpose', [gv], { perm: ints([0, 2, 1, 3]) }), b.constI64([0, 0, Hkv * hd])]);
    return b.op('Add', [gMid, normBackward(b, blk.ln1, b.input(N.ln1Scale(l), 'float', ['T']), b.op('MatMul', [gv, wvT]))]);
  };

  let g = normBackward(b, spec.lnFinal, lnf, logitSeeds);
  for (let l = L - 1; l > site; l--) g = block(l, g);
  b.output(g, N.siteOut, 'float', ['B', 'T', d]);
  // Logit seeds stop at the site (the residual there is features + error); feature seeds start there.
  g = featSeeds;
  for (let l = site; l >= 0; l--) g = block(l, g);
  b.output(b.op('ReduceSum', [b.op('Mul', [g, tokens]), b.constI64([-1])], { keepdims: int(0) }), N.tokOut, 'float', ['B', 'T']);
  return b;
}
