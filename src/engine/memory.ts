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
  /** Attention in this many blocks (attribution/frozen.ts attentionBlocksFor); 0 or absent: dense patterns. */
  attentionBlocks?: number;
}

/**
 * Gradient memory one sweep batch may take. A requested batch whose gradients would pass it is lowered
 * (`sweepBatch`): on long prompts the per-seed gradient dominates memory, and the measured cost of a
 * smaller batch there is nil (10,000 tokens on the embedded model: batch 32 took 43 s and 2.6 GB,
 * batch 64 53 s and 3.7 GB). 2 GiB leaves every batch of 64–256-token prompts as asked.
 */
export const SWEEP_GRADIENT_BYTES = 2 * 1024 ** 3;

/** Gradient bytes per seed of a sweep over T positions: a few [T, d] tensors live at once (8 counted). */
export function sweepBytesPerSeed(tokens: number, dModel: number, bytesPerValue: 2 | 4 = 4): number {
  return 8 * tokens * dModel * bytesPerValue;
}

/** The batch the sweeps run: the requested one, lowered until its gradients fit SWEEP_GRADIENT_BYTES. */
export function sweepBatch(requested: number, tokens: number, dModel: number): number {
  return Math.max(1, Math.min(Math.floor(requested), Math.floor(SWEEP_GRADIENT_BYTES / sweepBytesPerSeed(tokens, dModel))));
}

export function estimateMemory({ spec, weightBytes, tokens: t, batch, bytesPerValue, attentionBlocks = 0 }: EstimateInput): MemoryEstimate {
  const d = spec.dModel;
  const L = spec.nLayers;
  const heads = spec.blocks[0]?.attn.nHeads ?? 1;
  const dMlp = spec.blocks[0]?.mlp.wOut.rows ?? 4 * d;
  // Hooks kept per layer: resid pre/mid/post, attn out, mlp in/out (6 × T×d), the MLP hidden transiently,
  // and the attention pattern (H×T×T) with the scores before softmax; plus the logits (T×V). Blocked
  // attention keeps q, k and lse instead (≈ 2·T·d + H·T) and holds one block's scores at a time.
  const block = attentionBlocks > 0 ? Math.ceil(t / attentionBlocks) : t;
  const attention = attentionBlocks > 0 ? 2 * t * d + heads * t : 2 * heads * t * t;
  const perLayer = 6 * t * d + t * dMlp + attention;
  // The sweep holds the frozen patterns (counted in the forward) and, per layer, each head's pattern cut
  // to the span (H×T×T, whatever the batch; blocked: one [T, T/n] block of one head, a few times); per
  // seed a few T×d gradients are live at once (sweepBytesPerSeed). No B×H×T×T tensor exists
  // (backward-graph.ts multiplies each head's pattern with all rows in one Gemm).
  const transient = attentionBlocks > 0 ? 4 * heads * block * t : heads * t * t;
  const forward = (L * perLayer + t * spec.vocabSize + transient) * 4;
  const perBatch = batch * sweepBytesPerSeed(t, d, bytesPerValue);
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
