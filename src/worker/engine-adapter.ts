/**
 * The real engine behind the worker's LoadedEngine interface: a model bundle, its transcoder set
 * (dictionary), the attribution engine's sessions (forward, encode, backward), and the readouts the
 * editor needs. The only worker file that knows the engine's module layout.
 */
import { runDocument } from '../engine/circuit-tests/runner';
import { computeAttribution } from '../engine/attribution/attribute';
import { resolveToken } from '../engine/attribution/intervene';
import { REAL_SEMANTICS } from '../engine/attribution/semantics';
import { subgraphFaithfulness, verifyGroups } from '../engine/attribution/verify';
import type { BlockResult } from '../shared/circuit-tests';
import type { PromptDialect } from '../shared/prompt-blocks';
import type { LabelScore } from '../shared/label-text';
import type { ActivationCache, TokenInfo } from '../engine/api';
import type { RawAttribution } from '../engine/attribution/attribute';
import { checkClaim } from '../engine/features/label-claims';
import { generalView, rankEffects } from '../engine/features/logit-views';
import { loadModelBundle } from '../engine/bundle/index';
import { loadDictionary } from '../engine/dictionaries/index';
import { EngineError, throwIfCancelled } from '../engine/errors';
import { logitLens } from '../engine/forward';
import { toGraphFile } from '../engine/graph-file';
import { onRuntimeMessage } from '../engine/runtime';
import { defaultDictionaryDir, graphKindOf, modelDictionaryFolders, ModelSession, type SessionRun } from '../engine/session';
import { releaseAttributionEngine } from '../engine/attribution/engine';
import { releaseSaeEngine } from '../engine/attribution/sae-graph';
import { decompositionReport, type DecompositionReport } from '../engine/decompositions/report';
import type { FeatureCard, FeatureRef, GraphFile, InterventionOutcome, InterventionSpec, FeatureAt, InterventionSemanticsView, QkView, VerifyView } from '../shared/protocol';
import type { EngineRun, InterveneExtras, LoadedEngine, SparseLayer } from './engine-service';
import { spacedTokens, wordJoiner } from './example-text';
import type { AnalyzeArgs, AnalyzeResult, CallContext, DashboardsBuilt, DictionaryChoice, FeatureSearchHit, LensRow, LoadModelArgs, ModelInfo, PruneArgs, PruneResult, QkArgs } from '../shared/rpc';
import { nodeRefOfId } from '../engine/attention/node-qk';
import { qkView } from '../engine/attention/qk-view';
import type { Dictionary } from '../engine/dictionaries/types';
import { buildDashboards, readCorpus } from '../engine/features/dashboards';
import { FeatureStore, STORE_FILE } from '../engine/features/store';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';

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

/** A worker-side run: the forward pass's hooks (logit lens), and the session's run when a dictionary is open. */
type Run = EngineRun & { cache: ActivationCache; session?: SessionRun };

class RealEngine implements LoadedEngine {
  /** What the tokenizer's decoding puts between whole-word tokens (see example-text.ts), asked once. */
  private joiner: string | undefined;

  constructor(
    readonly info: ModelInfo,
    private readonly session: ModelSession,
    /** The dictionary's feature dashboards, when built (or shipped beside it). */
    private store: FeatureStore | undefined,
    private readonly dashboardsDir: string | undefined,
  ) {}

  async buildDashboards(args: { corpus: string[]; resume?: boolean; maxTokens?: number }, ctx: CallContext): Promise<DashboardsBuilt> {
    const dict = this.session.requireDictionary('Feature dashboards');
    const attr = await this.session.engineFor(dict);
    const docs = readCorpus(args.corpus);
    const out = builtStorePath(this.dashboardsDir, dict) ?? join(dict.path, STORE_FILE);
    mkdirSync(dirname(out), { recursive: true });
    const r = await buildDashboards(attr, dict, docs, out, {
      resume: args.resume,
      maxTokens: args.maxTokens,
      corpusName: args.corpus.join(', '),
      signal: ctx.signal,
      onProgress: (p) => ctx.progress({ stage: `${p.documents}/${p.totalDocuments} documents, ${p.tokens} tokens (${p.tokensPerSecond.toFixed(0)}/s)`, fraction: p.documents / p.totalDocuments }),
    });
    this.store?.close();
    this.store = await FeatureStore.open(out);
    return r;
  }

