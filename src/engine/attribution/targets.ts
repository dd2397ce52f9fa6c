/**
 * Attribution targets: the logits a graph explains, each with the residual-stream direction whose
 * gradient is seeded (after the final norm) and the weight it carries in influence.
 *
 * Default (circuit-tracer's compute_salient_logits): the most probable next tokens at the last position
 * until their cumulative probability reaches 0.95, at most 10; direction = the token's unembedding row
 * minus the mean row over the vocabulary (so the target is the logit relative to the mean logit),
 * weight = its probability. Custom targets: a token, or the difference of two tokens' logits.
 */
import { EngineError } from '../errors';
import type { ModelSpec } from '../model-spec';

export type CustomTarget = { token: number; weight?: number } | { token: number; minus: number; weight?: number };

export interface Target {
  tokenId: number;
  /** For a difference target, the token subtracted. */
  minusId?: number;
  probability: number;
  /** Weight in influence (the probability unless given). */
  weight: number;
  /** [d] direction after the final norm. */
  vec: Float32Array;
}

export function softmax(row: Float32Array): Float64Array {
  let max = -Infinity;
  for (const v of row) if (v > max) max = v;
  const p = new Float64Array(row.length);
  let z = 0;
  for (let i = 0; i < row.length; i++) z += p[i] = Math.exp(row[i] - max);
  for (let i = 0; i < row.length; i++) p[i] /= z;
  return p;
}

/** Vocabulary ids to explain: top probabilities until `desired` cumulative probability, at most maxN. */
export function salientLogits(probs: Float64Array, maxN: number, desired: number): number[] {
  const order = Array.from(probs.keys()).sort((a, b) => probs[b] - probs[a]).slice(0, Math.max(1, maxN));
  // searchsorted(cumsum, desired) + 1: the first index whose cumulative sum reaches `desired`, kept.
  let cum = 0;
  for (let i = 0; i < order.length; i++) {
    cum += probs[order[i]];
    if (cum >= desired) return order.slice(0, i + 1);
  }
  return order;
}

/** Mean unembedding row over the vocabulary (once per model). */
const meanRows = new WeakMap<ModelSpec, Float32Array>();
export function meanUnembed(spec: ModelSpec): Float32Array {
  let m = meanRows.get(spec);
  if (!m) {
    const { data, rows, cols } = spec.unembed;
    const acc = new Float64Array(cols);
    for (let v = 0; v < rows; v++) for (let i = 0; i < cols; i++) acc[i] += data[v * cols + i];
    m = Float32Array.from(acc, (x) => x / rows);
    meanRows.set(spec, m);
  }
  return m;
}

function row(spec: ModelSpec, id: number): Float32Array {
  if (!Number.isInteger(id) || id < 0 || id >= spec.unembed.rows) {
    throw new EngineError('TOKENIZER_INVALID', `Target token id ${id} is outside the vocabulary (0..${spec.unembed.rows - 1}).`, 'Choose a token of this model.');
  }
  const d = spec.unembed.cols;
  return spec.unembed.data.subarray(id * d, (id + 1) * d);
}

export function buildTargets(spec: ModelSpec, lastLogits: Float32Array, opts: { maxNLogits: number; desiredLogitProb: number; custom?: CustomTarget[] }): Target[] {
  const probs = softmax(lastLogits);
  const mean = meanUnembed(spec);
  if (opts.custom?.length) {
    return opts.custom.map((c) => {
      const a = row(spec, c.token);
      if ('minus' in c) {
        const b = row(spec, c.minus);
        return { tokenId: c.token, minusId: c.minus, probability: probs[c.token], weight: c.weight ?? probs[c.token], vec: a.map((x, i) => x - b[i]) };
      }
      return { tokenId: c.token, probability: probs[c.token], weight: c.weight ?? probs[c.token], vec: a.map((x, i) => x - mean[i]) };
    });
  }
  return salientLogits(probs, opts.maxNLogits, opts.desiredLogitProb).map((id) => {
    const a = row(spec, id);
    return { tokenId: id, probability: probs[id], weight: probs[id], vec: a.map((x, i) => x - mean[i]) };
  });
}
