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
  /** [H, T, T] per layer. */
  patterns: Float32Array[];
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

function need(cache: ActivationCache, name: string): HookTensor {
  const h = cache.hooks.get(name);
  if (!h) throw new EngineError('INTERNAL', `The forward pass did not return the hook ${name}.`);
  return h;
}

export function freezeForward(spec: ModelSpec, cache: ActivationCache, inputHook: TranscoderInputHook): FrozenForward {
  const L = spec.nLayers;
  const T = cache.tokens.length;
  const f: FrozenForward = {
    T,
    ids: cache.tokens.map((t) => t.id),
    patterns: [],
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
  for (let l = 0; l < L; l++) {
    f.patterns.push(need(cache, hooks.pattern(l)).data);
    f.ln1.push(need(cache, hooks.ln1Scale(l)).data);
    if (spec.blocks[l].ln1Post) f.ln1Post.push(need(cache, hooks.ln1PostScale(l)).data);
    f.ln2.push(need(cache, hooks.ln2Scale(l)).data);
    if (spec.blocks[l].ln2Post) f.ln2Post.push(need(cache, hooks.ln2PostScale(l)).data);
    f.inputs.push(need(cache, inputHook === 'resid_mid' ? hooks.residMid(l) : hooks.mlpIn(l)).data);
    f.mlpOut.push(need(cache, hooks.mlpOut(l)).data);
  }
  return f;
}