  /**
   * The decomposition report (engine/decompositions) of every dictionary in the model's folder — and the
   * loaded one, wherever it is — on one prompt: the same measurements as `circuit-inspector
   * decompositions`. Dictionaries opened here are released afterwards, with the sessions built for them.
   */
  async decompositions(text: string, ctx: CallContext, maxAblations?: number): Promise<DecompositionReport> {
    const bundle = this.bundle;
    const primary = this.dict;
    const dicts: Dictionary[] = primary ? [primary] : [];
    const opened: Dictionary[] = [];
    try {
      for (const dir of modelDictionaryFolders(bundle.dir)) {
        if (primary && resolve(primary.path) === resolve(dir)) continue;
        const d = await loadDictionary(dir, { dModel: bundle.spec.dModel, nLayers: bundle.spec.nLayers, name: bundle.spec.name });
        opened.push(d);
        dicts.push(d);
        throwIfCancelled(ctx.signal);
      }
      if (!dicts.length) throw new EngineError('DICTIONARY_INVALID', `${bundle.dir} has no dictionaries to compare.`, 'Put transcoders, a CLT or SAEs in the model folder.');
      // The report's order: by name, as the CLI lists a model folder.
      dicts.sort((a, b) => a.name.localeCompare(b.name));
      const runner = await this.session.forwardRunner();
      return await decompositionReport(runner, bundle, dicts, [text], {
        runtime: this.session.runtime,
        maxAblations,
        signal: ctx.signal,
        onProgress: (message, fraction) => ctx.progress({ stage: message, fraction }),
      });
    } finally {
      for (const d of opened) {
        await releaseAttributionEngine(bundle, d, this.session.runtime);
        await releaseSaeEngine(bundle, d);
        d.release();
      }
    }
  }

  searchFeatures(args: { query: string; limit?: number }): FeatureSearchHit[] {
    if (!this.store) throw new EngineError('DICTIONARY_INVALID', 'Searching every feature needs the feature dashboards of this dictionary.', 'Run "Circuit Inspector: Build Feature Dashboards" first.');
    return this.store.search(args.query, args.limit ?? 50).map((h) => ({ layer: h.layer, feature: h.index, label: h.label, labelSource: h.labelSource, f1: h.f1, density: h.density }));
  }

  private get bundle() {
    return this.session.bundle;
  }

  private get dict() {
    return this.session.dictionary;
  }

  tokenize(text: string): TokenInfo[] {
    return this.session.tokenize(text);
  }

  tokenText(id: number): string {
    return this.bundle.tokenizer.tokenText(id);
  }

  /** The one forward pass per prompt: hovers, decorations, the lens and attribution all read this run. */
  async run(tokens: TokenInfo[], signal?: AbortSignal): Promise<Run> {
    const L = this.bundle.spec.nLayers;
    if (this.dict) {
      const run = await this.session.run(tokens, { signal });
      return { tokens, logits: run.cache.logits, features: toSparse(run.features, L, tokens.length), cache: run.cache, session: run };
    }
    const cache = await (await this.session.forwardRunner()).runTokens(tokens, { signal });
    throwIfCancelled(signal);
    const none = Array.from({ length: L }, () => ({ indices: tokens.map(() => new Int32Array()), values: tokens.map(() => new Float32Array()) }));
    return { tokens, logits: cache.logits, features: none, cache };
  }

