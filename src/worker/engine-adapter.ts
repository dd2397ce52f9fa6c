/**
 * The real engine behind the worker's LoadedEngine interface: a model bundle, its transcoder set
 * (dictionary), the attribution engine's sessions (forward, encode, backward), and the readouts the
 * editor needs. The only worker file that knows the engine's module layout.
 */
import type { LabelScore } from '../shared/label-text';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ActivationCache, ModelBundle, TokenInfo } from '../engine/api';
import { attribute } from '../engine/attribution/attribute';
import { attributionEngine, type AttributionEngine } from '../engine/attribution/engine';
import { checkClaim } from '../engine/features/label-claims';
import { generalView, rankEffects } from '../engine/features/logit-views';
import { encodeFeatures } from '../engine/attribution/features';
import { freezeForward } from '../engine/attribution/frozen';
import { interveneWith } from '../engine/attribution/intervene';
import { encodePrompt, loadModelBundle } from '../engine/bundle/index';
import { loadDictionary, type Dictionary } from '../engine/dictionaries/index';
import { EngineError, throwIfCancelled } from '../engine/errors';
import { ForwardRunner, logitLens } from '../engine/forward';
import { toGraphFile } from '../engine/graph-file';
import { onRuntimeMessage } from '../engine/runtime';
import type { FeatureCard, FeatureRef, GraphFile, InterventionOutcome, InterventionSpec } from '../shared/protocol';
import type { EngineRun, InterveneExtras, LoadedEngine, SparseLayer } from './engine-service';
import { spacedTokens, wordJoiner } from './example-text';
import type { AnalyzeArgs, AnalyzeResult, CallContext, LensRow, LoadModelArgs, ModelInfo } from '../shared/rpc';

/** Layers shown by the logit lens: all of them for small models, an even sample for large vocabularies. */
export function lensLayers(nLayers: number, vocab: number, dModel: number, budget = 4e8): number[] {
  const per = vocab * dModel;
  const n = Math.max(2, Math.min(nLayers, Math.floor(budget / Math.max(1, per))));
  if (n >= nLayers) return Array.from({ length: nLayers }, (_, i) => i);
  const out = new Set<number>();
  for (let i = 0; i < n; i++) out.add(Math.round((i * (nLayers - 1)) / (n - 1)));
  return [...out];
}

/** Sparse per-layer activations from the attribution engine's encoder output. */
function toSparse(feats: { layer: Int32Array; pos: Int32Array; index: Int32Array; act: Float32Array }, nLayers: number, T: number): SparseLayer[] {
  const buckets = Array.from({ length: nLayers }, () => Array.from({ length: T }, () => ({ i: [] as number[], v: [] as number[] })));
  for (let k = 0; k < feats.act.length; k++) {
    const b = buckets[feats.layer[k]]?.[feats.pos[k]];
    if (!b) continue;
    b.i.push(feats.index[k]);
    b.v.push(feats.act[k]);
  }
  return buckets.map((layer) => ({ indices: layer.map((b) => Int32Array.from(b.i)), values: layer.map((b) => Float32Array.from(b.v)) }));
}

type Run = EngineRun & { cache: ActivationCache };

class RealEngine implements LoadedEngine {
  private readonly runner: ForwardRunner;
  /** What the tokenizer's decoding puts between whole-word tokens (see example-text.ts), asked once. */
  private joiner: string | undefined;

  constructor(
    readonly info: ModelInfo,
    private readonly bundle: ModelBundle,
    private readonly dict: Dictionary | undefined,
    private readonly attr: AttributionEngine | undefined,
    runner: ForwardRunner | undefined,
    private readonly runtime: { provider: LoadModelArgs['provider']; threads?: number; precision?: LoadModelArgs['precision']; cacheDir?: string },
  ) {
    this.runner = attr?.forward ?? runner!;
  }

  tokenize(text: string): TokenInfo[] {
    return encodePrompt(this.bundle, text);
  }

  tokenText(id: number): string {
    return this.bundle.tokenizer.tokenText(id);
  }

  private requireDict(what: string): { dict: Dictionary; attr: AttributionEngine } {
    if (!this.dict || !this.attr) {
      throw new EngineError('DICTIONARY_INVALID', `${what} needs a transcoder set, and none is loaded for ${this.info.name}.`, 'Set circuitInspector.transcoderPath to a transcoder folder.');
    }
    return { dict: this.dict, attr: this.attr };
  }

