/**
 * What the worker does for each RPC method, on top of a loaded engine. The engine itself (model,
 * transcoders, attribution) sits behind the small `LoadedEngine` interface so this logic — caching runs
 * per prompt, picking the top features per token, predictions, interventions before/after — is tested
 * with a tiny in-memory engine, and the real one (engine-adapter.ts) only translates calls.
 */
import type { BlockResult } from '../shared/circuit-tests';
import type { PromptDialect } from '../shared/prompt-blocks';
import type { LabelScore } from '../shared/label-text';
import type { HookTensor, TokenInfo } from '../engine/api';
import type { DecompositionReport } from '../engine/decompositions/report';
import { EngineError, throwIfCancelled } from '../engine/errors';
import type { FeatureCard, FeatureRef, GraphFile, InterventionOutcome, InterventionSemanticsView, InterventionSpec, FeatureAt, VerifyView, PredictionView, QkView } from '../shared/protocol';
import type {
  ActiveFeature,
  AnalyzeArgs,
  AnalyzeResult,
  CallContext,
  DashboardsBuilt,
  FeatureSearchHit,
  ForwardArgs,
  ForwardResult,
  LensRow,
  LoadModelArgs,
  ModelInfo,
  PruneArgs,
  PruneResult,
  QkArgs,
} from '../shared/rpc';

/** Active transcoder features of one layer: for each position, parallel arrays of indices and values. */
export interface SparseLayer {
  indices: Int32Array[];
  values: Float32Array[];
}

export interface EngineRun {
  tokens: TokenInfo[];
  /** [T, vocab] */
  logits: HookTensor;
  /** One entry per layer with a transcoder. */
  features: SparseLayer[];
}

/** Optional parts of an intervention request: the semantics (default: the engine's one default) and tracked token ids. */
export interface InterveneExtras {
  semantics?: Partial<InterventionSemanticsView>;
  track?: number[];
  /** Token texts to track, resolved by the tokenizer (one token each). */
  trackTokens?: string[];
  generate?: number;
}

export interface LoadedEngine {
  readonly info: ModelInfo;
  tokenize(text: string): TokenInfo[];
  run(tokens: TokenInfo[], signal?: AbortSignal): Promise<EngineRun>;
  /** Steers / ablates features on the run's tokens; top-k predictions at the last position before and after. */
  intervene(run: EngineRun, interventions: InterventionSpec[], k: number, signal?: AbortSignal, opts?: InterveneExtras): Promise<InterventionOutcome>;
  /** Logit lens at one position of a run: residual after each layer → final norm → unembedding. */
  lens(run: EngineRun, position: number, k: number): LensRow[];
  tokenText(id: number): string;
  /** The attribution graph of a run made before (no second forward pass); its raw attribution is kept. */
  attribute(run: EngineRun, text: string, args: AnalyzeArgs, ctx: CallContext): Promise<{ graph: GraphFile; scores?: AnalyzeResult['scores'] }>;
  /** The last analysis' graph pruned again at new thresholds, from its kept raw attribution. */
  prune(args: PruneArgs): { graph: GraphFile; scores?: AnalyzeResult['scores'] };
  card(ref: FeatureRef): FeatureCard;
  label(ref: FeatureRef): string;
  /** The label's score, when the dictionary's label files carry one. */
  labelEvidence?(ref: FeatureRef): LabelScore | undefined;
  /** Predicted vs measured ablation effects (engines without transcoders cannot). */
  verify?(text: string, groups: FeatureAt[][], opts: { semantics?: InterventionSemanticsView; keep?: FeatureAt[] }, ctx: CallContext): Promise<VerifyView>;
  /** QK attribution of a node of the text's graph (engines without transcoders cannot). */
  qk?(args: QkArgs, signal?: AbortSignal): Promise<QkView>;
  /** Runs a document's circuit tests (engines without transcoders cannot). */
  circuitTests?(doc: string, dialect: PromptDialect, signal?: AbortSignal): Promise<BlockResult[]>;
  /** The decomposition report of the model folder's dictionaries on one prompt (engines without a model folder cannot). */
  decompositions?(text: string, ctx: CallContext, maxAblations?: number): Promise<DecompositionReport>;
  buildDashboards?(args: { corpus: string[]; resume?: boolean; maxTokens?: number }, ctx: CallContext): Promise<DashboardsBuilt>;
  searchFeatures?(args: { query: string; limit?: number }): FeatureSearchHit[];
  dispose(): void | Promise<void>;
}

export type EngineLoader = (args: LoadModelArgs, ctx: CallContext) => Promise<LoadedEngine>;
/** Checks a model folder without building sessions (Select Model Folder validates before switching). */
export type ModelValidator = (modelPath: string, ctx: CallContext) => Promise<{ name: string; nLayers: number }>;

