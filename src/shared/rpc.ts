/**
 * The engine worker's RPC contract, derived from one interface (method → args / result), in the style
 * of microsoft/vscode-js-profile-visualizer: the host calls `client.call('forward', args)` and gets the
 * result type of `EngineMethods['forward']`, so the two sides cannot drift apart.
 *
 * Calls carry ids; a `cancel` with the same id aborts the worker's AbortSignal for that call; progress
 * events stream back while it runs. This file is imported by both sides and holds no engine code.
 */
import type { BlockResult } from './circuit-tests';
import type { PromptDialect } from './prompt-blocks';
import type { LabelScore } from './label-text';
import type { PromptVocabulary } from './vocabulary';
import type { TokenInfo } from './tokens';
import type { DecompositionReport } from './decomposition-report';
import type { FeatureCard, FeatureRef, GraphFile, InterventionOutcome, InterventionSemanticsView, InterventionSpec, PredictionView, FeatureAt, QkView, VerifyView } from './protocol';

import type { PrecisionSetting, ProviderSetting } from './runtime-settings';

export type { PrecisionSetting, ProviderSetting };

export interface LoadModelArgs {
  modelPath: string;
  /** A transcoder set folder; absent = the model folder's `transcoders/` when it has one. */
  transcoderPath?: string;
  provider: ProviderSetting;
  /** Intra-op threads for onnxruntime; 0 lets it decide. */
  threads?: number;
  precision?: PrecisionSetting;
  /** Where built ONNX graphs are cached (the extension's global storage). */
  cacheDir?: string;
  /** Where feature dashboards built by the editor are kept (one store per dictionary folder). */
  dashboardsDir?: string;
}

export interface DashboardsBuilt {
  path: string;
  tokens: number;
  documents: number;
  features: number;
  seconds: number;
  tokensPerSecond: number;
  bytes: number;
  resumedFrom: number;
}

export interface FeatureSearchHit extends FeatureRef {
  label: string;
  labelSource: string;
  f1: number | null;
  density: number;
}

export interface ModelInfo {
  name: string;
  dir: string;
  nLayers: number;
  dModel: number;
  vocabSize: number;
  maxPositions: number;
  /** The execution provider actually in use (after any fallback). */
  provider: string;
  /** Why the requested provider was not used, when it was not. */
  providerNote?: string;
  transcoders?: { dir: string; kind: string; nFeatures: number };
}

/** One feature active at a token, for hovers. */
export interface ActiveFeature extends FeatureRef {
  activation: number;
  label: string;
  /** The label's score (F1, precision, recall, what it was scored against), when the dictionary has one. */
  evidence?: LabelScore;
}

export interface ForwardArgs {
  text: string;
  /** Features reported per position (largest activation first). */
  topFeatures?: number;
  /** Next-token predictions reported per position. */
  topPredictions?: number;
}

export interface ForwardResult {
  tokens: TokenInfo[];
  /** Per position: the most active transcoder features across all layers. */
  features: ActiveFeature[][];
  /** Per position: the model's top next-token predictions. */
  predictions: PredictionView[][];
}

export interface LensRow {
  layer: number;
  predictions: PredictionView[];
}

export interface AnalyzeArgs {
  text: string;
  nodeThreshold: number;
  edgeThreshold: number;
  maxFeatureNodes: number;
  batchSize: number;
  slug: string;
}

export interface AnalyzeResult {
  graph: GraphFile;
  forward: ForwardResult;
  /** Replacement / completeness scores when the attribution reports them. */
  scores?: { replacement?: number; completeness?: number };
}

export interface PruneArgs {
  nodeThreshold: number;
  edgeThreshold: number;
  slug: string;
}

export interface QkArgs {
  text: string;
  /** Graph-file node id. */
  nodeId: string;
  head?: { layer: number; head: number };
  /** Pairs and contributors kept per list (default 8). */
  top?: number;
}

export interface PruneResult {
  graph: GraphFile;
  scores?: AnalyzeResult['scores'];
}

/** A dictionary inside a model folder, for the Select Dictionary quick pick. */
export interface DictionaryChoice {
  /** The folder's name inside the model folder (the `circuitInspector.dictionary` setting's value). */
  name: string;
  dir: string;
  kind: string;
  layers: number[];
  nFeatures: number;
  /** The graph it gives; absent when it gives none (an SAE over several layers). */
  graph?: 'transcoder graph' | 'SAE graph';
}

