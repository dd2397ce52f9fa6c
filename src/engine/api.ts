/**
 * Types at the engine's boundary: what the CLI, the worker and the tests get back from it.
 * Implementations live beside them (bundle/, forward.ts, attribution/); this file has no logic.
 */
import type { TokenInfo } from '../shared/tokens';
import type { ModelSpec } from './model-spec';

export type { TokenInfo };

export interface PromptTokenizer {
  encode(text: string): TokenInfo[];
  decode(ids: number[]): string;
  /** The token's surface string, for labels (e.g. "Ġthe" → " the"). */
  tokenText(id: number): string;
  vocabSize: number;
}

export interface ModelBundle {
  dir: string;
  spec: ModelSpec;
  tokenizer: PromptTokenizer;
  /** The raw config.json, for display and for builders that need a field the spec does not carry. */
  config: Record<string, unknown>;
  /** Stable hash of the weight files (size + sampled content) used as the on-disk graph cache key. */
  weightsHash: string;
  /** Bytes of weights on disk, for the status bar and memory estimates. */
  weightBytes: number;
}

/** A dense float32 tensor, row-major. Batch axis dropped (batch is always 1 in hooks). */
export interface HookTensor {
  shape: number[];
  data: Float32Array;
}

export interface Prediction {
  tokenId: number;
  token: string;
  prob: number;
  logit: number;
}

export interface ActivationCache {
  tokens: TokenInfo[];
  /** Keyed by the names in model-spec.ts `hooks`. */
  hooks: Map<string, HookTensor>;
  /** [T, vocab] */
  logits: HookTensor;
}

export interface ForwardOptions {
  /** Added to each block's MLP output before it joins the residual: [nLayers, T, d_model].
   *  Steering and ablation of transcoder features enter through here. */
  mlpOutDelta?: Float32Array;
  signal?: AbortSignal;
  /**
   * Run attention in this many query blocks and return rotated queries, keys and log-sum-exps instead of
   * the [H, T, T] patterns (onnx/forward-graph.ts): how long prompts stay in memory linear in T.
   */
  attentionBlocks?: number;
}