/** Indices of the k largest values of a row, largest first. */
export function topKIndices(row: ArrayLike<number>, k: number): number[] {
  k = Math.max(0, Math.min(k, row.length));
  const out: number[] = [];
  if (k === 0) return out;
  for (let i = 0; i < row.length; i++) {
    const v = row[i];
    if (out.length === k && !(v > row[out[k - 1]])) continue;
    // Insertion into a short sorted list: k is small (≤ 20), the vocabulary is large.
    let j = out.length;
    while (j > 0 && row[out[j - 1]] < v) j--;
    out.splice(j, 0, i);
    if (out.length > k) out.pop();
  }
  return out;
}

/** Top-k softmax predictions of one logits row. */
export function predictionsFromLogits(row: Float32Array, k: number, tokenText: (id: number) => string): PredictionView[] {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) if (row[i] > max) max = row[i];
  let sum = 0;
  for (let i = 0; i < row.length; i++) sum += Math.exp(row[i] - max);
  return topKIndices(row, k).map((id) => ({ token: tokenText(id), prob: Math.exp(row[id] - max) / sum, logit: row[id] }));
}

function logitsRow(run: EngineRun, t: number): Float32Array {
  const v = run.logits.shape[run.logits.shape.length - 1];
  return run.logits.data.subarray(t * v, (t + 1) * v);
}

const RUN_CACHE = 4;

export class EngineService {
  private engine?: LoadedEngine;
  /** Recent runs by prompt text: hovers, decorations and interventions reuse the analysis' forward pass. */
  private readonly runs = new Map<string, EngineRun>();

  constructor(
    private readonly loader: EngineLoader,
    private readonly validator?: ModelValidator,
  ) {}

  private require(): LoadedEngine {
    if (!this.engine) throw new EngineError('MODEL_NOT_FOUND', 'No model is loaded.', 'Run "Circuit Inspector: Select Model Folder".');
    return this.engine;
  }

  async loadModel(args: LoadModelArgs, ctx: CallContext): Promise<ModelInfo> {
    ctx.progress({ stage: 'Loading model' });
    const next = await this.loader(args, ctx);
    throwIfCancelled(ctx.signal);
    this.engine?.dispose();
    this.engine = next;
    this.runs.clear();
    return next.info;
  }

  async validateModel(args: { modelPath: string }, ctx: CallContext): Promise<{ name: string; nLayers: number }> {
    if (this.validator) return this.validator(args.modelPath, ctx);
    const e = await this.loader({ modelPath: args.modelPath, provider: 'cpu' }, ctx);
    const r = { name: e.info.name, nLayers: e.info.nLayers };
    e.dispose();
    return r;
  }

  get loaded(): ModelInfo | undefined {
    return this.engine?.info;
  }

  private async runFor(text: string, signal: AbortSignal): Promise<EngineRun> {
    const cached = this.runs.get(text);
    if (cached) {
      // Most recently used last, so the oldest is evicted first.
      this.runs.delete(text);
      this.runs.set(text, cached);
      return cached;
    }
    const e = this.require();
    if (!text.trim()) throw new EngineError('PROMPT_EMPTY', 'The prompt is empty.', 'Select some text or put the cursor in a prompt block.');
    const tokens = e.tokenize(text);
    if (tokens.length > e.info.maxPositions) {
      throw new EngineError(
        'PROMPT_TOO_LONG',
        `The prompt has ${tokens.length} tokens; ${e.info.name} accepts at most ${e.info.maxPositions}.`,
        'Select a shorter part of the text.',
      );
    }
    const run = await e.run(tokens, signal);
    this.runs.set(text, run);
    while (this.runs.size > RUN_CACHE) this.runs.delete(this.runs.keys().next().value as string);
    return run;
  }

  private summarize(run: EngineRun, topFeatures: number, topPredictions: number): ForwardResult {
    const e = this.require();
    const features: ActiveFeature[][] = run.tokens.map((_, t) => {
      const all: ActiveFeature[] = [];
      run.features.forEach((layer, l) => {
        const idx = layer.indices[t];
        const val = layer.values[t];
        for (let i = 0; i < idx.length; i++) {
          if (val[i] > 0) all.push({ layer: l, feature: idx[i], activation: val[i], label: '' });
        }
      });
      all.sort((a, b) => b.activation - a.activation);
      const top = all.slice(0, topFeatures);
      for (const f of top) {
        f.label = e.label(f);
        const ev = e.labelEvidence?.(f);
        if (ev) f.evidence = ev;
      }
      return top;
    });
    const predictions = run.tokens.map((_, t) => predictionsFromLogits(logitsRow(run, t), topPredictions, (id) => e.tokenText(id)));
    return { tokens: run.tokens, features, predictions };
  }

  async forward(args: ForwardArgs, ctx: CallContext): Promise<ForwardResult> {
    ctx.progress({ stage: 'Forward pass' });
    const run = await this.runFor(args.text, ctx.signal);
    return this.summarize(run, args.topFeatures ?? 8, args.topPredictions ?? 5);
  }

