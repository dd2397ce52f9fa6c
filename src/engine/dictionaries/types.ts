/**
 * The in-memory dictionary (per-layer transcoders, a cross-layer transcoder or an SAE) that attribution,
 * the encode graphs and the editor code against, whatever file format it came from.
 *
 * Layouts (row-major Float32Array, like model-spec.ts):
 * - `encoder(layer)` is [F, d_model]: one row per feature (circuit-tracer's W_enc layout); build an
 *   encode graph as MatMul(x, Transpose(W)) or use `encoderT(layer)`, [d_model, F], for MatMul(x, Wᵀ)
 *   without a transpose node. Pre-activation = x · encoder row + bEnc.
 * - `decoder(layer)` is [F, span · d_model] with span = 1 for transcoders and SAEs and nLayers − i for
 *   a CLT layer i: columns k·d … (k+1)·d hold the vector a feature writes into layer i + k.
 * - `wSkip(layer)` is [d_model, d_model] in x @ W orientation (already transposed from torch's).
 * - Any input-side bias subtraction (SAELens apply_b_dec_to_input) is folded into `bEnc`, so encoding
 *   is always act(x · Wᵀ + bEnc).
 * Weights are read from disk on first use and cached; `release()` drops the caches.
 */
import type { Mat } from '../model-spec';

export type DictionaryKind = 'transcoders' | 'clt' | 'sae';
export type DictionaryFormat = 'circuit-tracer' | 'circuit-tracer-clt' | 'gemma-scope' | 'saelens';

export type ActivationFunction =
  | { kind: 'relu' }
  /** f(x) = x where x > threshold (per feature), else 0. */
  | { kind: 'jumprelu' }
  /** Keep the k largest pre-activations per position; circuit-tracer's TopK keeps negative ones
   *  (relu false), SAELens's applies a ReLU to the kept values (relu true). */
  | { kind: 'topk'; k: number; relu: boolean };

export interface FeatureExample {
  tokens: string[];
  values: number[];
}

/**
 * What a label was scored against and how well it matched: the label is a latent variable (or a
 * description) whose token set was compared with the tokens where the feature fires.
 */
export interface LabelEvidence {
  /** F1 of the two binary indicators (feature fires / latent holds) over the scored tokens. */
  f1: number;
  /** Of the tokens where the feature fires, the fraction where the latent holds. */
  precision?: number;
  /** Of the tokens where the latent holds, the fraction where the feature fires. */
  recall?: number;
  /** The latent variable the label names (e.g. `state:Texas`), when it is one. */
  latent?: string;
  /** What it was scored against, in words (e.g. "ground-truth latents, 24,000 held-out tokens"). */
  against?: string;
}

/** A feature's label and examples from `features/layer_{i}.json` (Neuronpedia-like). Plain strings. */
export interface FeatureInfo {
  layer: number;
  index: number;
  label: string;
  /** The label's score, when the file carries one (`label_score` / `label_f1`, `label_precision`, …). */
  evidence?: LabelEvidence;
  examples: FeatureExample[];
  /** Top / bottom logits the feature's decoder promotes. */
  posStr: string[];
  posValues: number[];
  negStr: string[];
  negValues: number[];
  /** Fraction of tokens on which the feature fires, when known. */
  fracNonzero?: number;
}

export interface Dictionary {
  kind: DictionaryKind;
  format: DictionaryFormat;
  /** The folder (or file) it was loaded from. */
  path: string;
  /** Identifier for graph metadata and caches (config scan / model_name, or the folder name). */
  name: string;
  /** The model the files say they were trained on, when they say. */
  modelName?: string;
  dModel: number;
  /** Model layers covered, ascending: 0 … n − 1 for transcoders and CLTs, [L] for an SAE at layer L. */
  layers: number[];
  /** layers.length */
  nLayers: number;
  /** Features at a covered layer. */
  nFeatures(layer: number): number;
  /** Engine hook names (model-spec.ts `hooks`) the layer's features read from and write to. */
  inputHook(layer: number): string;
  outputHook(layer: number): string;
  activation: ActivationFunction;
  /** JumpReLU thresholds [F]; undefined for ReLU / TopK. */
  threshold(layer: number): Float32Array | undefined;
  /** [F, d_model]. */
  encoder(layer: number): Mat;
  /** [d_model, F]. */
  encoderT(layer: number): Mat;
  /** [F], with any input-side bias folded in. */
  bEnc(layer: number): Float32Array;
  /** [d_model]: the reconstruction bias of `layer`'s output (for a CLT, the bias of output layer `layer`). */
  bDec(layer: number): Float32Array;
  /** [F, span · d_model]; see the header. */
  decoder(layer: number): Mat;
  /**
   * [n, d_model]: the decoder vectors of the given features of `layer`, written into `targetLayer`
   * (default `layer`; a CLT accepts any targetLayer ≥ layer). Reads only those rows where the file allows.
   */
  decoderRows(layer: number, featureIds: ArrayLike<number>, targetLayer?: number): Float32Array;
  /** [d_model, d_model] in x @ W orientation, or undefined when there is no skip connection. */
  wSkip(layer: number): Mat | undefined;
  /** Reference encoder (pure TS, for tests and small inputs): x [T, d_model] → activations [T, F]. */
  encode(layer: number, x: Float32Array, T: number): Float32Array;
  /** Pre-activations x · Wᵀ + bEnc, [T, F]. */
  preActivations(layer: number, x: Float32Array, T: number): Float32Array;
  /**
   * Reference decoder: the reconstruction of `targetLayer`'s output [T, d_model] from the activations
   * of every source layer that writes there (`acts.get(l)` is [T, F_l]; missing layers count as zero),
   * plus bDec, plus the skip term when `input` (the target layer's dictionary input, [T, d]) is given.
   */
  decode(targetLayer: number, T: number, acts: ReadonlyMap<number, Float32Array>, input?: Float32Array): Float32Array;
  /** Whether `features/layer_{i}.json` files exist beside the dictionary. */
  hasFeatureInfo: boolean;
  /** The feature's label and examples, read lazily per layer; undefined when unknown. */
  featureInfo(layer: number, index: number): FeatureInfo | undefined;
  /** Drops cached weights (they are read again on next use). */
  release(): void;
}
