/**
 * How well a dictionary reconstructs what it replaces, and what splicing it into the model costs.
 *
 * Definitions (the ones SAE and transcoder papers report, stated so the numbers can be checked):
 * - L0: active features per token at a dictionary layer, averaged over the prompt's tokens (the BOS
 *   position, whose activations are outliers every dictionary is trained to ignore, left out).
 * - FVU (fraction of variance unexplained): Σ‖y − ŷ‖² / Σ‖y − ȳ‖² over the same tokens, where y is what
 *   the dictionary reconstructs (the MLP output for transcoders and CLTs, the residual stream for an
 *   SAE), ŷ its reconstruction and ȳ y's mean over those tokens.
 * - Per-layer spliced loss: one layer's reconstruction (from the clean stream) in place of what it
 *   replaces, every other layer exact.
 * - Spliced loss: the model run with every dictionary layer's reconstruction in place of what it
 *   replaces, each layer reading the spliced stream (layer by layer, so the replacement is exact: the
 *   model of the attribution graph with its error nodes removed). CE is the next-token cross-entropy
 *   over positions 0 … T−2; KL is KL(clean ‖ spliced) of the next-token distribution averaged over all
 *   T positions (the last one is where the prompt's answer is predicted). The BOS position is never
 *   spliced (its residual is an outlier dictionaries are trained to skip; circuit-tracer zeroes its
 *   features too), so every figure covers the same tokens.
 */
import type { ActivationCache, ModelBundle } from '../api';
import type { Dictionary } from '../dictionaries/types';
import { EngineError } from '../errors';
import type { ForwardRunner } from '../forward';

export interface LayerReconstruction {
  layer: number;
  l0: number;
  fvu: number;
  /** CE and KL with this layer alone spliced (its reconstruction from the clean stream). */
  ceSpliced: number;
  klSpliced: number;
}

export interface PromptReconstruction {
  layers: LayerReconstruction[];
  ceClean: number;
  ceSpliced: number;
  klSpliced: number;
  /** Tokens the averages ran over (L0 / FVU: all but BOS; CE: T − 1). */
  tokens: number;
}

/** The tensor the dictionary's layer reconstructs (MLP output, or the residual for an SAE). */
function targetHook(dict: Dictionary, layer: number): string {
  return dict.outputHook(layer);
}

function hook(cache: ActivationCache, name: string): Float32Array {
  const h = cache.hooks.get(name);
  if (!h) throw new EngineError('INTERNAL', `The forward pass has no hook ${name}.`);
  return h.data;
}

/** The delta that turns the block's MLP output into the dictionary's reconstruction (per kind). */
function spliceDelta(dict: Dictionary, layer: number, cache: ActivationCache, recon: Float32Array, delta: Float32Array, d: number, T: number): void {
  const out = targetHook(dict, layer);
  // What the MLP itself wrote (the hook includes any delta already fed in).
  const y = hook(cache, out);
  const offset = layer * T * d;
  const prev = delta.slice(offset, offset + T * d);
  // BOS stays exact, as it is left out of L0 and FVU: dictionaries are trained without it.
  for (let i = firstCounted(cache) * d; i < T * d; i++) {
    const actual = y[i] - prev[i];
    delta[offset + i] = recon[i] - actual;
  }
}

function firstCounted(cache: ActivationCache): number {
  return cache.tokens[0]?.special ? 1 : 0;
}

function logSoftmaxRow(logits: Float32Array, row: number, V: number): Float64Array {
  let max = -Infinity;
  for (let v = 0; v < V; v++) max = Math.max(max, logits[row * V + v]);
  let z = 0;
  for (let v = 0; v < V; v++) z += Math.exp(logits[row * V + v] - max);
  const lz = Math.log(z) + max;
  const out = new Float64Array(V);
  for (let v = 0; v < V; v++) out[v] = logits[row * V + v] - lz;
  return out;
}

function crossEntropy(logits: Float32Array, ids: number[], V: number): number {
  const T = ids.length;
  if (T < 2) return NaN;
  let s = 0;
  for (let t = 0; t < T - 1; t++) s -= logSoftmaxRow(logits, t, V)[ids[t + 1]];
  return s / (T - 1);
}

function meanKl(clean: Float32Array, other: Float32Array, T: number, V: number): number {
  let s = 0;
  for (let t = 0; t < T; t++) {
    const p = logSoftmaxRow(clean, t, V);
    const q = logSoftmaxRow(other, t, V);
    let kl = 0;
    for (let v = 0; v < V; v++) kl += Math.exp(p[v]) * (p[v] - q[v]);
    s += kl;
  }
  return s / T;
}

