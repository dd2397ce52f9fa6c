/**
 * Runs the linearised backward graph for batches of seeds and returns attribution rows.
 *
 * A row holds, for one target, the direct effect of every source on it, in circuit-tracer's column
 * order: active features, error nodes (layer-major: layer · T + position), token embeddings. The
 * per-prompt inputs (patterns, scales, activation-scaled decoder vectors, errors, embeddings) are
 * prepared once; each batch only feeds its seeds. A batch runs on the positions up to its last seed's
 * (attention is causal): callers that group seeds by position get cheaper sweeps.
 */
import { ort, type EngineSession } from '../runtime';
import type { ModelSpec } from '../model-spec';
import { backwardNames as N, DECODER_BUCKETS, decoderCutFor } from '../onnx/backward-graph';
import type { ActiveFeatures } from './features';
import { densePatterns, type FrozenForward } from './frozen';
import { takeDecoderMemory, type DecoderMemory } from './decoder-memory';
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
  /**
   * For each output layer, its decoder buckets: the positions (ascending), slots per position, and the
   * feature (column) in each slot (-1: empty; a position's features fill its first slots).
   */
  private readonly buckets: { pos: Int32Array; m: number; feature: Int32Array }[][] = [];
  private readonly statics: Record<string, ort.Tensor> = {};
  private readonly below: Int32Array[] = [];
  /** Reused per row by runSparse: feature scores (kept all zero between rows), and the row's entries. */
  private readonly scratch: Float32Array;
  private readonly col: Int32Array;
  private readonly val: Float32Array;

  /** The decoder blocks' memory, handed back by dispose for the session's next analysis. */
  private memory?: DecoderMemory;

  /** Set when the prompt's constants were bound into a per-prompt session (released by dispose). */
  private bound?: EngineSession;

  /** Every decoder bucket's block and positions, for graphs whose caller cuts them to the span. */
  private readonly decoderFeeds: { j: number; k: number; dec: Float32Array; pos: BigInt64Array; m: number }[] = [];

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
    this.memory?.release();
    this.memory = undefined;
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
    this.scratch = new Float32Array(nFeat);
    this.col = new Int32Array(this.nSources);
    this.val = new Float32Array(this.nSources);
    // Features are sorted by (layer, position): those of layer i before position t are
    // [layerStart[i], below[i][t]).
    for (let i = 0; i < L; i++) {
      const below = new Int32Array(T + 1);
      let k = feats.layerStart[i];
      for (let t = 0; t <= T; t++) {
        while (k < feats.layerStart[i + 1] && feats.pos[k] < t) k++;
        below[t] = k;
      }
      this.below.push(below);
    }
    const want = new Set(session.inputNames);
    const put = (name: string, t: ort.Tensor) => {
      if (want.has(name)) this.statics[name] = t;
    };
    for (let l = 0; l < L; l++) {
      const a = spec.blocks[l].attn;
      if (frozen.blocked) {
        // Long prompts: what the sweep rebuilds the patterns from, block by block.
        put(N.rotQ(l), new ort.Tensor('float32', frozen.blocked.q[l], [a.nHeads, T, a.headDim]));
        put(N.rotK(l), new ort.Tensor('float32', frozen.blocked.k[l], [a.nKvHeads, T, a.headDim]));
        put(N.lse(l), new ort.Tensor('float32', frozen.blocked.lse[l], [a.nHeads, T]));
      } else {
        // One view per head (no copy): the graph reads each head's pattern as a matrix of its own.
        const P = densePatterns(frozen, 'The dense backward sweep')[l];
        for (let h = 0; h < a.nHeads; h++) put(N.pattern(l, h), new ort.Tensor('float32', P.subarray(h * T * T, (h + 1) * T * T), [T, T]));
      }
      put(N.ln1Scale(l), new ort.Tensor('float32', frozen.ln1[l], [T]));
      if (frozen.ln1Post.length) put(N.ln1PostScale(l), new ort.Tensor('float32', frozen.ln1Post[l], [T]));
      put(N.ln2Scale(l), new ort.Tensor('float32', frozen.ln2[l], [T]));
    }
    put(N.lnfScale, new ort.Tensor('float32', frozen.lnf, [T]));
    put(N.errors, new ort.Tensor('float32', feats.errors, [L, T, d]));
    put(N.tokens, new ort.Tensor('float32', frozen.embeddings, [T, d]));

    // Decoder vectors times activation, grouped by the layer they write into and, within it, by
    // position; positions bucketed by how many features they hold, so each bucket is padded only to
    // its own busiest position: dec_{j}_{k}[i, :, s] is the vector of the s-th feature at the bucket's
    // i-th position writing into layer j. Slots are assigned first (sizes known), then every block is
    // written in one piece of memory kept across analyses (decoder-memory.ts).
    const layouts: { pos: Int32Array; m: number; feature: Int32Array; count: Int32Array; offset: number }[][] = [];
    let total = 0;
    for (let j = 0; j < L; j++) {
      const srcLayers = r.kind === 'clt' ? Array.from({ length: j + 1 }, (_, i) => i) : [j];
      const count = new Int32Array(T);
      for (const i of srcLayers) for (let k = feats.layerStart[i]; k < feats.layerStart[i + 1]; k++) count[feats.pos[k]]++;
      const of = new Int32Array(T).fill(-1); // position → bucket
      const layerBuckets = bucketPositions(count).map((list, b) => {
        list.forEach((t) => (of[t] = b));
        let m = 1;
        for (const t of list) m = Math.max(m, count[t]);
        // An empty bucket still feeds one position (zero vectors): the graph's MatMul needs a row.
        const pos = Int32Array.from(list.length ? list : [0]);
        const offset = total;
        total += pos.length * d * m;
        return { pos, m, feature: new Int32Array(pos.length * m).fill(-1), count: Int32Array.from(list.length ? list : [0], (t) => (list.length ? count[t] : 0)), offset };
      });
      const row = new Int32Array(T); // position → its index inside its bucket
      for (const bk of layerBuckets) bk.pos.forEach((t, i) => (row[t] = i));
      const fill = new Int32Array(T);
      for (const i of srcLayers) {
        for (let k = feats.layerStart[i]; k < feats.layerStart[i + 1]; k++) {
          const t = feats.pos[k];
          const bk = layerBuckets[of[t]];
          bk.feature[row[t] * bk.m + fill[t]++] = k;
        }
      }
      layouts.push(layerBuckets);
    }
    this.memory = takeDecoderMemory(session, total);
    const mem = this.memory.data;
    for (let j = 0; j < L; j++) {
      const layerBuckets = layouts[j];
      this.buckets.push(layerBuckets.map(({ pos, m, feature }) => ({ pos, m, feature })));
      layerBuckets.forEach((bk, k) => {
        const dec = mem.subarray(bk.offset, bk.offset + bk.pos.length * d * bk.m);
        writeDecoderBlock(dec, bk, j, d, r, feats);
        const pos = BigInt64Array.from(bk.pos, (t) => BigInt(t));
        put(N.dec(j, k), new ort.Tensor('float32', dec, [bk.pos.length, d, bk.m]));
        put(N.decPos(j, k), new ort.Tensor('int64', pos, [bk.pos.length]));
        this.decoderFeeds.push({ j, k, dec, pos, m: bk.m });
      });
    }
  }

  /** Runs the graph on a batch: the outputs, the span, rows per layer, and sorted row → seed. */
  private async sweep(seeds: SeedBatch) {
    const B = seeds.layers.length;
    const L = this.spec.nLayers, d = this.spec.dModel;
    // The graph wants seeds sorted by layer, highest first (see backward-graph.ts), after one zero
    // logit seed (row 0) that keeps every layer's row count at least 1 and whose outputs are dropped.
    const order = Array.from({ length: B }, (_, i) => i).sort((a, b) => seeds.layers[b] - seeds.layers[a] || a - b);
    const vecs = new Float32Array((B + 1) * d);
    const positions = new BigInt64Array(B + 1);
    let P = 1;
    order.forEach((i, b) => {
      vecs.set(seeds.vecs.subarray(i * d, (i + 1) * d), (b + 1) * d);
      positions[b + 1] = BigInt(seeds.positions[i]);
      P = Math.max(P, seeds.positions[i] + 1);
    });
    const active = new Int32Array(L + 1);
    for (let l = 0; l <= L; l++) active[l] = 1 + order.filter((i) => seeds.layers[i] >= l).length;
    // Per layer and bucket: how many of the bucket's positions lie inside the span (0: its one row is not a score).
    const inSpan = this.buckets.map((bs) => bs.map(({ pos }) => {
      let c = 0;
      while (c < pos.length && pos[c] < P) c++;
      return c;
    }));
    // A CPU graph takes each bucket cut to the span as a view of the kept block (no copy); at least one
    // position, which the graph computes and the reader ignores when none is inside.
    const cut: Record<string, ort.Tensor> = {};
    if (!this.bound && decoderCutFor(this.session.provider) === 'feeds') {
      for (const { j, k, dec, pos, m } of this.decoderFeeds) {
        const c = Math.max(1, inSpan[j][k]);
        cut[N.dec(j, k)] = new ort.Tensor('float32', dec.subarray(0, c * d * m), [c, d, m]);
        cut[N.decPos(j, k)] = new ort.Tensor('int64', pos.subarray(0, c), [c]);
      }
    }
    const out = await this.session.run({
      ...this.statics,
      ...cut,
      [N.seedVec]: new ort.Tensor('float32', vecs, [B + 1, d]),
      [N.seedPos]: new ort.Tensor('int64', positions, [B + 1]),
      [N.active]: new ort.Tensor('int64', BigInt64Array.from(active, (x) => BigInt(x)), [L + 1]),
      [N.span]: new ort.Tensor('int64', BigInt64Array.of(BigInt(P)), [1]),
    });
    return { out, P, active, order, inSpan };
  }

  /** Rows [B, nSources] for a batch of seeds, in the order given. */
  async run(seeds: SeedBatch): Promise<Float32Array> {
    const B = seeds.layers.length;
    const L = this.spec.nLayers;
    const nFeat = this.feats.act.length;
    const T = (this.nSources - nFeat) / (L + 1);
    const { out, P, active, order, inSpan } = await this.sweep(seeds);
    const rows = new Float32Array(B * this.nSources);
    const base = new Int32Array(B + 1); // sorted row b ≥ 1 → its offset in `rows`
    order.forEach((i, b) => (base[b + 1] = i * this.nSources));
    for (let j = 0; j < L; j++) {
      const a = active[j + 1];
      this.buckets[j].forEach(({ m, feature }, k) => {
        const c = inSpan[j][k];
        if (!c) return;
        const v = out[N.featOut(j, k)].data as Float32Array; // [c, a, m]
        for (let i = 0; i < c; i++) {
          for (let s = 0; s < m; s++) {
            const f = feature[i * m + s];
            if (f < 0) break;
            for (let b = 1, o = i * a * m + m + s; b < a; b++, o += m) rows[base[b] + f] += v[o];
          }
        }
      });
      const err = out[N.errOut(j)].data as Float32Array; // [a, P]
      for (let b = 1; b < a; b++) rows.set(err.subarray(b * P, (b + 1) * P), base[b] + nFeat + j * T);
    }
    const tok = out[N.tokOut].data as Float32Array; // [B + 1, P]
    for (let b = 1; b <= B; b++) rows.set(tok.subarray(b * P, (b + 1) * P), base[b] + nFeat + L * T);
    return rows;
  }

  /**
   * The same rows, sparse: for each seed, `sink(seed, col, val, n)` gets its n non-zero entries in
   * column order (col/val are reused: copy what you keep). Only the sources a seed can reach are visited
   * (layers below it, positions inside the span), so a row costs its reachable sources, not nSources.
   */
  async runSparse(seeds: SeedBatch, sink: (seed: number, col: Int32Array, val: Float32Array, n: number) => void): Promise<void> {
    const B = seeds.layers.length;
    const L = this.spec.nLayers;
    const nFeat = this.feats.act.length;
    const T = (this.nSources - nFeat) / (L + 1);
    const { out, P, active, order, inSpan } = await this.sweep(seeds);
    const feat = this.buckets.map((bs, j) => bs.map((_, k) => (inSpan[j][k] ? (out[N.featOut(j, k)].data as Float32Array) : undefined)));
    const err = Array.from({ length: L }, (_, j) => out[N.errOut(j)].data as Float32Array);
    const tok = out[N.tokOut].data as Float32Array;
    const { scratch, col, val } = this;
    for (let b = 1; b <= B; b++) {
      const seed = order[b - 1];
      const top = seeds.layers[seed]; // this row has scores in layers j < top
      for (let j = 0; j < top; j++) {
        const a = active[j + 1];
        this.buckets[j].forEach(({ m, feature }, k) => {
          const v = feat[j][k];
          if (!v) return;
          for (let i = 0, c = inSpan[j][k]; i < c; i++) {
            const o = (i * a + b) * m;
            for (let s = 0; s < m; s++) {
              const f = feature[i * m + s];
              if (f < 0) break;
              scratch[f] += v[o + s];
            }
          }
        });
      }
      let n = 0;
      for (let i = 0; i < top; i++) {
        for (let f = this.feats.layerStart[i], end = this.below[i][P]; f < end; f++) {
          const x = scratch[f];
          if (x !== 0) {
            col[n] = f;
            val[n++] = x;
            scratch[f] = 0;
          }
        }
      }
      for (let j = 0; j < top; j++) {
        const e = err[j];
        for (let t = 0; t < P; t++) {
          const x = e[b * P + t];
          if (x !== 0) {
            col[n] = nFeat + j * T + t;
            val[n++] = x;
          }
        }
      }
      for (let t = 0; t < P; t++) {
        const x = tok[b * P + t];
        if (x !== 0) {
          col[n] = nFeat + L * T + t;
          val[n++] = x;
        }
      }
      sink(seed, col, val, n);
    }
  }
}

