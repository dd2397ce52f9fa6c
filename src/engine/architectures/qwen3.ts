/** Qwen3: the Llama layout plus per-head RMSNorm of q and k (before rotary), explicit head_dim, no biases. */
import type { ModelSpec } from '../model-spec';
import { num, posInt, type MappingInput } from './common';
import { hfActivation, layerTypes, mapLlamaLike } from './llama-like';

export function mapQwen3(input: MappingInput): ModelSpec {
  const c = input.config;
  const L = posInt(c, 'num_hidden_layers');
  const window = typeof c.sliding_window === 'number' ? posInt(c, 'sliding_window') : undefined;
  // HF Qwen3: with use_sliding_window, layers from max_window_layers on use the window, unless
  // the config lists layer_types explicitly.
  const types = layerTypes(c, L)
    ?? (c.use_sliding_window === true
      ? Array.from({ length: L }, (_, l) => (l >= num(c, 'max_window_layers', L) ? 'sliding_attention' : 'full_attention'))
      : undefined);
  return mapLlamaLike(input, {
    family: 'qwen3',
    normPlusOne: false,
    postNorms: false,
    qkNorm: true,
    act: hfActivation(c.hidden_act ?? 'silu'),
    defaultTie: false,
    attnScale: (hd) => 1 / Math.sqrt(hd),
    slidingWindow: (l) => (types?.[l] === 'sliding_attention' ? window : undefined),
  });
}
