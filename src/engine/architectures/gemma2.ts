/**
 * Gemma-2: RMSNorm with gain (1 + w), norms before and after both attention and MLP, GeGLU (tanh GELU),
 * embeddings scaled by √d_model, attention-logit and final-logit soft-capping, attention scale
 * query_pre_attn_scalar^-½, and sliding-window attention on alternating layers (even layers slide in
 * HF Gemma-2 unless config.layer_types says otherwise).
 */
import type { ModelSpec } from '../model-spec';
import { positive, posInt, type MappingInput } from './common';
import { hfActivation, layerTypes, mapLlamaLike } from './llama-like';

export function mapGemma2(input: MappingInput): ModelSpec {
  const c = input.config;
  const L = posInt(c, 'num_hidden_layers');
  const d = posInt(c, 'hidden_size');
  const types = layerTypes(c, L);
  const window = posInt(c, 'sliding_window', 4096);
  const qScalar = c.query_pre_attn_scalar == null ? undefined : positive(c, 'query_pre_attn_scalar');
  // A soft-cap divides by its value: 0 or less is a broken config, not "no cap" (that is null).
  const attnCap = c.attn_logit_softcapping == null ? undefined : positive(c, 'attn_logit_softcapping');
  const finalCap = c.final_logit_softcapping == null ? undefined : positive(c, 'final_logit_softcapping');
  return mapLlamaLike(input, {
    family: 'gemma2',
    normPlusOne: true,
    postNorms: true,
    qkNorm: false,
    act: hfActivation(c.hidden_activation ?? c.hidden_act ?? 'gelu_pytorch_tanh'),
    defaultTie: true,
    attnScale: (hd) => 1 / Math.sqrt(qScalar ?? hd),
    attnSoftcap: attnCap,
    finalSoftcap: finalCap,
    embedScale: Math.sqrt(d),
    slidingWindow: (l) => ((types ? types[l] === 'sliding_attention' : l % 2 === 0) ? window : undefined),
  });
}
