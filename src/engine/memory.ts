/**
 * Memory estimates made before a run, so a prompt that cannot fit gets a message with a batch size that
 * does, instead of an allocation failure deep inside onnxruntime (or a killed extension host).
 */
import { execFileSync } from 'node:child_process';
import { freemem } from 'node:os';
import { EngineError } from './errors';
import type { ModelSpec } from './model-spec';
import type { ProviderName } from './runtime';

export interface MemoryEstimate {
  /** Model weights as the provider holds them. */
  weights: number;
  /** The forward pass with every hook kept (residual streams, patterns, logits), and the sweep's pattern cuts. */
  forward: number;
  /** One batch of the linearised backward sweep (gradients for B targets; grows linearly in T). */
  perBatch: number;
  total: number;
}

export interface EstimateInput {
  spec: Pick<ModelSpec, 'dModel' | 'nLayers' | 'vocabSize' | 'blocks'>;
  weightBytes: number;
  tokens: number;
  batch: number;
  bytesPerValue: 2 | 4;
}

export function estimateMemory({ spec, weightBytes, tokens: t, batch, bytesPerValue }: EstimateInput): MemoryEstimate {
  const d = spec.dModel;
  const L = spec.nLayers;
  const heads = spec.blocks[0]?.attn.nHeads ?? 1;
  const dMlp = spec.blocks[0]?.mlp.wOut.rows ?? 4 * d;
  // Hooks kept per layer: resid pre/mid/post, attn out, mlp in/out (6 × T×d), the MLP hidden transiently,
  // the attention pattern (H×T×T) and the scores before softmax; plus the logits (T×V).
  const perLayer = 6 * t * d + t * dMlp + 2 * heads * t * t;
  // The sweep holds the frozen patterns (counted in the forward) and, per layer, each head's pattern cut
  // to the span (H×T×T, whatever the batch); per seed a few T×d gradients are live at once (the residual
  // gradient, its attention and head-major copies, the value gradient: 8 counted). No B×H×T×T tensor
  // exists (backward-graph.ts multiplies each head's pattern with all rows in one Gemm).
  const forward = (L * perLayer + t * spec.vocabSize) * 4 + heads * t * t * 4;
  const perBatch = batch * 8 * t * d * bytesPerValue;
  const weights = (weightBytes / 4) * bytesPerValue;
  return { weights, forward, perBatch, total: weights + forward + perBatch };
}

/** Bytes the provider can use now, or undefined when it cannot be known (the check is then skipped). */
export function availableBytes(provider: ProviderName): number | undefined {
  if (provider === 'cpu') return freemem();
  if (provider === 'cuda' || provider === 'tensorrt' || provider === 'webgpu') {
    try {
      const out = execFileSync('nvidia-smi', ['--query-gpu=memory.free', '--format=csv,noheader,nounits'], { encoding: 'utf8', timeout: 3000, stdio: ['ignore', 'pipe', 'ignore'] });
      const mib = Number(out.trim().split('\n')[0]);
      return Number.isFinite(mib) ? mib * 1024 * 1024 : undefined;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/** Largest batch that fits, or 0 when even the forward pass does not. */
export function largestBatch(input: Omit<EstimateInput, 'batch'>, available: number): number {
  const one = estimateMemory({ ...input, batch: 1 });
  const fixed = one.weights + one.forward;
  if (fixed + one.perBatch > available) return 0;
  return Math.max(1, Math.floor((available - fixed) / one.perBatch));
}

const GiB = 1024 ** 3;
const fmt = (b: number) => `${(b / GiB).toFixed(2)} GiB`;

/**
 * Throws OUT_OF_MEMORY, with the batch size that would fit, when the estimate exceeds what is available.
 * `headroom` keeps a margin for onnxruntime's own arenas and the rest of the process.
 */
export function checkMemory(input: EstimateInput, provider: ProviderName, availableOrDetect: number | undefined | 'detect' = 'detect', headroom = 0.8): MemoryEstimate {
  const available = availableOrDetect === 'detect' ? availableBytes(provider) : availableOrDetect;
  const est = estimateMemory(input);
  if (available === undefined) return est;
  const budget = available * headroom;
  if (est.total <= budget) return est;
  const fits = largestBatch(input, budget);
  if (fits >= 1) {
    throw new EngineError(
      'OUT_OF_MEMORY',
      `This run needs about ${fmt(est.total)} on ${provider} (weights ${fmt(est.weights)}, forward ${fmt(est.forward)}, ${input.batch} targets per batch ${fmt(est.perBatch)}) but about ${fmt(budget)} is free.`,
      `Set circuitInspector.batchSize to ${fits} or lower.`,
    );
  }
  throw new EngineError(
    'OUT_OF_MEMORY',
    `A ${input.tokens}-token prompt needs about ${fmt(est.weights + est.forward)} on ${provider} before any attribution batch, but about ${fmt(budget)} is free.`,
    'Use a shorter prompt, half precision, or a machine with more memory.',
  );
}
