/**
 * Forward graphs with the attention patterns frozen (fed as inputs), for interventions and for the
 * local replacement model.
 *
 * With patterns frozen, attention needs only its value/output path: Q, K, rotary embeddings,
 * soft-capping and windows are all inside the patterns. Two switches:
 * - norms 'live' (computed, as in the real model) or 'frozen' (every norm scale fed as an input);
 * - mlp 'real' (the model's MLP, plus mlp_out_delta [L, T, d] added to what joins the residual, as in
 *   the forward graph) or 'constant' (each MLP output is the input mlp_const [L, T, d] plus the skip
 *   term x @ W_skip of skip transcoders): the local replacement model, linear in its inputs when norms
 *   are frozen too.
 *
 * Inputs: resid0 [T, d] (embeddings, plus GPT-2's positions), pattern_{l} [H, T, T], the scales when
 * frozen (ln1_scale_{l}, ln1post_scale_{l}, ln2_scale_{l}, ln2post_scale_{l}, lnf_scale), and
 * mlp_out_delta or mlp_const.
 * Outputs: logits [T, vocab] (after any final soft-cap), logits_raw (before it), tc_in_{l} [T, d]:
 * the transcoder input of each layer (resid_mid or the normalised MLP input), and in 'real' mode
 * mlp_out_{l} [T, d]: what the MLP adds to the residual (the forward graph's hook_mlp_out, delta
 * included), which subgraph faithfulness reads to replace an MLP by part of its transcoder.
 */
import type { Activation, MlpSpec, ModelSpec, NormSpec, Mat } from '../model-spec';
import type { TranscoderInputHook } from './backward-graph';
import { GraphBuilder, int, ints } from './builder';

export interface InterventionGraphOptions {
  norms: 'live' | 'frozen';
  mlp: 'real' | 'constant';
  inputHook: TranscoderInputHook;
  /** Skip matrices [d, d] (x @ W) used in 'constant' mode. */
  skip?: (Mat | undefined)[];
}

export const interventionNames = {
  resid0: 'resid0',
  pattern: (l: number) => `pattern_${l}`,
  ln1Scale: (l: number) => `ln1_scale_${l}`,
  ln1PostScale: (l: number) => `ln1post_scale_${l}`,
  ln2Scale: (l: number) => `ln2_scale_${l}`,
  ln2PostScale: (l: number) => `ln2post_scale_${l}`,
  lnfScale: 'lnf_scale',
  mlpOutDelta: 'mlp_out_delta',
  mlpConst: 'mlp_const',
  logits: 'logits',
  logitsRaw: 'logits_raw',
  tcIn: (l: number) => `tc_in_${l}`,
  mlpOut: (l: number) => `mlp_out_${l}`,
} as const;

