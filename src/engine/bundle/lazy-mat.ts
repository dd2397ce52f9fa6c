/**
 * Lazily read weight matrices: a `Mat` whose `data` is read from its safetensors tensor (widened to
 * f32, transposed or sliced as the architecture mapping says) the first time it is touched, and can be
 * released again afterwards (the next touch re-reads it).
 *
 * A 1B-parameter checkpoint widened to f32 is 4 GB; the forward graph serialises those weights once
 * into the graph cache, and onnxruntime then holds its own copy. Keeping a second f32 copy in the
 * ModelSpec for the lifetime of the model doubled peak memory for nothing: only attribution and the
 * logit lens read a few matrices (embeddings, unembedding, attention V/O) back in JS, and they get them
 * on demand through the same `data` property every Mat has.
 */
import type { Mat, ModelSpec } from '../model-spec';

export class LazyMat implements Mat {
  private values: Float32Array | undefined;
  /** Set once `data` was assigned: the values no longer come from the file, so they are never released. */
  private pinned = false;
  private reads = 0;

  /** `read` produces the [rows, cols] row-major values; it is called again after each release. */
  constructor(
    readonly rows: number,
    readonly cols: number,
    private readonly read: () => Float32Array,
    /** What the values come from (tensor name), for messages and tests. */
    readonly source: string,
  ) {}

  get data(): Float32Array {
    if (!this.values) {
      const v = this.read();
      if (v.length !== this.rows * this.cols) {
        throw new Error(`${this.source}: read ${v.length} values for a [${this.rows}, ${this.cols}] matrix`);
      }
      this.reads++;
      this.values = v;
    }
    return this.values;
  }

  /** Replacing the values (a test perturbing a weight, say) pins them: release then keeps them. */
  set data(v: Float32Array) {
    if (v.length !== this.rows * this.cols) throw new Error(`${this.source}: ${v.length} values for a [${this.rows}, ${this.cols}] matrix`);
    this.values = v;
    this.pinned = true;
  }

  /** Whether the values are in memory now. */
  get loaded(): boolean {
    return this.values !== undefined;
  }

  /** How many times the values were read from the checkpoint. */
  get readCount(): number {
    return this.reads;
  }

  /** Drops the values (holders of the array keep theirs); the next `data` re-reads them. */
  release(): void {
    if (!this.pinned) this.values = undefined;
  }
}

export function isLazyMat(m: Mat): m is LazyMat {
  return m instanceof LazyMat;
}

/** Every distinct Mat of a spec-shaped object graph (tied embeddings once), for release and tests. */
export function matsOf(spec: ModelSpec): Mat[] {
  const out = new Set<Mat>([spec.embed, spec.unembed]);
  if (spec.posEmbed) out.add(spec.posEmbed);
  const isMat = (v: unknown): v is Mat => typeof v === 'object' && v !== null && 'rows' in v && 'cols' in v && 'data' in v;
  for (const b of spec.blocks) for (const part of [b.attn, b.mlp]) for (const v of Object.values(part as object)) if (isMat(v)) out.add(v);
  return [...out];
}

/** Releases every lazily read matrix of a spec (the others are plain arrays and stay). */
export function releaseWeights(spec: ModelSpec): void {
  for (const m of matsOf(spec)) if (isLazyMat(m)) m.release();
}
