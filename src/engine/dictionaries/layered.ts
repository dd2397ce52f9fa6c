/**
 * Dictionaries stored one file per layer: circuit-tracer per-layer transcoders (`layer_{i}.safetensors`),
 * Gemma Scope (`params.npz`) and SAELens SAEs (one layer). Each format says which tensor names it uses
 * and how they are laid out; this class validates the shapes against each other and serves the weights
 * in the Dictionary's layouts, reading each file on first use.
 */
import { EngineError } from '../errors';
import type { Mat } from '../model-spec';
import { BaseDictionary, checkFiniteEncoder, transpose, type BaseOptions } from './base';
import type { TensorSource } from './sources';

/** 'FD' = [features, d_model] (circuit-tracer); 'DF' = [d_model, features] (Gemma Scope, SAELens);
 *  'auto' = decided by which side equals d_model (b_dec's length), refused when both do. */
export type Layout = 'FD' | 'DF' | 'auto';

export interface LayerSpec {
  layer: number;
  src: TensorSource;
  names: { wEnc: string; wDec: string; bEnc: string; bDec: string; threshold?: string; wSkip?: string };
  encLayout: Layout;
  decLayout: Layout;
  /** 'torch': the skip is x @ Wᵀ (circuit-tracer's W_skip); 'xW': x @ W (Gemma Scope 2's affine_skip_connection). */
  skipLayout?: 'torch' | 'xW';
  /** SAELens apply_b_dec_to_input: encode (x − b_dec), folded into b_enc. */
  foldBDec?: boolean;
  /** Thresholds below this are raised to it (SAELens computes relu(x)·(x > t), i.e. t ≥ 0). */
  thresholdFloor?: number;
  /** How the layout can be given when it is ambiguous (for the message). */
  layoutHint?: string;
}

interface LayerState {
  F: number;
  encFD: boolean;
  decFD: boolean;
  bEnc: Float32Array;
  bDec: Float32Array;
  threshold?: Float32Array;
  hasSkip: boolean;
  biasFolded: boolean;
}

function shapeStr(s: number[]): string {
  return `[${s.join(', ')}]`;
}

export type LayeredOptions = Omit<BaseOptions, 'dModel'> & { specs: LayerSpec[]; dModel: number };

export class LayeredDictionary extends BaseDictionary {
  private readonly specs = new Map<number, LayerSpec>();
  private readonly states = new Map<number, LayerState>();
  private readonly enc = new Map<number, Mat>();
  private readonly dec = new Map<number, Mat>();
  private readonly skip = new Map<number, Mat>();

  constructor(o: LayeredOptions) {
    super(o);
    for (const s of o.specs) this.specs.set(s.layer, s);
  }

  /** Reads and checks a layer's shapes and small vectors (cheap for safetensors: headers only). */
  state(layer: number): LayerState {
    this.check(layer);
    let st = this.states.get(layer);
    if (st) return st;
    const s = this.specs.get(layer)!;
    const { src, names } = s;
    const f = src.file;
    const bad = (why: string): never => {
      throw new EngineError('DICTIONARY_INVALID', `${f}: ${why}.`, 'The file is not in the expected dictionary format, or it is damaged.');
    };
    const bDecShape = src.shape(names.bDec);
    const bEncShape = src.shape(names.bEnc);
    if (bDecShape.length !== 1) bad(`${names.bDec} has shape ${shapeStr(bDecShape)}; expected a vector [d_model]`);
    if (bEncShape.length !== 1) bad(`${names.bEnc} has shape ${shapeStr(bEncShape)}; expected a vector [features]`);
    const d = bDecShape[0];
    const F = bEncShape[0];
    if (d !== this.dModel) {
      throw new EngineError('DICTIONARY_MISMATCH', `${f} (layer ${layer}) has d_model ${d} but the dictionary's other layers have ${this.dModel}.`);
    }
    const layout = (name: string, want: Layout): boolean => {
      const sh = src.shape(name);
      if (sh.length !== 2) bad(`${name} has shape ${shapeStr(sh)}; expected a matrix of ${F} features × d_model ${d}`);
      const [a, b] = sh;
      const fd = a === F && b === d;
      const df = a === d && b === F;
      if (want === 'FD' && !fd) bad(`${name} has shape ${shapeStr(sh)}; expected [${F}, ${d}] (features × d_model)`);
      if (want === 'DF' && !df) bad(`${name} has shape ${shapeStr(sh)}; expected [${d}, ${F}] (d_model × features)`);
      if (want !== 'auto') return want === 'FD';
      if (fd && df) {
        bad(`${name} is square (${F} features = d_model ${d}), so its orientation cannot be told from its shape${s.layoutHint ? `; ${s.layoutHint}` : ''}`);
      }
      if (!fd && !df) bad(`${name} has shape ${shapeStr(sh)}, which is neither [${F}, ${d}] nor [${d}, ${F}] (features from ${names.bEnc}, d_model from ${names.bDec})`);
      return fd;
    };
    const encFD = layout(names.wEnc, s.encLayout);
    const decFD = layout(names.wDec, s.decLayout);
    let threshold: Float32Array | undefined;
    if (names.threshold && src.has(names.threshold)) {
      const sh = src.shape(names.threshold);
      if (!(sh.length === 1 && sh[0] === F)) bad(`${names.threshold} has shape ${shapeStr(sh)}; expected [${F}]`);
      threshold = src.read(names.threshold);
      if (s.thresholdFloor !== undefined) threshold = threshold.map((t) => Math.max(t, s.thresholdFloor!));
    }
    const hasSkip = !!names.wSkip && src.has(names.wSkip);
    if (hasSkip) {
      const sh = src.shape(names.wSkip!);
      if (!(sh.length === 2 && sh[0] === d && sh[1] === d)) bad(`${names.wSkip} has shape ${shapeStr(sh)}; expected [${d}, ${d}]`);
    }
    const bEnc = src.read(names.bEnc);
    const bDec = src.read(names.bDec);
    for (const [n, v] of [[names.bEnc, bEnc], [names.bDec, bDec], [names.threshold ?? '', threshold]] as const) {
      if (v && v.some((x) => !Number.isFinite(x))) bad(`${n} contains NaN or infinite values`);
    }
    st = { F, encFD, decFD, bEnc, bDec, hasSkip, biasFolded: !s.foldBDec };
    if (threshold) st.threshold = threshold;
    this.states.set(layer, st);
    // An archive read whole for its shapes is not kept: asking every layer's feature count must not
    // hold every layer's weights in memory. The weights are read again when first used.
    if (!src.cheapShapes) src.release();
    return st;
  }