export function buildInterventionGraph(spec: ModelSpec, opts: InterventionGraphOptions): GraphBuilder {
  const b = new GraphBuilder(`${spec.name}-frozen-attention-${opts.norms}-${opts.mlp}`);
  const N = interventionNames;
  const L = spec.nLayers, d = spec.dModel;
  let x = b.input(N.resid0, 'float', ['T', d]);
  const extra = b.input(opts.mlp === 'real' ? N.mlpOutDelta : N.mlpConst, 'float', [L, 'T', d]);

  const norm = (n: NormSpec, v: string, scaleName: string): string => {
    const gain = b.init('gain', n.plusOne ? n.weight.map((w) => 1 + w) : n.weight, [n.weight.length]);
    let centred = v;
    if (n.kind === 'layer') centred = b.op('Sub', [v, b.op('ReduceMean', [v], { axes: ints([-1]), keepdims: int(1) })]);
    let scale: string;
    if (opts.norms === 'frozen') {
      scale = b.op('Unsqueeze', [b.input(scaleName, 'float', ['T']), b.constI64([1])]);
    } else {
      const ms = b.op('ReduceMean', [b.op('Mul', [centred, centred])], { axes: ints([-1]), keepdims: int(1) });
      scale = b.op('Reciprocal', [b.op('Sqrt', [b.op('Add', [ms, b.scalar(n.eps)])])]);
    }
    let y = b.op('Mul', [b.op('Mul', [centred, scale]), gain]);
    if (n.bias) y = b.op('Add', [y, b.init('norm_bias', n.bias, [n.bias.length])]);
    return y;
  };
  const matmul = (v: string, m: Mat, name: string) => b.op('MatMul', [v, b.init(name, m.data, [m.rows, m.cols])]);
  const addBias = (v: string, bias: Float32Array | undefined, name: string) => (bias ? b.op('Add', [v, b.init(name, bias, [bias.length])]) : v);

  for (let l = 0; l < L; l++) {
    const blk = spec.blocks[l];
    const at = blk.attn;
    const H = at.nHeads, Hkv = at.nKvHeads, hd = at.headDim;
    const a = norm(blk.ln1, x, N.ln1Scale(l));
    let v = addBias(matmul(a, at.wv, `w_v_${l}`), at.bv, `b_v_${l}`); // [T, Hkv*hd]
    v = b.op('Transpose', [b.op('Reshape', [v, b.constI64([0, Hkv, hd])])], { perm: ints([1, 0, 2]) }); // [Hkv, T, hd]
    if (H !== Hkv) {
      // repeat_kv: query head h reads key/value head floor(h / (H / Hkv)).
      const rep = H / Hkv;
      v = b.op('Reshape', [b.op('Expand', [b.op('Unsqueeze', [v, b.constI64([1])]), b.constI64([Hkv, rep, 1, 1])]), b.constI64([H, -1, hd])]);
    }
    const z = b.op('MatMul', [b.input(N.pattern(l), 'float', [H, 'T', 'T']), v]); // [H, T, hd]
    const zf = b.op('Reshape', [b.op('Transpose', [z], { perm: ints([1, 0, 2]) }), b.constI64([0, H * hd])]);
    let attn = addBias(matmul(zf, at.wo, `w_o_${l}`), at.bo, `b_o_${l}`);
    if (blk.ln1Post) attn = norm(blk.ln1Post, attn, N.ln1PostScale(l));
    x = b.op('Add', [x, attn]);
    const mIn = norm(blk.ln2, x, N.ln2Scale(l));
    const tcIn = opts.inputHook === 'resid_mid' ? x : mIn;
    b.output(tcIn, N.tcIn(l), 'float', ['T', d]);
    const slice = b.op('Gather', [extra, b.constI64([l], [])], { axis: int(0) });
    let out: string;
    if (opts.mlp === 'real') {
      out = mlp(b, blk.mlp, mIn, l);
      if (blk.ln2Post) out = norm(blk.ln2Post, out, N.ln2PostScale(l));
      out = b.op('Add', [out, slice]);
      b.output(out, N.mlpOut(l), 'float', ['T', d]);
    } else {
      out = slice;
      const ws = opts.skip?.[l];
      if (ws) out = b.op('Add', [out, matmul(tcIn, ws, `w_skip_${l}`)]);
    }
    x = b.op('Add', [x, out]);
  }
  const xf = norm(spec.lnFinal, x, N.lnfScale);
  const unembed = b.init('unembed', spec.unembed.data, [spec.unembed.rows, spec.unembed.cols]);
  let logits = b.op('MatMul', [xf, b.op('Transpose', [unembed], { perm: ints([1, 0]) })]);
  if (spec.bUnembed) logits = b.op('Add', [logits, b.init('b_unembed', spec.bUnembed, [spec.vocabSize])]);
  b.output(logits, N.logitsRaw, 'float', ['T', spec.vocabSize]);
  const cap = spec.finalSoftcap;
  const capped = cap ? b.op('Mul', [b.op('Tanh', [b.op('Div', [logits, b.scalar(cap)])]), b.scalar(cap)]) : logits;
  b.output(capped, N.logits, 'float', ['T', spec.vocabSize]);
  return b;
}

function act(b: GraphBuilder, a: Activation, x: string): string {
  switch (a) {
    case 'relu':
      return b.op('Relu', [x]);
    case 'silu':
      return b.op('Mul', [x, b.op('Sigmoid', [x])]);
    case 'gelu':
      return b.op('Mul', [b.op('Mul', [x, b.scalar(0.5)]), b.op('Add', [b.scalar(1), b.op('Erf', [b.op('Div', [x, b.scalar(Math.SQRT2)])])])]);
    case 'gelu_tanh': {
      const inner = b.op('Mul', [b.scalar(Math.sqrt(2 / Math.PI)), b.op('Add', [x, b.op('Mul', [b.scalar(0.044715), b.op('Mul', [x, b.op('Mul', [x, x])])])])]);
      return b.op('Mul', [b.op('Mul', [x, b.scalar(0.5)]), b.op('Add', [b.scalar(1), b.op('Tanh', [inner])])]);
    }
  }
}

function mlp(b: GraphBuilder, m: MlpSpec, x: string, l: number): string {
  const mm = (v: string, w: Mat, name: string) => b.op('MatMul', [v, b.init(name, w.data, [w.rows, w.cols])]);
  let up = mm(x, m.wIn, `w_in_${l}`);
  if (m.bIn) up = b.op('Add', [up, b.init(`b_in_${l}`, m.bIn, [m.bIn.length])]);
  let h: string;
  if (m.kind === 'gated') {
    if (!m.wGate) throw new Error(`layer ${l}: gated MLP without a gate projection`);
    h = b.op('Mul', [act(b, m.act, mm(x, m.wGate, `w_gate_${l}`)), up]);
  } else {
    h = act(b, m.act, up);
  }
  let out = mm(h, m.wOut, `w_out_${l}`);
  if (m.bOut) out = b.op('Add', [out, b.init(`b_out_${l}`, m.bOut, [m.bOut.length])]);
  return out;
}
