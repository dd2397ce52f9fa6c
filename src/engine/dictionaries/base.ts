/**
 * What every dictionary format shares once its weights are readable: the reference encode / decode in
 * plain TypeScript (the definition the ONNX graphs are tested against), the transposed encoder, hook
 * names, feature labels and the model-compatibility check. Formats subclass it and supply the weights.
 */
import { EngineError } from '../errors';
import type { Mat } from '../model-spec';
import { FeatureLabels } from './features';
import type { ActivationFunction, Dictionary, DictionaryFormat, DictionaryKind, FeatureInfo } from './types';

export interface ModelShape {
  dModel: number;
  nLayers: number;
  name?: string;
}

export interface BaseOptions extends Pick<Dictionary, 'kind' | 'format' | 'path' | 'name' | 'modelName' | 'dModel' | 'layers' | 'activation'> {
  inputHooks: Map<number, string>;
  outputHooks: Map<number, string>;
  /** Folder holding `features/layer_{i}.json`. */
  labelsDir: string;
}

/** Applies an activation function in place to pre-activations [T, F]. */
export function applyActivation(pre: Float32Array, T: number, F: number, act: ActivationFunction, threshold?: Float32Array): Float32Array {
  if (act.kind === 'relu') {
    for (let i = 0; i < pre.length; i++) if (!(pre[i] > 0)) pre[i] = 0;
  } else if (act.kind === 'jumprelu') {
    if (!threshold) throw new EngineError('INTERNAL', 'JumpReLU without thresholds.');
    for (let t = 0; t < T; t++) for (let f = 0; f < F; f++) if (!(pre[t * F + f] > threshold[f])) pre[t * F + f] = 0;
  } else {
    const k = Math.min(act.k, F);
    const order = new Int32Array(F);
    for (let t = 0; t < T; t++) {
      const row = pre.subarray(t * F, (t + 1) * F);
      for (let f = 0; f < F; f++) order[f] = f;
      // Ties keep the lower index, so the result does not depend on sort stability.
      const sorted = Array.from(order).sort((a, b) => row[b] - row[a] || a - b);
      const keep = new Uint8Array(F);
      for (let i = 0; i < k; i++) keep[sorted[i]] = 1;
      for (let f = 0; f < F; f++) if (!keep[f] || (act.relu && !(row[f] > 0))) row[f] = 0;
    }
  }
  return pre;
}

/**
 * Refuses an encoder holding NaN or Inf: such a feature never fires (ReLU of NaN reads as inactive), so
 * the graph would silently lack it, and no output check can notice. Checked once, when the encoder is
 * first read (the read itself costs as much).
 */
export function checkFiniteEncoder(data: Float32Array, file: string, tensor: string): void {
  let count = 0;
  for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i])) count++;
  if (count) {
    throw new EngineError(
      'DICTIONARY_INVALID',
      `${file}: ${tensor} contains ${count} NaN or infinite value${count === 1 ? '' : 's'}.`,
      'The dictionary file is damaged; download it again.',
    );
  }
}

export function transpose(m: Mat): Mat {
  const { rows, cols, data } = m;
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c];
  return { data: out, rows: cols, cols: rows };
}

export abstract class BaseDictionary implements Dictionary {
  readonly kind: DictionaryKind;
  readonly format: DictionaryFormat;
  readonly path: string;
  readonly name: string;
  readonly modelName?: string;
  readonly dModel: number;
  readonly layers: number[];
  readonly nLayers: number;
  readonly activation: ActivationFunction;
  readonly hasFeatureInfo: boolean;
  private readonly inputHooks: Map<number, string>;
  private readonly outputHooks: Map<number, string>;
  private readonly labels: FeatureLabels;
  private readonly encT = new Map<number, Mat>();

  protected constructor(o: BaseOptions) {
    this.kind = o.kind;
    this.format = o.format;
    this.path = o.path;
    this.name = o.name;
    if (o.modelName !== undefined) this.modelName = o.modelName;
    this.dModel = o.dModel;
    this.layers = o.layers;
    this.nLayers = o.layers.length;
    this.activation = o.activation;
    this.inputHooks = o.inputHooks;
    this.outputHooks = o.outputHooks;
    this.labels = new FeatureLabels(o.labelsDir);
    this.hasFeatureInfo = this.labels.available;
  }

  abstract nFeatures(layer: number): number;
  abstract threshold(layer: number): Float32Array | undefined;
  abstract encoder(layer: number): Mat;
  abstract bEnc(layer: number): Float32Array;
  abstract bDec(layer: number): Float32Array;
  abstract decoder(layer: number): Mat;
  abstract decoderRows(layer: number, featureIds: ArrayLike<number>, targetLayer?: number): Float32Array;
  abstract wSkip(layer: number): Mat | undefined;
  /** Source layers whose features write into `target`, ascending. */
  protected abstract sourcesOf(target: number): number[];
  protected abstract releaseWeights(): void;