/** Columns written per pass over a position's features: the pass's writes stay in cache. */
const DEC_COLUMNS = 64;

/**
 * Writes one bucket's block [n, d, m]: slot s of position i, column c at (i·d + c)·m + s is the s-th
 * feature's decoder row times its activation; slots past a position's count are zeroed (the memory is
 * reused). Written DEC_COLUMNS columns at a time for all of a position's slots, so each pass writes a
 * few cache lines many times instead of one element per line.
 */
function writeDecoderBlock(dec: Float32Array, bk: { pos: Int32Array; m: number; feature: Int32Array; count: Int32Array }, j: number, d: number, r: Replacement, feats: ActiveFeatures): void {
  const m = bk.m;
  const src: Float32Array[] = new Array(m);
  const off = new Int32Array(m);
  const scale = new Float32Array(m);
  for (let i = 0; i < bk.pos.length; i++) {
    const n = bk.count[i];
    for (let s = 0; s < n; s++) {
      const k = bk.feature[i * m + s];
      const l = feats.layer[k];
      src[s] = r.layers[l].wDec.data;
      off[s] = feats.index[k] * decodeSpan(r, l) * d + (j - l) * d;
      scale[s] = feats.act[k];
    }
    const base = i * d * m;
    for (let c0 = 0; c0 < d; c0 += DEC_COLUMNS) {
      const c1 = Math.min(d, c0 + DEC_COLUMNS);
      for (let s = 0; s < n; s++) {
        const W = src[s], a = scale[s];
        for (let c = c0, o = off[s] + c0, w = base + c0 * m + s; c < c1; c++, o++, w += m) dec[w] = a * W[o];
      }
      if (n < m) for (let c = c0; c < c1; c++) dec.fill(0, base + c * m + n, base + (c + 1) * m);
    }
  }
}

