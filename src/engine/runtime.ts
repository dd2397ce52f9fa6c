/**
 * onnxruntime-node sessions: one place that chooses the execution provider and caches sessions.
 * (The GPU-provider issue extends the choice and fallback; callers only use createSession.)
 */
import * as ort from 'onnxruntime-node';

export type ProviderName = 'cpu' | 'cuda' | 'tensorrt' | 'webgpu' | 'dml' | 'coreml';
export type ProviderSetting = 'auto' | ProviderName;

export interface RuntimeOptions {
  provider?: ProviderSetting;
  /** Intra-op threads; 0 lets onnxruntime decide. */
  threads?: number;
}

export async function createSession(model: Uint8Array | string, opts: RuntimeOptions = {}): Promise<ort.InferenceSession> {
  const so: ort.InferenceSession.SessionOptions = {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'all',
  };
  if (opts.threads) so.intraOpNumThreads = opts.threads;
  return typeof model === 'string' ? ort.InferenceSession.create(model, so) : ort.InferenceSession.create(model, so);
}

export { ort };
