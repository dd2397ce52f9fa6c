/**
 * Helpers every architecture mapping shares: typed reads of config.json fields (a missing or
 * non-numeric field is a CONFIG_INVALID naming the field, not a NaN deep in a graph) and the
 * conversion of torch.nn.Linear weights ([out, in]) to the ModelSpec's [in, out].
 */
import { EngineError } from '../errors';
import type { Mat, RotarySpec } from '../model-spec';
import type { WeightStore } from '../bundle/weights';
import { LazyMat } from '../bundle/lazy-mat';

export type HfConfig = Record<string, unknown>;

export interface MappingInput {
  config: HfConfig;
  weights: WeightStore;
  /** Folder name, used when the config carries no _name_or_path. */
  name: string;
}

export function num(cfg: HfConfig, key: string, fallback?: number): number {
  // Own properties only: a config must not find "constructor" or "toString" on Object.prototype.
  const v = Object.prototype.hasOwnProperty.call(cfg, key) ? cfg[key] : undefined;
  if (v === undefined || v === null) {
    if (fallback !== undefined) return fallback;
    throw new EngineError('CONFIG_INVALID', `config.json has no "${key}".`, 'The config is incomplete; use the config.json that came with the checkpoint.');
  }
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    throw new EngineError('CONFIG_INVALID', `config.json field "${key}" is ${JSON.stringify(v)}, not a number.`);
  }
  return v;
}

/** A number that must be > 0 (epsilons, rotary bases, scaling factors): 0 or less gives NaN or Inf later. */
export function positive(cfg: HfConfig, key: string, fallback?: number): number {
  const v = num(cfg, key, fallback);
  if (!(v > 0)) throw new EngineError('CONFIG_INVALID', `config.json field "${key}" must be greater than 0, got ${v}.`, 'Use the config.json that came with the checkpoint.');
  return v;
}

export function posInt(cfg: HfConfig, key: string, fallback?: number): number {
  const v = num(cfg, key, fallback);
  // No real dimension, layer count or context length comes near 2^31; larger values overflow sizes.
  if (!Number.isInteger(v) || v <= 0 || v > 2 ** 31 - 1) throw new EngineError('CONFIG_INVALID', `config.json field "${key}" must be a positive integer below 2^31, got ${v}.`);
  return v;
}

export function bool(cfg: HfConfig, key: string, fallback: boolean): boolean {
  const v = Object.prototype.hasOwnProperty.call(cfg, key) ? cfg[key] : undefined;
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'boolean') throw new EngineError('CONFIG_INVALID', `config.json field "${key}" is ${JSON.stringify(v)}, not true/false.`);
  return v;
}

export function modelName(input: MappingInput): string {
  const n = Object.prototype.hasOwnProperty.call(input.config, '_name_or_path') ? input.config._name_or_path : undefined;
  return typeof n === 'string' && n ? n : input.name;
}

/**
 * A torch.nn.Linear weight [out, in], transposed to [in, out] (x @ W) when it is read. Matrices are
 * read lazily (see bundle/lazy-mat.ts); the shape and dtype are checked now.
 */
export function linear(w: WeightStore, name: string, inDim: number, outDim: number): Mat {
  w.check(name, [outDim, inDim]);
  return new LazyMat(inDim, outDim, () => transpose(w.get(name, [outDim, inDim]), outDim, inDim), name);
}

export function transpose(src: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  // Blocked so large matrices stay cache-friendly.
  const B = 64;
  for (let i0 = 0; i0 < rows; i0 += B) {
    const i1 = Math.min(rows, i0 + B);
    for (let j0 = 0; j0 < cols; j0 += B) {
      const j1 = Math.min(cols, j0 + B);
      for (let i = i0; i < i1; i++) {
        const r = i * cols;
        for (let j = j0; j < j1; j++) out[j * rows + i] = src[r + j];
      }
    }
  }
  return out;
}

/** A matrix stored as the ModelSpec wants it, read lazily. */
export function mat(w: WeightStore, name: string, rows: number, cols: number): Mat {
  w.check(name, [rows, cols]);
  return new LazyMat(rows, cols, () => w.get(name, [rows, cols]), name);
}

/**
 * Rotary settings from a Llama-style config: rope_theta and optional rope_scaling (llama3 / linear).
 * transformers v5 writes both into `rope_parameters` (per layer type when layers differ, as
 * {"full_attention": {...}, "sliding_attention": {...}}); `layerType` picks the entry for a layer.
 */
export function rotaryFromConfig(cfg: HfConfig, headDim: number, layerType?: string): RotarySpec {
  const own = (o: unknown, k: string): unknown => (typeof o === 'object' && o !== null && Object.prototype.hasOwnProperty.call(o, k) ? (o as Record<string, unknown>)[k] : undefined);
  let rp = own(cfg, 'rope_parameters') as Record<string, unknown> | null | undefined;
  if (rp && typeof rp === 'object') {
    const perType = Object.values(rp).some((v) => v !== null && typeof v === 'object');
    if (perType) rp = (own(rp, layerType ?? 'full_attention') ?? own(rp, 'full_attention') ?? Object.values(rp)[0]) as Record<string, unknown>;
    if (!rp || typeof rp !== 'object') throw new EngineError('CONFIG_INVALID', 'config.json rope_parameters is not an object.');
  }
  const base = positive(rp && own(rp, 'rope_theta') != null ? rp : cfg, 'rope_theta', 10000);
  const partial = positive(rp && own(rp, 'partial_rotary_factor') != null ? rp : cfg, 'partial_rotary_factor', 1);
  if (partial > 1) throw new EngineError('CONFIG_INVALID', `config.json field "partial_rotary_factor" must be at most 1, got ${partial}.`);
  const dim = Math.round(headDim * partial);
  const rs = (own(cfg, 'rope_scaling') ?? rp) as Record<string, unknown> | null | undefined;
  const spec: RotarySpec = { dim, base, layout: 'half' };
  if (rs !== null && rs !== undefined && typeof rs !== 'object') throw new EngineError('CONFIG_INVALID', `config.json rope_scaling is ${JSON.stringify(rs)}, not an object.`);
  if (rs && typeof rs === 'object') {
    const type = own(rs, 'rope_type') ?? own(rs, 'type');
    if (type === 'llama3') {
      spec.scaling = {
        type: 'llama3',
        factor: positive(rs, 'factor'),
        lowFreqFactor: positive(rs, 'low_freq_factor'),
        highFreqFactor: positive(rs, 'high_freq_factor'),
        originalMaxPositions: positive(rs, 'original_max_position_embeddings'),
      };
      if (spec.scaling.highFreqFactor === spec.scaling.lowFreqFactor) {
        throw new EngineError('CONFIG_INVALID', 'config.json rope_scaling has high_freq_factor equal to low_freq_factor; llama3 scaling divides by their difference.');
      }
    } else if (type === 'linear') {
      spec.scaling = { type: 'linear', factor: positive(rs, 'factor') };
    } else if (type !== undefined && type !== 'default') {
      throw new EngineError(
        'UNSUPPORTED_ARCHITECTURE',
        `config.json rope scaling type ${JSON.stringify(type)} is not supported (supported: llama3, linear).`,
        'Use a checkpoint with llama3 or linear rotary scaling, or none.',
      );
    }
  }
  return spec;
}

/** The tensor name with or without a leading prefix, whichever the checkpoint uses (GPT-2 ships both). */
export function resolvePrefix(w: WeightStore, probe: string, prefixes: string[]): string {
  for (const p of prefixes) if (w.has(p + probe)) return p;
  return prefixes[0];
}
