/**
 * The memory of the activation-scaled decoder blocks (backward.ts): every active feature's decoder
 * vector, kept from one analysis to the next on the same backward session (kept-memory.ts says why).
 */
import { takeKept, type Kept } from './kept-memory';

export { KEEP_MS } from './kept-memory';

/** `data` holds at least the requested length; contents arbitrary (callers write every element they feed). */
export interface DecoderMemory {
  data: Float32Array;
  release(): void;
}

/** `n` floats for the decoder blocks of one analysis on `owner` (the backward session). */
export function takeDecoderMemory(owner: object, n: number): DecoderMemory {
  const kept: Kept<Float32Array> = takeKept(owner, 'decoder-blocks', (old) => (old && old.length >= n ? old : new Float32Array(n)));
  return { data: kept.value, release: kept.release };
}