  /** circuit-tracer's feature intervention, layer by layer, under the one default semantics unless asked. */
  async intervene(run: EngineRun, interventions: InterventionSpec[], k: number, signal?: AbortSignal, opts: InterveneExtras = {}): Promise<InterventionOutcome> {
    const track = [...(opts.track ?? []), ...(opts.trackTokens ?? []).map((t) => resolveToken(this.bundle, t))];
    const r = await this.session.intervene(run.tokens.map((t) => t.id), interventions, { topK: k, ...opts.semantics, track, generate: opts.generate }, { signal });
    const view = (p: { token: string; prob: number; logit: number }) => ({ token: p.token, prob: p.prob, logit: p.logit });
    const out: InterventionOutcome = { semantics: r.semantics, before: r.before.map(view), after: r.after.map(view), tracked: r.tracked };
    if (r.generated) out.generated = { baseline: r.generated.baselineText, intervened: r.generated.intervenedText };
    return out;
  }

  /**
   * The graph's linear prediction of each ablation next to the measured effect (the real model unless
   * told), and the faithfulness of keeping only `keep` when given. Progress: the attribution, then one
   * step per group, then the four subgraph runs.
   */
  async verify(text: string, groups: FeatureAt[][], opts: { semantics?: InterventionSemanticsView; keep?: FeatureAt[] }, ctx: CallContext): Promise<VerifyView> {
    const { signal } = ctx;
    const dict = this.session.requireDictionary('Verifying a graph');
    const attr = await this.session.engineFor(dict);
    ctx.progress({ stage: 'Attribution', fraction: 0 });
    const raw = await computeAttribution(attr, text, {}, { signal });
    const semantics = opts.semantics ?? REAL_SEMANTICS;
    const keys = groups.map((g) => g.map((f) => ({ layer: f.layer, feature: f.feature, position: f.position })));
    const label = (k: { layer: number; feature: number }) => dict.featureInfo(k.layer, k.feature)?.label;
    // Progress shares: attribution ~10 %, the groups, then the subgraph's four model runs (each ~L passes).
    const faithShare = opts.keep ? 0.4 : 0;
    const onProgress = (done: number, total: number) => ctx.progress({ stage: `Ablating ${done} of ${total}`, fraction: 0.1 + (0.9 - faithShare) * (done / total) });
    const report: VerifyView = await verifyGroups(attr, raw, keys, semantics, { label, signal, onProgress });
    if (opts.keep) {
      const keep = opts.keep.map((f) => ({ layer: f.layer, feature: f.feature, position: f.position }));
      const f = await subgraphFaithfulness(attr, raw, keep, semantics, {
        signal,
        onProgress: (done, total) => ctx.progress({ stage: `Subgraph faithfulness ${done} of ${total}`, fraction: 1 - faithShare + faithShare * (done / total) }),
      });
      report.faithfulness = { setting: f.setting, kept: f.kept, active: f.active, errorsKept: f.errorsKept, errorsAblated: f.errorsAblated };
    }
    return report;
  }

  /**
   * QK attribution of a node: from the kept raw attribution when `text` is the active analysis' (host
   * work only), else from a new run and attribution of `text` at the analysis defaults.
   */
  async qk(args: QkArgs, signal?: AbortSignal): Promise<QkView> {
    const dict = this.session.requireDictionary('QK attribution');
    let a: { run: SessionRun; raw: RawAttribution } | undefined = this.active?.text === args.text ? this.active : undefined;
    if (!a) {
      const run = await this.session.run(args.text, { signal });
      a = { run, raw: await this.session.attribute(run, {}, { signal }) };
    }
    const node = nodeRefOfId(args.nodeId, this.bundle.spec.nLayers);
    const r = this.session.qk(a.run, a.raw, { node, head: args.head, top: args.top ?? 8 });
    return qkView(r, a.raw.tokens.map((t) => t.text), (l, f) => this.dictLabel(dict, l, f));
  }

  /** A feature's label for a QK source (an unreadable label file names the feature by its index). */
  private dictLabel(dict: Dictionary, layer: number, index: number): string | undefined {
    try {
      return dict.featureInfo(layer, index)?.label || undefined;
    } catch {
      return undefined;
    }
  }