  async run(tokens: TokenInfo[], signal?: AbortSignal): Promise<Run> {
    const L = this.bundle.spec.nLayers;
    const cache = await this.runner.runTokens(tokens, { signal });
    throwIfCancelled(signal);
    let features: SparseLayer[] = Array.from({ length: L }, () => ({ indices: tokens.map(() => new Int32Array()), values: tokens.map(() => new Float32Array()) }));
    if (this.attr) {
      const frozen = freezeForward(this.bundle.spec, cache, this.attr.replacement.inputHook);
      const zeroBos = tokens[0]?.special || tokens[0]?.id === this.bundle.spec.bosTokenId;
      const feats = await encodeFeatures(this.attr.encode as never, frozen, L, this.bundle.spec.dModel, zeroBos);
      features = toSparse(feats, L, tokens.length);
    }
    return { tokens, logits: cache.logits, features, cache };
  }

  /** circuit-tracer's feature intervention, layer by layer, under the one default semantics unless asked. */
  async intervene(run: EngineRun, interventions: InterventionSpec[], k: number, signal?: AbortSignal, opts: InterveneExtras = {}): Promise<InterventionOutcome> {
    const { attr } = this.requireDict('Steering');
    const r = await interveneWith(attr, run.tokens.map((t) => t.id), interventions, { topK: k, runtime: this.runtime, ...opts.semantics, track: opts.track }, { signal });
    const view = (p: { token: string; prob: number; logit: number }) => ({ token: p.token, prob: p.prob, logit: p.logit });
    return { semantics: r.semantics, before: r.before.map(view), after: r.after.map(view), tracked: r.tracked };
  }

  lens(run: EngineRun, position: number, k: number): LensRow[] {
    const cache = (run as Run).cache;
    const spec = this.bundle.spec;
    return lensLayers(spec.nLayers, spec.vocabSize, spec.dModel).map((layer) => ({
      layer,
      predictions: logitLens(this.bundle, cache, layer, position, k).map((p) => ({ token: p.token, prob: p.prob, logit: p.logit })),
    }));
  }

  async attribute(text: string, args: AnalyzeArgs, ctx: CallContext): Promise<{ graph: GraphFile; scores?: AnalyzeResult['scores'] }> {
    const { dict } = this.requireDict('An attribution graph');
    const weights: Record<string, [number, number]> = { tokenize: [0.1, 0.02], forward: [0.12, 0.08], encode: [0.2, 0.05], attribute: [0.25, 0.65], prune: [0.9, 0.1] };
    const names: Record<string, string> = { tokenize: 'Tokenizing', forward: 'Forward pass', encode: 'Transcoder features', attribute: 'Attribution', prune: 'Pruning' };
    const graph = await attribute(
      this.bundle,
      dict,
      text,
      {
        nodeThreshold: args.nodeThreshold,
        edgeThreshold: args.edgeThreshold,
        maxFeatureNodes: args.maxFeatureNodes,
        batchSize: args.batchSize,
        runtime: this.runtime,
      },
      {
        signal: ctx.signal,
        onProgress: (stage, f) => {
          const [a, w] = weights[stage] ?? [0, 0];
          ctx.progress({ stage: names[stage] ?? stage, fraction: a + w * f });
        },
      },
    );
    const file = toGraphFile(graph, { slug: args.slug });
    return { graph: file, scores: graph.scores };
  }

  /** Labels are extras: an unreadable label file must not fail a forward pass or an analysis. */
  private featureInfo(ref: FeatureRef) {
    try {
      return this.dict?.featureInfo(ref.layer, ref.feature);
    } catch {
      return undefined;
    }
  }