  async logitLens(args: { text: string; position: number; k: number }, ctx: CallContext): Promise<LensRow[]> {
    const run = await this.runFor(args.text, ctx.signal);
    if (args.position < 0 || args.position >= run.tokens.length) return [];
    return this.require().lens(run, args.position, args.k);
  }

  async featureActivations(args: { text: string } & FeatureRef, ctx: CallContext): Promise<number[]> {
    const run = await this.runFor(args.text, ctx.signal);
    const layer = run.features[args.layer];
    if (!layer) return run.tokens.map(() => 0);
    return run.tokens.map((_, t) => {
      const idx = layer.indices[t];
      for (let i = 0; i < idx.length; i++) if (idx[i] === args.feature) return layer.values[t][i];
      return 0;
    });
  }

  featureCard(args: FeatureRef): FeatureCard {
    return this.require().card(args);
  }

  async analyze(args: AnalyzeArgs, ctx: CallContext): Promise<AnalyzeResult> {
    const e = this.require();
    ctx.progress({ stage: 'Forward pass', fraction: 0.05 });
    const run = await this.runFor(args.text, ctx.signal);
    const anyActive = run.features.some((l) => l.values.some((v, t) => t > 0 && v.some((x) => x > 0)));
    // Without a transcoder set, attribution itself says so (the clearer error).
    if (e.info.transcoders && !anyActive) {
      throw new EngineError('NO_ACTIVE_FEATURES', 'No transcoder feature is active on this prompt.', 'Try a longer prompt, or check the transcoder folder setting.');
    }
    const forward = this.summarize(run, 8, 5);
    throwIfCancelled(ctx.signal);
    const { graph, scores } = await e.attribute(run, args.text, args, ctx);
    return { graph, forward, scores };
  }

  prune(args: PruneArgs): PruneResult {
    return this.require().prune(args);
  }

  async decompositions(args: { text: string; maxAblations?: number }, ctx: CallContext): Promise<DecompositionReport> {
    const e = this.require();
    if (!args.text.trim()) throw new EngineError('PROMPT_EMPTY', 'The prompt is empty.', 'Put the cursor in a prompt block.');
    if (!e.decompositions) throw new EngineError('DICTIONARY_INVALID', 'This engine cannot compare decompositions.');
    return e.decompositions(args.text, ctx, args.maxAblations);
  }

  async buildDashboards(args: { corpus: string[]; resume?: boolean; maxTokens?: number }, ctx: CallContext): Promise<DashboardsBuilt> {
    const e = this.require();
    if (!e.buildDashboards) throw new EngineError('DICTIONARY_INVALID', 'Feature dashboards need a transcoder set.', 'Set circuitInspector.transcoderPath to a transcoder folder.');
    return e.buildDashboards(args, ctx);
  }

  searchFeatures(args: { query: string; limit?: number }): FeatureSearchHit[] {
    return this.require().searchFeatures?.(args) ?? [];
  }

  async intervene(args: { text: string; interventions: InterventionSpec[]; k: number } & InterveneExtras, ctx: CallContext): Promise<InterventionOutcome> {
    const e = this.require();
    const base = await this.runFor(args.text, ctx.signal);
    return e.intervene(base, args.interventions, args.k, ctx.signal, { semantics: args.semantics, track: args.track, trackTokens: args.trackTokens, generate: args.generate });
  }

  async verify(args: { text: string; groups: FeatureAt[][]; semantics?: InterventionSemanticsView; keep?: FeatureAt[] }, ctx: CallContext): Promise<VerifyView> {
    const e = this.require();
    if (!e.verify) throw new EngineError('DICTIONARY_INVALID', 'Verifying a graph needs a transcoder set.', 'Set circuitInspector.transcoderPath to a transcoder folder.');
    return e.verify(args.text, args.groups, { semantics: args.semantics, keep: args.keep }, ctx);
  }

  async qk(args: QkArgs, ctx: CallContext): Promise<QkView> {
    const e = this.require();
    if (!e.qk) throw new EngineError('DICTIONARY_INVALID', 'QK attribution needs a transcoder set.', 'Set circuitInspector.transcoderPath to a transcoder folder.');
    return e.qk(args, ctx.signal);
  }

  async circuitTests(args: { doc: string; dialect: PromptDialect }, ctx: CallContext): Promise<BlockResult[]> {
    const e = this.require();
    if (!e.circuitTests) throw new EngineError('DICTIONARY_INVALID', 'Circuit tests need a transcoder set.', 'Set circuitInspector.transcoderPath to a transcoder folder.');
    return e.circuitTests(args.doc, args.dialect, ctx.signal);
  }

  /** Releases the loaded engine's sessions (resolved once they are released). */
  async dispose(): Promise<void> {
    const e = this.engine;
    this.engine = undefined;
    this.runs.clear();
    await e?.dispose();
  }
}
