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
 *
 * Keys are the settings' names under `circuitInspector.`.
 */
export const ANALYSIS_DEFAULTS = {
  nodeThreshold: 0.8,
  edgeThreshold: 0.98,
  maxFeatureNodes: 4096,
  batchSize: 64,
} as const;

/**
 * Defaults of how results are shown (same contract: package.json's defaults are these).
 *
 * - labels.minF1 0.5: a feature label scoring below this F1 against the latents it was probed on reads
 *   "unlabelled (best guess: …)". At 0.5 a label is right about its latent at least as often as wrong
 *   (precision and recall both ≥ 1/3); issue 12's label-quality table counts labels at F1 ≥ 0.5 too.
 */
export const DISPLAY_DEFAULTS = {
  'labels.minF1': 0.5,
} as const;