/**
 * Encodes one dictionary layer on a cache: activations [T, F] and the reconstruction [T, d] of that
 * layer's target (for a CLT, of output layer `layer` from every source layer ≤ layer, whose activations
 * the caller keeps in `acts`).
 */
function encodeAndDecode(dict: Dictionary, layer: number, cache: ActivationCache, acts: Map<number, Float32Array>, T: number): Float32Array {
  const x = hook(cache, dict.inputHook(layer));
  acts.set(layer, dict.encode(layer, x, T));
  return dict.decode(layer, T, acts, dict.wSkip(layer) ? x : undefined);
}

/** Reconstruction and spliced-loss figures of one dictionary on one prompt (token ids with BOS). */
export async function promptReconstruction(runner: ForwardRunner, bundle: ModelBundle, dict: Dictionary, ids: number[]): Promise<PromptReconstruction> {
  const spec = bundle.spec;
  const T = ids.length;
  const d = spec.dModel;
  const V = spec.vocabSize;
  const clean = await runner.run(ids);
  const t0 = firstCounted(clean);
  const n = T - t0;

  // L0 and FVU on the clean stream, each layer on its own.
  const cleanActs = new Map<number, Float32Array>();
  const layers: LayerReconstruction[] = [];
  for (const l of dict.layers) {
    const recon = encodeAndDecode(dict, l, clean, cleanActs, T);
    const acts = cleanActs.get(l)!;
    const F = dict.nFeatures(l);
    let active = 0;
    for (let t = t0; t < T; t++) for (let f = 0; f < F; f++) if (acts[t * F + f] !== 0) active++;
    const y = hook(clean, targetHook(dict, l));
    const mean = new Float64Array(d);
    for (let t = t0; t < T; t++) for (let i = 0; i < d; i++) mean[i] += y[t * d + i] / n;
    let err = 0;
    let tot = 0;
    for (let t = t0; t < T; t++) {
      for (let i = 0; i < d; i++) {
        const e = y[t * d + i] - recon[t * d + i];
        const c = y[t * d + i] - mean[i];
        err += e * e;
        tot += c * c;
      }
    }
    // This layer alone spliced: a CLT's output layer l takes every source layer's clean activations.
    const alone = new Float32Array(spec.nLayers * T * d);
    spliceDelta(dict, l, clean, recon, alone, d, T);
    const one = await runner.run(ids, { mlpOutDelta: alone });
    layers.push({
      layer: l,
      l0: n ? active / n : 0,
      fvu: tot > 0 ? err / tot : NaN,
      ceSpliced: crossEntropy(one.logits.data, ids, V),
      klSpliced: meanKl(clean.logits.data, one.logits.data, T, V),
    });
  }

  // Splice layer by layer: each layer's reconstruction is computed from the stream the earlier
  // splices produced, so after the last layer every dictionary layer reads the spliced model.
  const delta = new Float32Array(spec.nLayers * T * d);
  const acts = new Map<number, Float32Array>();
  let cache = clean;
  for (const l of dict.layers) {
    const recon = encodeAndDecode(dict, l, cache, acts, T);
    spliceDelta(dict, l, cache, recon, delta, d, T);
    cache = await runner.run(ids, { mlpOutDelta: delta });
  }
  const logitsClean = clean.logits.data;
  const logitsSpliced = cache.logits.data;
  return {
    layers,
    ceClean: crossEntropy(logitsClean, ids, V),
    ceSpliced: crossEntropy(logitsSpliced, ids, V),
    klSpliced: meanKl(logitsClean, logitsSpliced, T, V),
    tokens: n,
  };
}

/** Which engine hooks a dictionary can be spliced through (the MLP output or the residual after a block). */
export function checkSpliceable(dict: Dictionary): void {
  for (const l of dict.layers) {
    const out = dict.outputHook(l);
    if (!/^blocks\.\d+\.hook_(mlp_out|resid_post)$/.test(out)) {
      throw new EngineError('DICTIONARY_INVALID', `${dict.name} writes to ${out}; the report can splice reconstructions only into an MLP output or the residual stream after a block.`);
    }
    const m = /^blocks\.(\d+)\./.exec(out);
    if (!m || Number(m[1]) !== l) throw new EngineError('DICTIONARY_INVALID', `${dict.name}'s layer ${l} writes to ${out}, another block.`);
  }
}
