/**
 * Runs the linearised backward graph for batches of seeds and returns attribution rows.
 *
 * A row holds, for one target, the direct effect of every source on it, in circuit-tracer's column
 * order: active features, error nodes (layer-major: layer · T + position), token embeddings. The
 * per-prompt inputs (patterns, scales, activation-scaled decoder vectors, errors, embeddings) are
 * prepared once; each batch only feeds its seeds.
 */
import { ort, type EngineSession } from '../runtime';
import type { ModelSpec } from '../model-spec';
import { backwardNames as N } from '../onnx/backward-graph';
import type { ActiveFeatures } from './features';
import type { FrozenForward } from './frozen';
import { decodeSpan, type Replacement } from './replacement';

export interface SeedBatch {
  /** [B, d] */
  vecs: Float32Array;
  /** Seed layer per row (nLayers = after the final norm, i.e. a logit). */
  layers: Int32Array;
  positions: Int32Array;
}

export class BackwardSweep {
  readonly nSources: number;
  /** For each output layer: slots per position, and the feature (column) in each slot (-1: empty). */
  private readonly slots: { m: number; feature: Int32Array }[] = [];
  private readonly statics: Record<string, ort.Tensor> = {};

  /** Set when the prompt's constants were bound into a per-prompt session (released by dispose). */
  private bound?: EngineSession;

  /**
   * `deviceResident`: bind the prompt's constants (patterns, norm scales, errors, decoder rows) into a
   * per-prompt session so they are uploaded once rather than with every batch (GPU providers; see
   * onnx/bind-constants.ts). Falls back to feeding them when the graph cannot be rebuilt in memory.
   */
  static async create(session: EngineSession, spec: ModelSpec, r: Replacement, frozen: FrozenForward, feats: ActiveFeatures, deviceResident: boolean): Promise<BackwardSweep> {
    const sweep = new BackwardSweep(session, spec, r, frozen, feats);
    if (deviceResident) {
      const bound = await session.withConstants(sweep.statics);
      if (bound) {
        sweep.bound = bound;
        sweep.session = bound;
        for (const k of Object.keys(sweep.statics)) delete sweep.statics[k];
      }
    }
    return sweep;
  }

  /** Whether the constants live in the session (uploaded once) rather than being fed per batch. */
  get deviceResident(): boolean {
    return this.bound !== undefined;
  }

  async dispose(): Promise<void> {
    await this.bound?.release();
    this.bound = undefined;
  }

  private constructor(
    private session: EngineSession,
    private readonly spec: ModelSpec,
    r: Replacement,
    frozen: FrozenForward,
    private readonly feats: ActiveFeatures,
  ) {
    const L = spec.nLayers, T = frozen.T, d = spec.dModel;
    const nFeat = feats.act.length;
    this.nSources = nFeat + L * T + T;
    const want = new Set(session.inputNames);
    const put = (name: string, t: ort.Tensor) => {
      if (want.has(name)) this.statics[name] = t;
    };
    for (let l = 0; l < L; l++) {
      put(N.pattern(l), new ort.Tensor('float32', frozen.patterns[l], [spec.blocks[l].attn.nHeads, T, T]));
      put(N.ln1Scale(l), new ort.Tensor('float32', frozen.ln1[l], [T]));
      if (frozen.ln1Post.length) put(N.ln1PostScale(l), new ort.Tensor('float32', frozen.ln1Post[l], [T]));
      put(N.ln2Scale(l), new ort.Tensor('float32', frozen.ln2[l], [T]));
    }
    put(N.lnfScale, new ort.Tensor('float32', frozen.lnf, [T]));
    put(N.errors, new ort.Tensor('float32', feats.errors, [L, T, d]));
    put(N.tokens, new ort.Tensor('float32', frozen.embeddings, [T, d]));

    // Decoder vectors times activation, grouped by the layer they write into and, within it, by
    // position: dec_j[t, :, s] is the vector of the s-th feature at position t writing into layer j.
    for (let j = 0; j < L; j++) {
      const srcs: number[] = [];
      const srcLayers = r.kind === 'clt' ? Array.from({ length: j + 1 }, (_, i) => i) : [j];
      for (const i of srcLayers) for (let k = feats.layerStart[i]; k < feats.layerStart[i + 1]; k++) srcs.push(k);
      const count = new Int32Array(T);
      for (const k of srcs) count[feats.pos[k]]++;
      let m = 1;
      for (const c of count) m = Math.max(m, c);
      const slotFeature = new Int32Array(T * m).fill(-1);
      const dec = new Float32Array(T * d * m);
      count.fill(0);
      for (const k of srcs) {
        const t = feats.pos[k];
        const slot = count[t]++;
        slotFeature[t * m + slot] = k;
        const i = feats.layer[k];
        const W = r.layers[i].wDec;
        const off = feats.index[k] * decodeSpan(r, i) * d + (j - i) * d;
        const a = feats.act[k];
        for (let c = 0; c < d; c++) dec[(t * d + c) * m + slot] = a * W.data[off + c];
      }
      this.slots.push({ m, feature: slotFeature });
      put(N.dec(j), new ort.Tensor('float32', dec, [T, d, m]));
    }
  }

