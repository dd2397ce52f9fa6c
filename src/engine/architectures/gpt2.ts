/**
 * GPT-2: learned positions, pre-LayerNorm blocks, dense GELU MLP, tied embeddings.
 * Its Conv1D weights are already [in, out]; c_attn holds q, k and v side by side in its columns.
 */
import { EngineError } from '../errors';
import type { Activation, BlockSpec, Mat, ModelSpec, NormSpec } from '../model-spec';
import { LazyMat } from '../bundle/lazy-mat';
import { bool, mat, modelName, positive, posInt, resolvePrefix, type MappingInput } from './common';

// A Map: activation_function "constructor" must not find Object's.
const ACTS = new Map<string, Activation>([
  ['gelu_new', 'gelu_tanh'],
  ['gelu_pytorch_tanh', 'gelu_tanh'],
  ['gelu_fast', 'gelu_tanh'],
  ['gelu', 'gelu'],
  ['relu', 'relu'],
  ['silu', 'silu'],
  ['swish', 'silu'],
]);

export function mapGpt2({ config, weights: w, name }: MappingInput): ModelSpec {
  const d = posInt(config, 'n_embd');
  const L = posInt(config, 'n_layer');
  const H = posInt(config, 'n_head');
  const V = posInt(config, 'vocab_size');
  const P = posInt(config, 'n_positions', typeof config.n_ctx === 'number' ? config.n_ctx : undefined);
  const inner = config.n_inner == null ? 4 * d : posInt(config, 'n_inner');
  const eps = positive(config, 'layer_norm_epsilon', 1e-5);
  if (d % H) throw new EngineError('CONFIG_INVALID', `config.json n_embd ${d} is not divisible by n_head ${H}.`);
  const hd = d / H;
  const actName = config.activation_function ?? 'gelu_new';
  const act = typeof actName === 'string' ? ACTS.get(actName) : undefined;
  if (!act) throw new EngineError('UNSUPPORTED_ARCHITECTURE', `GPT-2 activation_function ${JSON.stringify(actName)} is not supported (supported: ${[...ACTS.keys()].join(', ')}).`);
  // Hub GPT-2 checkpoints name tensors "h.0…"; ones saved from GPT2LMHeadModel use "transformer.h.0…".
  const p = resolvePrefix(w, 'wte.weight', ['', 'transformer.']);
  const scaleByLayer = bool(config, 'scale_attn_by_inverse_layer_idx', false);
  const scaleWeights = bool(config, 'scale_attn_weights', true);

  const ln = (prefix: string): NormSpec => ({ kind: 'layer', weight: w.get(`${prefix}.weight`, [d]), bias: w.get(`${prefix}.bias`, [d]), eps });
  const embed = mat(w, `${p}wte.weight`, V, d);
  const blocks: BlockSpec[] = [];
  for (let l = 0; l < L; l++) {
    const b = `${p}h.${l}`;
    const cAttnName = `${b}.attn.c_attn.weight`;
    w.check(cAttnName, [d, 3 * d]);
    const cAttnB = w.get(`${b}.attn.c_attn.bias`, [3 * d]);
    // q, k and v are column blocks of c_attn; each is read (lazily) on its own, so none keeps the others.
    const cols = (k: number): Mat =>
      new LazyMat(d, d, () => {
        const cAttn = w.get(cAttnName, [d, 3 * d]);
        const out = new Float32Array(d * d);
        for (let i = 0; i < d; i++) out.set(cAttn.subarray(i * 3 * d + k * d, i * 3 * d + (k + 1) * d), i * d);
        return out;
      }, `${cAttnName}[${'qkv'[k]}]`);
    let scale = scaleWeights ? 1 / Math.sqrt(hd) : 1;
    if (scaleByLayer) scale /= l + 1;
    blocks.push({
      ln1: ln(`${b}.ln_1`),
      attn: {
        nHeads: H,
        nKvHeads: H,
        headDim: hd,
        wq: cols(0),
        wk: cols(1),
        wv: cols(2),
        wo: mat(w, `${b}.attn.c_proj.weight`, d, d),
        bq: cAttnB.slice(0, d),
        bk: cAttnB.slice(d, 2 * d),
        bv: cAttnB.slice(2 * d),
        bo: w.get(`${b}.attn.c_proj.bias`, [d]),
        scale,
      },
      ln2: ln(`${b}.ln_2`),
      mlp: {
        kind: 'dense',
        act,
        wIn: mat(w, `${b}.mlp.c_fc.weight`, d, inner),
        bIn: w.get(`${b}.mlp.c_fc.bias`, [inner]),
        wOut: mat(w, `${b}.mlp.c_proj.weight`, inner, d),
        bOut: w.get(`${b}.mlp.c_proj.bias`, [d]),
      },
    });
  }
  // GPT-2 always ties; a separate lm_head.weight (fine-tunes saved untied) is honoured if present.
  const unembed = w.has('lm_head.weight') && bool(config, 'tie_word_embeddings', true) === false ? mat(w, 'lm_head.weight', V, d) : embed;
  return {
    family: 'gpt2',
    name: modelName({ config, weights: w, name }),
    dModel: d,
    nLayers: L,
    vocabSize: V,
    maxPositions: P,
    embed,
    posEmbed: mat(w, `${p}wpe.weight`, P, d),
    blocks,
    lnFinal: ln(`${p}ln_f`),
    unembed,
  };
}