export interface EngineMethods {
  /** Loads (or switches to) a model folder and its transcoders. */
  loadModel(args: LoadModelArgs): ModelInfo;
  /** Checks that a folder holds a loadable model without switching to it. */
  validateModel(args: { modelPath: string }): { name: string; nLayers: number };
  /** Tokens, per-position top features and predictions (cached per text in the worker). */
  forward(args: ForwardArgs): ForwardResult;
  /** Logit-lens top predictions at one position, from the residual stream after each layer. */
  logitLens(args: { text: string; position: number; k: number }): LensRow[];
  /** The activation of one feature at every token of the text (for decorations). */
  featureActivations(args: { text: string } & FeatureRef): number[];
  /** Label, top activating examples and top logits of a feature. */
  featureCard(args: FeatureRef): FeatureCard;
  /** The attribution graph of the text. */
  analyze(args: AnalyzeArgs): AnalyzeResult;
  /** The last analysis pruned again at new thresholds, from its kept raw attribution (no recomputation). */
  prune(args: PruneArgs): PruneResult;
  /** The dictionaries inside a model folder (each loaded to read its kind, then released). */
  listDictionaries(args: { modelPath: string }): DictionaryChoice[];
  /** The decomposition report of every dictionary in the loaded model's folder, on one prompt. */
  decompositions(args: { text: string; maxAblations?: number }): DecompositionReport;
  /** Streams a corpus (text / JSONL files) through forward + encode into the dictionary's feature store. */
  buildDashboards(args: { corpus: string[]; resume?: boolean; maxTokens?: number }): DashboardsBuilt;
  /** Features of the whole dictionary whose label, description or top tokens match (needs dashboards). */
  searchFeatures(args: { query: string; limit?: number }): FeatureSearchHit[];
  /** Steer / ablate features and report the changed top predictions at the last position. */
  intervene(args: { text: string; interventions: InterventionSpec[]; k: number; semantics?: Partial<InterventionSemanticsView>; track?: number[]; trackTokens?: string[]; generate?: number }): InterventionOutcome;
  /** The graph's predicted effect of ablating each group next to the measured one (real model unless told). */
  verify(args: { text: string; groups: FeatureAt[][]; semantics?: InterventionSemanticsView; keep?: FeatureAt[] }): VerifyView;
  /** The words of a model folder's tokenizer, when it is word-level (tokenizer.json only: no model load). */
  vocabulary(args: { modelPath: string }): PromptVocabulary;
  /**
   * QK attribution of a node of the text's graph (from the kept attribution when it is the last
   * analysis' text, else from a new one): a head's score split into query × key source pairs.
   */
  qk(args: QkArgs): QkView;
  /** Runs the circuit tests (expect lines) of a prompt document; one result per block that has tests. */
  circuitTests(args: { doc: string; dialect: PromptDialect }): BlockResult[];
  /**
   * Before the host terminates the thread: cancels every running call, waits until each has settled (no
   * onnxruntime run still in flight) and releases the sessions. Terminating a thread while a native run
   * completes aborts the whole process (onnxruntime-node throws from its completion callback).
   */
  shutdown(args: Record<string, never>): void;
}

export type Method = keyof EngineMethods;
export type ArgsOf<M extends Method> = Parameters<EngineMethods[M]>[0];
export type ResultOf<M extends Method> = ReturnType<EngineMethods[M]>;

export interface Progress {
  /** A short stage name shown in the notification ("Loading model", "Forward pass", "Attribution"). */
  stage: string;
  /** Fraction 0..1 of the whole call, when known. */
  fraction?: number;
}

/** An error as it crosses the thread boundary: EngineErrors keep their code and hint. */
export interface SerializedError {
  name: string;
  code: string;
  message: string;
  hint?: string;
  /** For the log only, never shown in a notification. */
  stack?: string;
}

export type HostToWorker =
  | { kind: 'call'; id: number; method: Method; args: unknown }
  | { kind: 'cancel'; id: number };

export type WorkerToHost =
  | { kind: 'result'; id: number; result: unknown }
  | { kind: 'error'; id: number; error: SerializedError }
  | { kind: 'progress'; id: number; progress: Progress };

/** What a worker-side implementation of a method receives besides its arguments. */
export interface CallContext {
  signal: AbortSignal;
  progress(p: Progress): void;
}

export type Handlers = {
  [M in Method]: (args: ArgsOf<M>, ctx: CallContext) => Promise<ResultOf<M>> | ResultOf<M>;
};