  /** Rows [B, nSources] for a batch of seeds, in the order given. */
  async run(seeds: SeedBatch): Promise<Float32Array> {
    const B = seeds.layers.length;
    const L = this.spec.nLayers, d = this.spec.dModel;
    // The graph wants seeds sorted by layer, highest first (see backward-graph.ts).
    const order = Array.from({ length: B }, (_, i) => i).sort((a, b) => seeds.layers[b] - seeds.layers[a] || a - b);
    const vecs = new Float32Array(B * d);
    const layers = new BigInt64Array(B);
    const positions = new BigInt64Array(B);
    order.forEach((i, b) => {
      vecs.set(seeds.vecs.subarray(i * d, (i + 1) * d), b * d);
      layers[b] = BigInt(seeds.layers[i]);
      positions[b] = BigInt(seeds.positions[i]);
    });
    const active = new BigInt64Array(L + 1);
    // At least one row per layer: onnxruntime's batched MatMul fails on empty batches. The extra row
    // belongs to a seed below that layer, so its gradient there is exactly zero.
    for (let l = 0; l <= L; l++) active[l] = BigInt(Math.max(1, order.filter((i) => seeds.layers[i] >= l).length));
    const out = await this.session.run({
      ...this.statics,
      [N.seedVec]: new ort.Tensor('float32', vecs, [B, d]),
      [N.seedLayer]: new ort.Tensor('int64', layers, [B]),
      [N.seedPos]: new ort.Tensor('int64', positions, [B]),
      [N.active]: new ort.Tensor('int64', active, [L + 1]),
    });
    const nFeat = this.feats.act.length;
    const T = (this.nSources - nFeat) / (L + 1);
    const rows = new Float32Array(B * this.nSources);
    const base = order.map((i) => i * this.nSources); // sorted row b → its slot in `rows`
    for (let j = 0; j < L; j++) {
      const { m, feature } = this.slots[j];
      const a = Number(active[j + 1]);
      const v = out[N.featOut(j)].data as Float32Array; // [T, a, m]
      for (let t = 0; t < T; t++) {
        for (let s = 0; s < m; s++) {
          const k = feature[t * m + s];
          if (k < 0) continue;
          for (let b = 0; b < a; b++) rows[base[b] + k] += v[(t * a + b) * m + s];
        }
      }
    }
    const err = out[N.errOut].data as Float32Array; // [B, L, T]
    const tok = out[N.tokOut].data as Float32Array; // [B, T]
    for (let b = 0; b < B; b++) {
      rows.set(err.subarray(b * L * T, (b + 1) * L * T), base[b] + nFeat);
      rows.set(tok.subarray(b * T, (b + 1) * T), base[b] + nFeat + L * T);
    }
    return rows;
  }
}