  /** The engine-side circuit-test runner, the same one `circuit-inspector test` uses. */
  async circuitTests(doc: string, dialect: PromptDialect, signal?: AbortSignal): Promise<BlockResult[]> {
    const dict = this.session.requireDictionary('Circuit tests');
    const attr = await this.session.engineFor(dict);
    return runDocument({ engine: attr, dictionary: dict }, doc, dialect, { signal });
  }

  lens(run: EngineRun, position: number, k: number): LensRow[] {
    const cache = (run as Run).cache;
    const spec = this.bundle.spec;
    return lensLayers(spec.nLayers, spec.vocabSize, spec.dModel).map((layer) => ({
      layer,
      predictions: logitLens(this.bundle, cache, layer, position, k).map((p) => ({ token: p.token, prob: p.prob, logit: p.logit })),
    }));
  }

  /** The raw attribution of the active analysis, kept so a new threshold re-prunes without recomputing. */
  private active?: { run: SessionRun; raw: RawAttribution; text: string; args: AnalyzeArgs };

  async attribute(engineRun: EngineRun, text: string, args: AnalyzeArgs, ctx: CallContext): Promise<{ graph: GraphFile; scores?: AnalyzeResult['scores'] }> {
    const run = (engineRun as Run).session ?? (await this.session.run(engineRun.tokens, { signal: ctx.signal }));
    const weights: Record<string, [number, number]> = { attribute: [0.1, 0.85], prune: [0.95, 0.05] };
    const names: Record<string, string> = { attribute: 'Attribution', prune: 'Pruning' };
    const onProgress = (stage: string, f: number) => {
      const [a, w] = weights[stage] ?? [0, 0];
      ctx.progress({ stage: names[stage] ?? stage, fraction: a + w * f });
    };
    const settings = { maxFeatureNodes: args.maxFeatureNodes, batchSize: args.batchSize };
    const raw = await this.session.attribute(run, settings, { signal: ctx.signal, onProgress });
    this.active = { run, raw, text, args };
    onProgress('prune', 0);
    const graph = this.session.prune(run, raw, { node: args.nodeThreshold, edge: args.edgeThreshold }, { promptText: text, settings });
    onProgress('prune', 1);
    return { graph: toGraphFile(graph, { slug: args.slug }), scores: graph.scores };
  }

