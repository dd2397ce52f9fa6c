/**
 * The canonical description of a decoder-only transformer that every graph builder consumes.
 *
 * Architecture mappings (src/engine/architectures/*) turn a Hugging Face config + weights into a
 * ModelSpec; graph builders (src/engine/onnx/*) never look at Hugging Face names. Both the forward
 * graph and the linearised backward graph of attribution read the same ModelSpec, so they cannot
 * disagree about what the model is.
 *
 * Conventions:
 * - Matrices are row-major Float32Array. Projection weights are stored [in, out] (x @ W), i.e. already
 *   transposed from torch.nn.Linear's [out, in]; GPT-2's Conv1D is [in, out] natively.
 * - `embed` is [vocab, d_model]; `unembed` is [vocab, d_model] too (lm_head layout). When the model
 *   ties them, `unembed === embed` (the same object), and builders emit one initializer.
 * - Half-precision checkpoints are widened to f32 at load unless a builder asks for f16.
 */

export type Family = 'gpt2' | 'llama' | 'gemma2' | 'qwen3';

export interface Mat {
  data: Float32Array;
  rows: number;
  cols: number;
}

export type Vec = Float32Array;

export interface NormSpec {
  /** 'rms': x * rsqrt(mean(x²) + eps) * w.  'layer': (x - mean) * rsqrt(var + eps) * w + b. */
  kind: 'rms' | 'layer';
  weight: Vec;
  bias?: Vec;
  eps: number;
  /** Gemma stores w - 1: the applied gain is (1 + weight). */
  plusOne?: boolean;
}

export interface RotarySpec {
  /** Number of leading head dimensions rotated (= headDim for Llama-family). */
  dim: number;
  base: number;
  /** 'half' = rotate_half layout used by HF Llama/Qwen/Gemma (pairs i and i + dim/2). */
  layout: 'half';
  scaling?: {
    type: 'llama3';
    factor: number;
    lowFreqFactor: number;
    highFreqFactor: number;
    originalMaxPositions: number;
  } | { type: 'linear'; factor: number };
}

export interface AttentionSpec {
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  /** [d_model, nHeads*headDim] */
  wq: Mat;
  /** [d_model, nKvHeads*headDim] */
  wk: Mat;
  /** [d_model, nKvHeads*headDim] */
  wv: Mat;
  /** [nHeads*headDim, d_model] */
  wo: Mat;
  bq?: Vec;
  bk?: Vec;
  bv?: Vec;
  bo?: Vec;
  rotary?: RotarySpec;
  /** Qwen3: RMSNorm over each head's query / key vector (weight of length headDim), before rotary. */
  qNorm?: NormSpec;
  kNorm?: NormSpec;
  /** Multiplies q·k before the softmax: 1/sqrt(headDim), or Gemma-2's query_pre_attn_scalar^-0.5. */
  scale: number;
  /** Gemma-2: logits = softcap * tanh(logits / softcap) before masking. */
  softcap?: number;
  /** Gemma-2 sliding-window layers: a query attends to keys with q - k < window. */
  slidingWindow?: number;
}

export type Activation = 'gelu_tanh' | 'gelu' | 'silu' | 'relu';

export interface MlpSpec {
  /** 'dense': act(x W_in + b_in) W_out + b_out.  'gated': (act(x W_gate) * (x W_in)) W_out. */
  kind: 'dense' | 'gated';
  act: Activation;
  /** [d_model, d_mlp] — the "up" projection for gated MLPs. */
  wIn: Mat;
  /** [d_model, d_mlp] — gated MLPs only. */
  wGate?: Mat;
  bIn?: Vec;
  /** [d_mlp, d_model] */
  wOut: Mat;
  bOut?: Vec;
}

export interface BlockSpec {
  ln1: NormSpec;
  attn: AttentionSpec;
  /** Gemma-2 post-attention norm, applied to the attention output before it joins the residual. */
  ln1Post?: NormSpec;
  ln2: NormSpec;
  mlp: MlpSpec;
  /** Gemma-2 post-feedforward norm. */
  ln2Post?: NormSpec;
}

export interface ModelSpec {
  family: Family;
  /** A short human name: the config's _name_or_path or the folder name. */
  name: string;
  dModel: number;
  nLayers: number;
  vocabSize: number;
  /** Longest prompt (in tokens) the model accepts. */
  maxPositions: number;
  /** [vocab, d_model] */
  embed: Mat;
  /** Gemma multiplies embeddings by sqrt(d_model). */
  embedScale?: number;
  /** GPT-2 learned positions, [maxPositions, d_model]. */
  posEmbed?: Mat;
  blocks: BlockSpec[];
  lnFinal: NormSpec;
  /** [vocab, d_model]; the same object as `embed` when tied. */
  unembed: Mat;
  bUnembed?: Vec;
  /** Gemma-2 final logit soft-capping. */
  finalSoftcap?: number;
  /** Token id the tokenizer prepends (BOS), if any; attribution zeroes features at that position. */
  bosTokenId?: number;
}

/**
 * Hook names follow TransformerLens so researchers recognise them. Every tensor is for batch 1:
 * the leading batch axis is dropped ([T, d_model], [nHeads, T, T], [T]).
 */
export const hooks = {
  embed: 'hook_embed',
  posEmbed: 'hook_pos_embed',
  residPre: (l: number) => `blocks.${l}.hook_resid_pre`,
  ln1Scale: (l: number) => `blocks.${l}.ln1.hook_scale`,
  pattern: (l: number) => `blocks.${l}.attn.hook_pattern`,
  /** Blocked attention only (long prompts): queries [H, T, hd] and keys [Hkv, T, hd] after q/k norms and rotary, unscaled. */
  rotQ: (l: number) => `blocks.${l}.attn.hook_rot_q`,
  rotK: (l: number) => `blocks.${l}.attn.hook_rot_k`,
  /** Blocked attention only: each query's log-sum-exp of its masked scores [H, T], so any block of the pattern is exp(score − lse). */
  lse: (l: number) => `blocks.${l}.attn.hook_lse`,
  ln1PostScale: (l: number) => `blocks.${l}.ln1_post.hook_scale`,
  attnOut: (l: number) => `blocks.${l}.hook_attn_out`,
  residMid: (l: number) => `blocks.${l}.hook_resid_mid`,
  ln2Scale: (l: number) => `blocks.${l}.ln2.hook_scale`,
  mlpIn: (l: number) => `blocks.${l}.ln2.hook_normalized`,
  ln2PostScale: (l: number) => `blocks.${l}.ln2_post.hook_scale`,
  mlpOut: (l: number) => `blocks.${l}.hook_mlp_out`,
  residPost: (l: number) => `blocks.${l}.hook_resid_post`,
  lnFinalScale: 'ln_final.hook_scale',
  logits: 'logits',
} as const;
