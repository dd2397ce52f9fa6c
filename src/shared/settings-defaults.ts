/**
 * The one table of analysis defaults: the extension's settings (package.json's contributes.configuration,
 * checked against this table in test/unit/extension/settings-defaults.test.ts), the CLI and the engine.
 *
 * - nodeThreshold / edgeThreshold: circuit-tracer's pruning defaults (cumulative influence kept).
 * - maxFeatureNodes 4096: the features visited by backward sweeps, chosen by partial influence. Half of
 *   circuit-tracer's demo cap of 8192: the rows kept for ranking grow with features × prompt length, and
 *   an interactive analysis should stay within seconds and within an editor's memory.
 * - batchSize 64: seeds per backward sweep. Larger batches amortise each onnxruntime call; the memory
 *   check before attribution names a smaller batch when 64 does not fit.
 */
export const ANALYSIS_DEFAULTS = {
  nodeThreshold: 0.8,
  edgeThreshold: 0.98,
  maxFeatureNodes: 4096,
  batchSize: 64,
} as const;
