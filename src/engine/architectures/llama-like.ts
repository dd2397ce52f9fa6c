/**
 * The Llama-shaped families (Llama-3.x, Qwen3, Gemma-2) share one tensor layout:
 * model.embed_tokens, model.layers.{i}.self_attn.{q,k,v,o}_proj, mlp.{gate,up,down}_proj, model.norm,
 * lm_head. This module reads it; the family files say what differs (norm gains, post-norms, q/k norms,
 * soft-caps, sliding windows, attention scale).
 */
import { EngineError } from '../errors';
import type { Activation, BlockSpec, Family, ModelSpec, NormSpec } from '../model-spec';
import { bool, linear, mat, modelName, positive, posInt, rotaryFromConfig, type MappingInput } from './common';

export interface LlamaLikeOptions {
  family: Family;
  /** Gemma stores norm gains as w - 1. */
  normPlusOne: boolean;
  /** Gemma-2 wraps attention and MLP outputs in their own RMSNorm. */
  postNorms: boolean;
  /** Qwen3 RMS-normalises each head's q and k. */
  qkNorm: boolean;
  act: Activation;
  defaultTie: boolean;
  /** Attention scale from config + head dim. */
  attnScale: (headDim: number) => number;
  attnSoftcap?: number;
  finalSoftcap?: number;
  embedScale?: number;
  /** Sliding window for layer l, or undefined for full attention. */
  slidingWindow: (l: number) => number | undefined;
}

const HF_ACTS = new Map<string, Activation>([
  ['silu', 'silu'],
  ['swish', 'silu'],
  ['gelu_pytorch_tanh', 'gelu_tanh'],
  ['gelu_new', 'gelu_tanh'],
  ['gelu', 'gelu'],
  ['relu', 'relu'],
]);

export function hfActivation(name: unknown): Activation {
  const a = typeof name === 'string' ? HF_ACTS.get(name) : undefined;
  if (!a) throw new EngineError('UNSUPPORTED_ARCHITECTURE', `config.json activation ${JSON.stringify(name) ?? String(name)} is not supported (supported: ${[...HF_ACTS.keys()].join(', ')}).`);
  return a;
}

/** HF `layer_types` ("sliding_attention" / "full_attention") when the config lists them. */
export function layerTypes(cfg: Record<string, unknown>, nLayers: number): string[] | undefined {
  const lt = cfg.layer_types;
  if (!Array.isArray(lt)) return undefined;
  if (lt.length !== nLayers || !lt.every((t) => typeof t === 'string')) {
    throw new EngineError('CONFIG_INVALID', `config.json layer_types has ${lt.length} entries for ${nLayers} layers.`);
  }
  return lt as string[];
}

export function mapLlamaLike(input: MappingInput, o: LlamaLikeOptions): ModelSpec {
  const { config: c, weights: w } = input;
  const d = posInt(c, 'hidden_size');
  const L = posInt(c, 'num_hidden_layers');
  const H = posInt(c, 'num_attention_heads');
  const Hkv = posInt(c, 'num_key_value_heads', H);
  const V = posInt(c, 'vocab_size');
  const dMlp = posInt(c, 'intermediate_size');
  const hd = c.head_dim == null ? d / H : posInt(c, 'head_dim');
  if (!Number.isInteger(hd)) throw new EngineError('CONFIG_INVALID', `config.json hidden_size ${d} is not divisible by num_attention_heads ${H} and no head_dim is given.`);
  if (H % Hkv) throw new EngineError('CONFIG_INVALID', `config.json num_attention_heads ${H} is not a multiple of num_key_value_heads ${Hkv}.`);
  const eps = positive(c, 'rms_norm_eps', 1e-6);
  const maxPos = posInt(c, 'max_position_embeddings', 2048);
  const attnBias = bool(c, 'attention_bias', false);
  if (bool(c, 'mlp_bias', false)) throw new EngineError('UNSUPPORTED_ARCHITECTURE', 'config.json sets mlp_bias: true; MLP biases in gated MLPs are not supported.');
  const types = layerTypes(c, L);
  const norm = (name: string, dim = d): NormSpec => ({ kind: 'rms', weight: w.get(name, [dim]), eps, ...(o.normPlusOne ? { plusOne: true } : {}) });

  const embed = mat(w, 'model.embed_tokens.weight', V, d);
  const blocks: BlockSpec[] = [];
  for (let l = 0; l < L; l++) {
    const b = `model.layers.${l}`;
    const a = `${b}.self_attn`;
    const window = o.slidingWindow(l);
    const rotary = rotaryFromConfig(c, hd, types?.[l]);
    const block: BlockSpec = {
      ln1: norm(`${b}.input_layernorm.weight`),
      attn: {
        nHeads: H,
        nKvHeads: Hkv,
        headDim: hd,
        wq: linear(w, `${a}.q_proj.weight`, d, H * hd),
        wk: linear(w, `${a}.k_proj.weight`, d, Hkv * hd),
        wv: linear(w, `${a}.v_proj.weight`, d, Hkv * hd),
        wo: linear(w, `${a}.o_proj.weight`, H * hd, d),
        ...(attnBias
          ? {
              bq: w.get(`${a}.q_proj.bias`, [H * hd]),
              bk: w.get(`${a}.k_proj.bias`, [Hkv * hd]),
              bv: w.get(`${a}.v_proj.bias`, [Hkv * hd]),
              ...(w.has(`${a}.o_proj.bias`) ? { bo: w.get(`${a}.o_proj.bias`, [d]) } : {}),
            }
          : {}),
        rotary,
        ...(o.qkNorm ? { qNorm: norm(`${a}.q_norm.weight`, hd), kNorm: norm(`${a}.k_norm.weight`, hd) } : {}),
        scale: o.attnScale(hd),
        ...(o.attnSoftcap ? { softcap: o.attnSoftcap } : {}),
        ...(window !== undefined ? { slidingWindow: window } : {}),
      },
      // Gemma-2 calls the attention post-norm "post_attention_layernorm" and the MLP pre-norm
      // "pre_feedforward_layernorm"; Llama's "post_attention_layernorm" is the MLP pre-norm.
      ln2: norm(o.postNorms ? `${b}.pre_feedforward_layernorm.weight` : `${b}.post_attention_layernorm.weight`),
      mlp: {
        kind: 'gated',
        act: o.act,
        wIn: linear(w, `${b}.mlp.up_proj.weight`, d, dMlp),
        wGate: linear(w, `${b}.mlp.gate_proj.weight`, d, dMlp),
        wOut: linear(w, `${b}.mlp.down_proj.weight`, dMlp, d),
      },
    };
    if (o.postNorms) {
      block.ln1Post = norm(`${b}.post_attention_layernorm.weight`);
      block.ln2Post = norm(`${b}.post_feedforward_layernorm.weight`);
    }
    blocks.push(block);
  }
  const tied = bool(c, 'tie_word_embeddings', o.defaultTie);
  // Some tied checkpoints still ship lm_head.weight; tying means the embedding is used either way.
  const unembed = tied ? embed : mat(w, 'lm_head.weight', V, d);
  return {
    family: o.family,
    name: modelName(input),
    dModel: d,
    nLayers: L,
    vocabSize: V,
    maxPositions: maxPos,
    embed,
    ...(o.embedScale !== undefined ? { embedScale: o.embedScale } : {}),
    blocks,
    lnFinal: norm('model.norm.weight'),
    unembed,
    ...(o.finalSoftcap ? { finalSoftcap: o.finalSoftcap } : {}),
  };
}