  card(ref: FeatureRef): FeatureCard {
    const info = this.featureInfo(ref);
    const card: FeatureCard = {
      ...ref,
      label: info?.label || `L${ref.layer} #${ref.feature}`,
      examples: (info?.examples ?? []).slice(0, 5).map((e) => ({ tokens: spacedTokens(e.tokens, (this.joiner ??= wordJoiner(this.bundle.tokenizer))), values: e.values })),
      topLogits: [],
      bottomLogits: [],
    };
    const evidence = this.labelEvidence(ref);
    if (evidence) card.evidence = evidence;
    if (this.dict) {
      // Computed from the weights (never the label file's uncorrected lists), ranked after correcting
      // for tokens that dominate every feature's list.
      const general = generalView(this.bundle.spec, this.dict, ref.layer, ref.feature);
      const pick = (sign: 1 | -1) => rankEffects(this.bundle, general, 8, 'z', sign).map((e) => ({ token: e.token, value: e.value, z: e.z }));
      card.topLogits = pick(1);
      card.bottomLogits = pick(-1);
      card.logitsNote = `Direct effect in general (decoder · final-norm gain · unembedding, demeaned); ranked by ${general.correction}.`;
      const claim = info?.label ? checkClaim(this.bundle, info.label, general) : undefined;
      if (claim) card.claim = { supported: claim.supported, message: claim.message };
    }
    return card;
  }

  label(ref: FeatureRef): string {
    return this.featureInfo(ref)?.label || '';
  }

  labelEvidence(ref: FeatureRef): LabelScore | undefined {
    const e = this.featureInfo(ref)?.evidence;
    return e && { f1: e.f1, precision: e.precision, recall: e.recall, against: e.against ?? (e.latent ? `the latent ${e.latent}` : undefined) };
  }

  dispose(): void {
    void this.runner.dispose();
    this.dict?.release();
  }
}

/** The transcoder folder: the setting, else the model folder's `transcoders/` when it exists. */
function transcoderDir(args: LoadModelArgs, modelDir: string): string | undefined {
  if (args.transcoderPath) return args.transcoderPath;
  const inside = join(modelDir, 'transcoders');
  return existsSync(inside) ? inside : undefined;
}

export async function loadEngine(args: LoadModelArgs, ctx: CallContext): Promise<LoadedEngine> {
  ctx.progress({ stage: 'Reading the model', fraction: 0.02 });
  const bundle = await loadModelBundle(args.modelPath);
  throwIfCancelled(ctx.signal);
  const spec = bundle.spec;
  const tcDir = transcoderDir(args, bundle.dir);
  const dict = tcDir ? await loadDictionary(tcDir, { dModel: spec.dModel, nLayers: spec.nLayers, name: spec.name }) : undefined;
  throwIfCancelled(ctx.signal);
  ctx.progress({ stage: 'Preparing the model graphs', fraction: 0.06 });
  const runtime = { provider: args.provider, threads: args.threads, precision: args.precision, cacheDir: args.cacheDir };
  const notes: string[] = [];
  const off = onRuntimeMessage((m) => notes.push(m));
  let attr: AttributionEngine | undefined;
  let runner: ForwardRunner | undefined;
  try {
    if (dict) attr = await attributionEngine(bundle, dict, runtime);
    else runner = await ForwardRunner.create(bundle, runtime);
  } finally {
    off();
  }
  throwIfCancelled(ctx.signal);
  const info: ModelInfo = {
    name: spec.name,
    dir: bundle.dir,
    nLayers: spec.nLayers,
    dModel: spec.dModel,
    vocabSize: spec.vocabSize,
    maxPositions: spec.maxPositions,
    provider: (attr?.forward ?? runner!).provider,
    providerNote: notes.length ? notes.join(' ') : undefined,
    transcoders: dict ? { dir: dict.path, kind: dict.kind, nFeatures: dict.layers.reduce((s, l) => s + dict.nFeatures(l), 0) } : undefined,
  };
  return new RealEngine(info, bundle, dict, attr, runner, runtime);
}

export async function validateModelDir(modelPath: string, ctx: CallContext): Promise<{ name: string; nLayers: number }> {
  ctx.progress({ stage: 'Reading the model' });
  const bundle = await loadModelBundle(modelPath);
  const tc = join(bundle.dir, 'transcoders');
  // A transcoder set inside the folder must fit the model too, or analysis would fail later.
  if (existsSync(tc)) await loadDictionary(tc, { dModel: bundle.spec.dModel, nLayers: bundle.spec.nLayers, name: bundle.spec.name });
  return { name: bundle.spec.name, nLayers: bundle.spec.nLayers };
}