  prune(args: PruneArgs): PruneResult {
    const a = this.active;
    if (!a) throw new EngineError('INTERNAL', 'There is no analysis to prune.', 'Run "Circuit Inspector: Analyze Prompt" first.');
    const settings = { maxFeatureNodes: a.args.maxFeatureNodes, batchSize: a.args.batchSize };
    const graph = this.session.prune(a.run, a.raw, { node: args.nodeThreshold, edge: args.edgeThreshold }, { promptText: a.text, settings });
    return { graph: toGraphFile(graph, { slug: args.slug }), scores: graph.scores };
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
    const dash = this.store?.card(ref.layer, ref.feature);
    if (dash) {
      // Diverse contexts from the corpus the dashboards were built on (one per document, no repeats).
      if (dash.top.length) card.examples = dash.top.slice(0, 5).map((e) => ({ tokens: spacedTokens(e.tokens, (this.joiner ??= wordJoiner(this.bundle.tokenizer))), values: e.values }));
      card.density = dash.density;
      card.corpusTokens = this.store!.meta.tokens;
      if (dash.automatic) card.automatic = dash.automatic;
      if (dash.published && (dash.published.label || dash.published.examples.length)) {
        const join = (this.joiner ??= wordJoiner(this.bundle.tokenizer));
        card.published = { label: dash.published.label, ...(dash.published.by ? { by: dash.published.by } : {}), examples: dash.published.examples.map((e) => ({ tokens: spacedTokens(e.tokens, join), values: e.values })) };
      }
      if (!info?.label && dash.published?.label) card.label = dash.published.label;
      else if (!info?.label && dash.automatic) card.label = `${dash.automatic} (automatic)`;
    }
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

  dispose(): Promise<void> {
    this.active = undefined;
    this.store?.close();
    return this.session.dispose();
  }
}

export async function loadEngine(args: LoadModelArgs, ctx: CallContext): Promise<LoadedEngine> {
  ctx.progress({ stage: 'Reading the model', fraction: 0.02 });
  const bundle = await loadModelBundle(args.modelPath);
  throwIfCancelled(ctx.signal);
  const runtime = { provider: args.provider, threads: args.threads, precision: args.precision, cacheDir: args.cacheDir };
  const session = await ModelSession.open({ model: bundle, dictionaries: args.transcoderPath ? [args.transcoderPath] : 'default', runtime, signal: ctx.signal });
  ctx.progress({ stage: 'Preparing the model graphs', fraction: 0.06 });
  const notes: string[] = [];
  const off = onRuntimeMessage((m) => notes.push(m));
  let provider: string;
  try {
    provider = await session.provider();
  } catch (e) {
    await session.dispose();
    throw e;
  } finally {
    off();
  }
  throwIfCancelled(ctx.signal);
  const spec = bundle.spec;
  const dict = session.dictionary;
  const info: ModelInfo = {
    name: spec.name,
    dir: bundle.dir,
    nLayers: spec.nLayers,
    dModel: spec.dModel,
    vocabSize: spec.vocabSize,
    maxPositions: spec.maxPositions,
    provider,
    providerNote: notes.length ? notes.join(' ') : undefined,
    transcoders: dict ? { dir: dict.path, kind: dict.kind, nFeatures: dict.layers.reduce((s, l) => s + dict.nFeatures(l), 0) } : undefined,
  };
  let store: FeatureStore | undefined;
  if (dict) {
    // A store built by the editor wins over one shipped beside the dictionary; an unreadable one is skipped.
    for (const p of [builtStorePath(args.dashboardsDir, dict), join(dict.path, STORE_FILE)]) {
      if (!p || !existsSync(p)) continue;
      try {
        store = await FeatureStore.open(p);
        break;
      } catch {
        /* labels and cards still work without dashboards */
      }
    }
  }
  return new RealEngine(info, session, store, args.dashboardsDir);
}

/** Where the editor keeps the dashboards it builds for a dictionary folder. */
function builtStorePath(dir: string | undefined, dict: Dictionary): string | undefined {
  return dir ? join(dir, `${createHash('sha256').update(dict.path).digest('hex').slice(0, 16)}.sqlite`) : undefined;
}

/** The dictionaries of a model folder with their kinds (Select Dictionary); an unreadable one is named, not fatal. */
export async function listModelDictionaries(modelPath: string, ctx: CallContext): Promise<DictionaryChoice[]> {
  ctx.progress({ stage: 'Reading the dictionaries' });
  if (!existsSync(modelPath)) throw new EngineError('MODEL_NOT_FOUND', `The model folder ${modelPath} does not exist.`, 'Select the model folder again.');
  const out: DictionaryChoice[] = [];
  for (const dir of modelDictionaryFolders(modelPath)) {
    throwIfCancelled(ctx.signal);
    let d: Dictionary;
    try {
      d = await loadDictionary(dir);
    } catch {
      continue;
    }
    try {
      const graph = graphKindOf(d);
      out.push({ name: basename(dir), dir, kind: d.kind, layers: d.layers, nFeatures: d.layers.reduce((s, l) => s + d.nFeatures(l), 0), ...(graph ? { graph } : {}) });
    } finally {
      d.release();
    }
  }
  return out;
}

export async function validateModelDir(modelPath: string, ctx: CallContext): Promise<{ name: string; nLayers: number }> {
  ctx.progress({ stage: 'Reading the model' });
  const bundle = await loadModelBundle(modelPath);
  const tc = defaultDictionaryDir(bundle.dir);
  // A transcoder set inside the folder must fit the model too, or analysis would fail later.
  if (tc) await loadDictionary(tc, { dModel: bundle.spec.dModel, nLayers: bundle.spec.nLayers, name: bundle.spec.name });
  return { name: bundle.spec.name, nLayers: bundle.spec.nLayers };
}