  nFeatures(layer: number): number {
    return this.state(layer).F;
  }

  threshold(layer: number): Float32Array | undefined {
    return this.activation.kind === 'jumprelu' ? this.state(layer).threshold : undefined;
  }

  encoder(layer: number): Mat {
    let m = this.enc.get(layer);
    if (m) return m;
    const st = this.state(layer);
    const s = this.specs.get(layer)!;
    const raw = { data: s.src.read(s.names.wEnc), rows: st.encFD ? st.F : this.dModel, cols: st.encFD ? this.dModel : st.F };
    checkFiniteEncoder(raw.data, s.src.file, s.names.wEnc);
    m = st.encFD ? raw : transpose(raw);
    this.enc.set(layer, m);
    return m;
  }

  bEnc(layer: number): Float32Array {
    const st = this.state(layer);
    if (!st.biasFolded) {
      // encode(x − b_dec) = x·Wᵀ + (b_enc − W·b_dec): fold once so every encoder is one affine map.
      const W = this.encoder(layer);
      const folded = new Float32Array(st.F);
      for (let f = 0; f < st.F; f++) {
        let s = 0;
        for (let k = 0; k < this.dModel; k++) s += W.data[f * this.dModel + k] * st.bDec[k];
        folded[f] = st.bEnc[f] - s;
      }
      st.bEnc = folded;
      st.biasFolded = true;
    }
    return st.bEnc;
  }

  bDec(layer: number): Float32Array {
    return this.state(layer).bDec;
  }

  decoder(layer: number): Mat {
    let m = this.dec.get(layer);
    if (m) return m;
    const st = this.state(layer);
    const s = this.specs.get(layer)!;
    const raw = { data: s.src.read(s.names.wDec), rows: st.decFD ? st.F : this.dModel, cols: st.decFD ? this.dModel : st.F };
    m = st.decFD ? raw : transpose(raw);
    this.dec.set(layer, m);
    return m;
  }

  decoderRows(layer: number, featureIds: ArrayLike<number>, targetLayer = layer): Float32Array {
    const st = this.state(layer);
    if (targetLayer !== layer) {
      throw new EngineError('INTERNAL', `${this.name}: layer ${layer}'s features write only into layer ${layer}, not ${targetLayer}.`);
    }
    for (let i = 0; i < featureIds.length; i++) {
      const f = featureIds[i];
      if (!Number.isInteger(f) || f < 0 || f >= st.F) throw new EngineError('INTERNAL', `${this.name}: feature ${f} is out of range at layer ${layer} (0…${st.F - 1}).`);
    }
    const d = this.dModel;
    const cached = this.dec.get(layer);
    const s = this.specs.get(layer)!;
    // Byte-range reads where the file allows them (safetensors); an .npz is read whole once and cached.
    if (!cached && st.decFD && s.src.cheapShapes) return s.src.readRows(s.names.wDec, featureIds, d);
    const D = cached ?? this.decoder(layer);
    const out = new Float32Array(featureIds.length * d);
    for (let i = 0; i < featureIds.length; i++) out.set(D.data.subarray(featureIds[i] * d, (featureIds[i] + 1) * d), i * d);
    return out;
  }

  wSkip(layer: number): Mat | undefined {
    const st = this.state(layer);
    if (!st.hasSkip) return undefined;
    let m = this.skip.get(layer);
    if (!m) {
      const s = this.specs.get(layer)!;
      const raw = { data: s.src.read(s.names.wSkip!), rows: this.dModel, cols: this.dModel };
      m = s.skipLayout === 'xW' ? raw : transpose(raw);
      this.skip.set(layer, m);
    }
    return m;
  }

  protected sourcesOf(target: number): number[] {
    return [target];
  }

  protected releaseWeights(): void {
    this.enc.clear();
    this.dec.clear();
    this.skip.clear();
    for (const s of this.specs.values()) s.src.release();
  }
}