/** Distinct feature counts the exact bucketing considers; beyond this, neighbouring counts are grouped. */
const BUCKET_UNITS = 2048;

/**
 * Splits positions with features into DECODER_BUCKETS buckets so that the padded size, Σ over buckets
 * of (positions in it) × (its busiest position's count), is the least possible: a bucket holds the
 * positions of a range of counts (any optimal split can be made so), found by dynamic programming over
 * the distinct counts, busiest range first. Padding is what the decoder blocks' memory and the
 * decoder MatMuls pay for (a power-of-two split left ~1.4× on the d768 bench model). Positions ascending
 * within a bucket.
 */
export function bucketPositions(count: Int32Array): number[][] {
  const K = DECODER_BUCKETS;
  const buckets: number[][] = Array.from({ length: K }, () => []);
  // Units: runs of distinct counts, ascending (value = the run's largest count, n = its positions).
  const distinct = Array.from(new Set(Array.from(count).filter((c) => c > 0))).sort((x, y) => x - y);
  if (!distinct.length) return buckets;
  const per = Math.ceil(distinct.length / BUCKET_UNITS);
  const unitOf = new Map<number, number>();
  distinct.forEach((c, i) => unitOf.set(c, Math.floor(i / per)));
  const D = Math.ceil(distinct.length / per);
  const value = new Float64Array(D), n = new Float64Array(D + 1);
  for (const c of count) if (c > 0) n[unitOf.get(c)! + 1]++;
  for (let u = 0; u < D; u++) value[u] = distinct[Math.min(distinct.length - 1, (u + 1) * per - 1)];
  for (let u = 0; u < D; u++) n[u + 1] += n[u]; // prefix sums
  // best[k][b]: least padded size of units [0, b] in k + 1 buckets; cut[k][b]: where its last bucket starts.
  const best = Array.from({ length: K }, () => new Float64Array(D).fill(Infinity));
  const cut = Array.from({ length: K }, () => new Int32Array(D));
  for (let b = 0; b < D; b++) best[0][b] = n[b + 1] * value[b];
  for (let k = 1; k < K; k++) {
    for (let b = 0; b < D; b++) {
      best[k][b] = best[k - 1][b];
      cut[k][b] = b + 1; // an empty last bucket
      for (let a = 1; a <= b; a++) {
        const x = best[k - 1][a - 1] + (n[b + 1] - n[a]) * value[b];
        if (x < best[k][b]) {
          best[k][b] = x;
          cut[k][b] = a;
        }
      }
    }
  }
  // Unit ranges, busiest first.
  const bucketOfUnit = new Int32Array(D);
  for (let k = K - 1, b = D - 1, slot = 0; b >= 0; k--, slot++) {
    const a = k > 0 ? cut[k][b] : 0;
    for (let u = a; u <= b; u++) bucketOfUnit[u] = slot;
    b = a - 1;
    if (k === 0) break;
  }
  count.forEach((c, t) => {
    if (c > 0) buckets[bucketOfUnit[unitOf.get(c)!]].push(t);
  });
  return buckets;
}
