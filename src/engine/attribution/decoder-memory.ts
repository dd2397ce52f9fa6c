/**
 * The memory of the activation-scaled decoder blocks (backward.ts), kept from one analysis to the next
 * on the same backward session.
 *
 * The blocks hold every active feature's decoder vector: on a d768 × 12-layer model at 64 tokens, about
 * 400k vectors, 1.2 GB. Filling fresh memory that large costs mostly first-touch page faults, not the
 * copy: measured on the bench VM (which hands freed pages back to its host), allocating and filling
 * 110 MB takes ~0.7 s of CPU, copying into the same memory once touched ~0.01 s; on a desktop the ratio
 * is smaller but the faults still dominate. So the block memory of the last analysis is kept (for
 * KEEP_MS after it ends, then dropped so an idle engine does not hold it) and the next analysis that
 * fits in it writes there. One analysis at a time uses it; a concurrent one gets fresh memory.
 */

/** How long block memory is kept after the analysis that used it ends. */
export const KEEP_MS = 60_000;

interface Pool {
  data?: Float32Array;
  busy: boolean;
  timer?: ReturnType<typeof setTimeout>;
}

const pools = new WeakMap<object, Pool>();

export interface DecoderMemory {
  /** At least the requested length; contents arbitrary (callers write every element they feed). */
  data: Float32Array;
  /** Hands the memory back for the owner's next analysis (idempotent). */
  release(): void;
}

/** `n` floats for the decoder blocks of one analysis on `owner` (the backward session). */
export function takeDecoderMemory(owner: object, n: number): DecoderMemory {
  let pool = pools.get(owner);
  if (!pool) pools.set(owner, (pool = { busy: false }));
  if (pool.busy) return { data: new Float32Array(n), release: () => undefined };
  const p = pool;
  p.busy = true;
  if (p.timer) clearTimeout(p.timer);
  p.timer = undefined;
  if (!p.data || p.data.length < n) {
    p.data = undefined; // the old block is garbage before the new one is allocated
    p.data = new Float32Array(n);
  }
  let released = false;
  return {
    data: p.data,
    release: () => {
      if (released) return;
      released = true;
      p.busy = false;
      p.timer = setTimeout(() => {
        if (!p.busy) p.data = undefined;
        p.timer = undefined;
      }, KEEP_MS);
      p.timer.unref?.();
    },
  };
}