  /** Throws unless `layer` is covered; `what` is the accessor name for the message. */
  protected check(layer: number): void {
    if (!this.layers.includes(layer)) {
      throw new EngineError('INTERNAL', `The dictionary ${this.name} has no layer ${layer} (it covers ${this.describeLayers()}).`);
    }
  }

  describeLayers(): string {
    const l = this.layers;
    return l.length === 1 ? `layer ${l[0]}` : `layers ${l[0]}–${l[l.length - 1]}`;
  }

  inputHook(layer: number): string {
    this.check(layer);
    return this.inputHooks.get(layer)!;
  }

  outputHook(layer: number): string {
    this.check(layer);
    return this.outputHooks.get(layer)!;
  }

  encoderT(layer: number): Mat {
    let m = this.encT.get(layer);
    if (!m) {
      m = transpose(this.encoder(layer));
      this.encT.set(layer, m);
    }
    return m;
  }

  preActivations(layer: number, x: Float32Array, T: number): Float32Array {
    const W = this.encoder(layer);
    const b = this.bEnc(layer);
    const F = W.rows;
    const d = W.cols;
    if (x.length !== T * d) throw new EngineError('INTERNAL', `encode: x has ${x.length} values, expected T × d_model = ${T} × ${d}.`);
    const out = new Float32Array(T * F);
    for (let t = 0; t < T; t++) {
      const xr = t * d;
      for (let f = 0; f < F; f++) {
        let s = 0;
        const wr = f * d;
        for (let k = 0; k < d; k++) s += x[xr + k] * W.data[wr + k];
        out[t * F + f] = s + b[f];
      }
    }
    return out;
  }

  encode(layer: number, x: Float32Array, T: number): Float32Array {
    const pre = this.preActivations(layer, x, T);
    return applyActivation(pre, T, this.nFeatures(layer), this.activation, this.threshold(layer));
  }

  decode(targetLayer: number, T: number, acts: ReadonlyMap<number, Float32Array>, input?: Float32Array): Float32Array {
    this.check(targetLayer);
    const d = this.dModel;
    const out = new Float32Array(T * d);
    for (const src of this.sourcesOf(targetLayer)) {
      const a = acts.get(src);
      if (!a) continue;
      const D = this.decoder(src);
      const F = D.rows;
      if (a.length !== T * F) throw new EngineError('INTERNAL', `decode: activations of layer ${src} have ${a.length} values, expected ${T} × ${F}.`);
      const off = (targetLayer - src) * d;
      for (let t = 0; t < T; t++) {
        for (let f = 0; f < F; f++) {
          const v = a[t * F + f];
          if (v === 0) continue;
          const row = f * D.cols + off;
          for (let k = 0; k < d; k++) out[t * d + k] += v * D.data[row + k];
        }
      }
    }
    const b = this.bDec(targetLayer);
    for (let t = 0; t < T; t++) for (let k = 0; k < d; k++) out[t * d + k] += b[k];
    const S = this.wSkip(targetLayer);
    if (S && input) {
      for (let t = 0; t < T; t++) {
        for (let i = 0; i < d; i++) {
          const v = input[t * d + i];
          for (let k = 0; k < d; k++) out[t * d + k] += v * S.data[i * d + k];
        }
      }
    }
    return out;
  }

  featureInfo(layer: number, index: number): FeatureInfo | undefined {
    return this.labels.get(layer, index);
  }

  release(): void {
    this.encT.clear();
    this.labels.release();
    this.releaseWeights();
  }

  /** DICTIONARY_MISMATCH unless the dictionary fits the model (d_model, layer range). */
  checkModel(model: ModelShape): void {
    const what = this.kind === 'sae' ? 'SAE' : this.kind === 'clt' ? 'cross-layer transcoder' : 'transcoder';
    const modelName = model.name ? `the model ${model.name}` : 'the model';
    const from = `${this.name}${this.modelName ? ` (trained on ${this.modelName})` : ''}`;
    if (this.dModel !== model.dModel) {
      throw new EngineError(
        'DICTIONARY_MISMATCH',
        `The ${what} ${from} ${this.kind === 'sae' ? '' : `layer ${this.layers[0]} `}has d_model ${this.dModel} but ${modelName} has ${model.dModel}.`,
        'Choose the dictionary made for this model.',
      );
    }
    const last = this.layers[this.layers.length - 1];
    if (last >= model.nLayers) {
      throw new EngineError('DICTIONARY_MISMATCH', `The ${what} ${from} covers ${this.describeLayers()} but ${modelName} has only ${model.nLayers} layers.`, 'Choose the dictionary made for this model.');
    }
    if (this.kind !== 'sae' && this.nLayers !== model.nLayers) {
      throw new EngineError(
        'DICTIONARY_MISMATCH',
        `The ${what} ${from} covers ${this.nLayers} layers but ${modelName} has ${model.nLayers}; the replacement model needs one per layer.`,
        'Choose the dictionary made for this model, with a transcoder for every layer.',
      );
    }
  }
}
