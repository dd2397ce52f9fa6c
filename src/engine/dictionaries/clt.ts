/**
 * circuit-tracer cross-layer transcoders: per source layer i, `W_enc_{i}.safetensors` holding
 * `W_enc_{i}` [F, d] (or [d, F]), `b_enc_{i}` [F], `b_dec_{i}` [d] (the bias of output layer i) and, for
 * JumpReLU, `threshold_{i}` [F]; and `W_dec_{i}.safetensors` holding `W_dec_{i}` [F, n − i, d], the
 * vectors feature f of layer i writes into layers i … n − 1.
 *
 * Decoders are the bulk of a CLT (n(n+1)/2 · F · d values), so they are read only when asked for: a
 * row slice by byte range for `decoderRows`, a whole layer for `decoder`. Encoder headers and biases
 * are read at load, so shape errors surface at once.
 */
import { EngineError } from '../errors';
import type { Mat } from '../model-spec';
import { BaseDictionary, checkFiniteEncoder, type BaseOptions } from './base';
import type { TensorSource } from './sources';

export interface CltLayerFiles {
  enc: TensorSource;
  dec: TensorSource;
}

interface CltState {
  F: number;
  encFD: boolean;
  bEnc: Float32Array;
  bDec: Float32Array;
  threshold?: Float32Array;
}

export class CltDictionary extends BaseDictionary {
  private readonly files: CltLayerFiles[];
  private readonly states: CltState[] = [];
  private readonly enc = new Map<number, Mat>();
  private readonly dec = new Map<number, Mat>();

  constructor(o: BaseOptions & { files: CltLayerFiles[]; layoutHint?: string }) {
    super(o);
    this.files = o.files;
    const n = o.files.length;
    const d = o.dModel;
    for (let i = 0; i < n; i++) {
      const { enc, dec } = o.files[i];
      const bad = (file: string, why: string): never => {
        throw new EngineError('DICTIONARY_INVALID', `${file}: ${why}.`, 'The file is not a circuit-tracer CLT layer, or it is damaged.');
      };
      const bEncShape = enc.shape(`b_enc_${i}`);
      const bDecShape = enc.shape(`b_dec_${i}`);
      if (bEncShape.length !== 1) bad(enc.file, `b_enc_${i} has shape [${bEncShape}]; expected [features]`);
      if (!(bDecShape.length === 1 && bDecShape[0] === d)) {
        if (bDecShape.length === 1) throw new EngineError('DICTIONARY_MISMATCH', `${enc.file}: b_dec_${i} has d_model ${bDecShape[0]} but layer 0 has ${d}.`);
        bad(enc.file, `b_dec_${i} has shape [${bDecShape}]; expected [${d}]`);
      }
      const F = bEncShape[0];
      const [a, b] = enc.shape(`W_enc_${i}`);
      const ws = enc.shape(`W_enc_${i}`);
      const fd = ws.length === 2 && a === F && b === d;
      const df = ws.length === 2 && a === d && b === F;
      if (!fd && !df) bad(enc.file, `W_enc_${i} has shape [${ws}]; expected [${F}, ${d}] (features × d_model)`);
      if (fd && df) bad(enc.file, `W_enc_${i} is square (${F} features = d_model ${d}), so its orientation cannot be told from its shape${o.layoutHint ? `; ${o.layoutHint}` : ''}`);
      const ds = dec.shape(`W_dec_${i}`);
      if (!(ds.length === 3 && ds[0] === F && ds[1] === n - i && ds[2] === d)) {
        bad(dec.file, `W_dec_${i} has shape [${ds}]; expected [${F}, ${n - i}, ${d}] (features × later layers × d_model)`);
      }
      const st: CltState = { F, encFD: fd, bEnc: enc.read(`b_enc_${i}`), bDec: enc.read(`b_dec_${i}`) };
      if (enc.has(`threshold_${i}`)) {
        const ts = enc.shape(`threshold_${i}`);
        if (!(ts.length === 1 && ts[0] === F)) bad(enc.file, `threshold_${i} has shape [${ts}]; expected [${F}]`);
        st.threshold = enc.read(`threshold_${i}`);
      } else if (o.activation.kind === 'jumprelu') {
        bad(enc.file, `threshold_${i} is missing but the CLT uses JumpReLU`);
      }
      this.states.push(st);
    }
  }

  nFeatures(layer: number): number {
    this.check(layer);
    return this.states[layer].F;
  }

  threshold(layer: number): Float32Array | undefined {
    this.check(layer);
    return this.activation.kind === 'jumprelu' ? this.states[layer].threshold : undefined;
  }

  encoder(layer: number): Mat {
    this.check(layer);
    let m = this.enc.get(layer);
    if (!m) {
      const st = this.states[layer];
      const data = this.files[layer].enc.read(`W_enc_${layer}`);
      checkFiniteEncoder(data, this.files[layer].enc.file, `W_enc_${layer}`);
      m = { data, rows: st.F, cols: this.dModel };
      if (!st.encFD) {
        const t = new Float32Array(data.length);
        for (let k = 0; k < this.dModel; k++) for (let f = 0; f < st.F; f++) t[f * this.dModel + k] = data[k * st.F + f];
        m.data = t;
      }
      this.enc.set(layer, m);
    }
    return m;
  }

  bEnc(layer: number): Float32Array {
    this.check(layer);
    return this.states[layer].bEnc;
  }

  bDec(layer: number): Float32Array {
    this.check(layer);
    return this.states[layer].bDec;
  }

  /** [F, (n − layer) · d]: W_dec_{layer} as stored. */
  decoder(layer: number): Mat {
    this.check(layer);
    let m = this.dec.get(layer);
    if (!m) {
      const span = this.nLayers - layer;
      m = { data: this.files[layer].dec.read(`W_dec_${layer}`), rows: this.states[layer].F, cols: span * this.dModel };
      this.dec.set(layer, m);
    }
    return m;
  }

  decoderRows(layer: number, featureIds: ArrayLike<number>, targetLayer = layer): Float32Array {
    this.check(layer);
    const n = this.nLayers;
    if (!Number.isInteger(targetLayer) || targetLayer < layer || targetLayer >= n) {
      throw new EngineError('INTERNAL', `${this.name}: layer ${layer}'s features write into layers ${layer}…${n - 1}, not ${targetLayer}.`);
    }
    const F = this.states[layer].F;
    const span = n - layer;
    const j = targetLayer - layer;
    const d = this.dModel;
    const rows = new Int32Array(featureIds.length);
    for (let i = 0; i < featureIds.length; i++) {
      const f = featureIds[i];
      if (!Number.isInteger(f) || f < 0 || f >= F) throw new EngineError('INTERNAL', `${this.name}: feature ${f} is out of range at layer ${layer} (0…${F - 1}).`);
      rows[i] = f * span + j;
    }
    const cached = this.dec.get(layer);
    if (!cached) return this.files[layer].dec.readRows(`W_dec_${layer}`, rows, d);
    const out = new Float32Array(rows.length * d);
    for (let i = 0; i < rows.length; i++) out.set(cached.data.subarray(rows[i] * d, (rows[i] + 1) * d), i * d);
    return out;
  }

  wSkip(): Mat | undefined {
    return undefined;
  }

  protected sourcesOf(target: number): number[] {
    return this.layers.filter((l) => l <= target);
  }

  protected releaseWeights(): void {
    this.enc.clear();
    this.dec.clear();
  }

  /** Whether layer's decoder is held in memory (for tests of lazy loading). */
  decoderCached(layer: number): boolean {
    return this.dec.has(layer);
  }
}
