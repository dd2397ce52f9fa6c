/**
 * What attribution freezes from one forward pass: the attention patterns and every normalisation scale
 * (which make the residual stream linear), the embeddings that entered it, each transcoder's input and
 * the MLPs' real outputs. Read from the forward runner's hooks, so the replacement model is anchored on
 * exactly the forward pass the user sees.
 */
import type { ActivationCache, HookTensor } from '../api';
import { EngineError } from '../errors';
import { hooks, type ModelSpec } from '../model-spec';
import type { TranscoderInputHook } from '../onnx/backward-graph';

export interface FrozenForward {
  T: number;
  ids: number[];
  /**
   * [H, T, T] per layer; absent for a long prompt run with blocked attention (`blocked` instead): read
   * through `densePatterns`, which says so clearly.
   */
  patterns?: Float32Array[];
  /** Blocked attention (long prompts): what any block of the patterns is rebuilt from, per layer. */
  blocked?: BlockedAttention;
  ln1: Float32Array[];
  /** Gemma-2's post-attention norm scales; empty elsewhere. */
  ln1Post: Float32Array[];
  ln2: Float32Array[];
  /** Gemma-2's post-feed-forward norm scales; empty elsewhere. */
  ln2Post: Float32Array[];
  lnf: Float32Array;
  /** [T, d]: what entered the residual stream as token embeddings (after Gemma's scaling). */
  embeddings: Float32Array;
  /** [T, d]: GPT-2's learned positional embeddings (a constant of the replacement model). */
  posEmbed?: Float32Array;
  /** [T, d] per layer: the transcoder input (resid_mid or the normalised MLP input). */
  inputs: Float32Array[];
  /** [T, d] per layer: hook_mlp_out. */
  mlpOut: Float32Array[];
  /** [T, vocab] */
  logits: Float32Array;
}

/**
 * Dense patterns of all layers above this many bytes make attribution run attention in blocks. Measured
 * on the embedded model (one thread): blocked is as fast or faster from 1k tokens on (2k: 7.5 s / 0.8 GB
 * against 9.7 s / 1.4 GB dense; 4k: 18 s / 1.5 GB against 33 s / 4.1 GB), but the views that read dense
 * patterns (head loadings, QK, interventions, SAE graphs) need them: 512 MiB keeps those up to ~2.9k
 * tokens on the embedded model and ~800 on Gemma-2-2B.
 */
export const DENSE_PATTERN_BYTES = 2 ** 29;
/** The block length blocked attention aims at: one block's scores are [H, 512, T] in the forward. */
const BLOCK_LENGTH = 512;

/**
 * Query blocks for a T-token prompt (0: dense patterns). `requested` overrides (0 forces dense); by
 * default blocks start where the dense patterns would pass DENSE_PATTERN_BYTES, and their number is a
 * power of two near T / BLOCK_LENGTH so few graphs are built across prompt lengths.
 */
export function attentionBlocksFor(spec: Pick<ModelSpec, 'blocks'>, T: number, requested?: number): number {
  if (requested !== undefined) return Math.max(0, Math.floor(requested));
  const dense = spec.blocks.reduce((s, b) => s + b.attn.nHeads * T * T * 4, 0);
  if (dense <= DENSE_PATTERN_BYTES) return 0;
  return 2 ** Math.ceil(Math.log2(Math.max(2, Math.ceil(T / BLOCK_LENGTH))));
}

export interface BlockedAttention {
  /** Query blocks the forward graph was built with (the backward sweep uses the same number). */
  blocks: number;
  /** [H, T, hd] rotated queries, [Hkv, T, hd] rotated keys, [H, T] log-sum-exps, per layer. */
  q: Float32Array[];
  k: Float32Array[];
  lse: Float32Array[];
}

/**
 * The dense patterns, for the analyses that read them entry by entry (head loadings, QK attribution,
 * interventions, SAE graphs); a prompt long enough to run with blocked attention does not keep them.
 */
export function densePatterns(f: FrozenForward, purpose: string): Float32Array[] {
  if (f.patterns) return f.patterns;
  throw new EngineError(
    'PROMPT_TOO_LONG',
    `${purpose} needs the prompt's dense attention patterns, which this ${f.T}-token prompt does not keep: they grow with the square of its length, so attribution rebuilds them block by block instead.`,
    'Use a shorter prompt for this view; the attribution graph itself works at this length.',
  );
}

function need(cache: ActivationCache, name: string): HookTensor {
  const h = cache.hooks.get(name);
  if (!h) throw new EngineError('INTERNAL', `The forward pass did not return the hook ${name}.`);
  return h;
}

/** `blocks`: the query blocks the forward ran attention in (when it returned no dense patterns). */
export function freezeForward(spec: ModelSpec, cache: ActivationCache, inputHook: TranscoderInputHook, blocks = 0): FrozenForward {
  const L = spec.nLayers;
  const T = cache.tokens.length;
  const f: FrozenForward = {
    T,
    ids: cache.tokens.map((t) => t.id),
    ln1: [],
    ln1Post: [],
    ln2: [],
    ln2Post: [],
    lnf: need(cache, hooks.lnFinalScale).data,
    embeddings: need(cache, hooks.embed).data,
    posEmbed: spec.posEmbed ? need(cache, hooks.posEmbed).data : undefined,
    inputs: [],
    mlpOut: [],
    logits: cache.logits.data,
  };
  if (blocks > 0) f.blocked = { blocks, q: [], k: [], lse: [] };
  else f.patterns = [];
  for (let l = 0; l < L; l++) {
    if (f.blocked) {
      f.blocked.q.push(need(cache, hooks.rotQ(l)).data);
      f.blocked.k.push(need(cache, hooks.rotK(l)).data);
      f.blocked.lse.push(need(cache, hooks.lse(l)).data);
    } else f.patterns!.push(need(cache, hooks.pattern(l)).data);
    f.ln1.push(need(cache, hooks.ln1Scale(l)).data);
    if (spec.blocks[l].ln1Post) f.ln1Post.push(need(cache, hooks.ln1PostScale(l)).data);
    f.ln2.push(need(cache, hooks.ln2Scale(l)).data);
    if (spec.blocks[l].ln2Post) f.ln2Post.push(need(cache, hooks.ln2PostScale(l)).data);
    f.inputs.push(need(cache, inputHook === 'resid_mid' ? hooks.residMid(l) : hooks.mlpIn(l)).data);
    f.mlpOut.push(need(cache, hooks.mlpOut(l)).data);
  }
  return f;
}
