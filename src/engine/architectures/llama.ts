/** Llama-2/3.x: RMSNorm, rotary (with Llama-3 frequency scaling), grouped-query attention, SwiGLU. */
import type { ModelSpec } from '../model-spec';
import { posInt, type MappingInput } from './common';
import { hfActivation, layerTypes, mapLlamaLike } from './llama-like';

export function mapLlama(input: MappingInput): ModelSpec {
  const c = input.config;
  const L = posInt(c, 'num_hidden_layers');
  const types = layerTypes(c, L);
  const window = typeof c.sliding_window === 'number' ? posInt(c, 'sliding_window') : undefined;
  return mapLlamaLike(input, {
    family: 'llama',
    normPlusOne: false,
    postNorms: false,
    qkNorm: false,
    act: hfActivation(c.hidden_act ?? 'silu'),
    defaultTie: false,
    attnScale: (hd) => 1 / Math.sqrt(hd),
    slidingWindow: (l) => (types?.[l] === 'sliding_attention' ? window : undefined),
  });
}
