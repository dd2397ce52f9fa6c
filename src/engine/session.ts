/**
 * The engine session: a model, its dictionaries (several may be open at once: comparisons need two) and
 * the runtime options, opened once; then per prompt
 *
 *   run(prompt)             tokenize → forward with every hook → freeze → encode   (the one forward pass)
 *   attribute(run)          the batched backward sweeps over that run → the raw, unpruned attribution
 *   prune(raw, thresholds)  influence, pruning and scores → an AttributionGraph (pure, cheap, repeatable)
 *   intervene(prompt, …)    steering / ablation with circuit-tracer's semantics
 *
 * Every caller — the worker, the CLI, the bench, the tests — opens models and dictionaries here, so the
 * rule for the default dictionary (the model folder's `transcoders/`) and the memory check before a run
 * live in one place. Further per-session readouts (feature cards, verification, QK attributions) take a
 * session and a run the same way: see `engineFor` and `run`.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { ModelBundle, TokenInfo } from './api';
import { attributeRun, runPrompt, toAttributionGraph, type AttributeContext, type AttributeOptions, type PromptRun, type RawAttribution } from './attribution/attribute';
import { attributionEngine, releaseAttributionEngine, type AttributionEngine, type EngineOptions } from './attribution/engine';
import { attributeSaeRun, releaseSaeEngine, runSaePrompt, saeEngine, saeGraph, type SaeEngine } from './attribution/sae-graph';
import { ANALYSIS_DEFAULTS } from '../shared/settings-defaults';
import { interveneWith, type FeatureIntervention, type InterventionResult, type InterveneOptions } from './attribution/intervene';
import type { AttributionGraph } from './attribution/types';
import { encodePrompt, loadModelBundle } from './bundle/index';
import { loadDictionary, type Dictionary } from './dictionaries/index';
import { EngineError, throwIfCancelled } from './errors';
import { ForwardRunner } from './forward';
import { checkMemory, sweepBatch, type MemoryEstimate } from './memory';
import { qkForNode, type NodeQk, type NodeQkRequest } from './attention/node-qk';

/** The model folder's own dictionary: `<model>/transcoders` when it exists. */
export function defaultDictionaryDir(modelDir: string): string | undefined {
  const dir = join(modelDir, 'transcoders');
  return existsSync(dir) ? dir : undefined;
}

/**
 * Dictionary folders inside a model folder: every subfolder the dictionary loader recognises
 * (circuit-tracer transcoders, CLTs, SAELens SAEs), sorted by name.
 */
export function modelDictionaryFolders(modelDir: string): string[] {
  return readdirSync(modelDir, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => join(modelDir, e.name))
    .filter((d) => ['config.yaml', 'cfg.json', 'W_enc_0.safetensors', 'layer_0.safetensors'].some((f) => existsSync(join(d, f))))
    .sort();
}

/** What graph a dictionary gives: transcoders and CLTs transcoder graphs, one residual-stream SAE an SAE graph. */
export function graphKindOf(dict: Dictionary): 'transcoder graph' | 'SAE graph' | undefined {
  if (dict.kind !== 'sae') return 'transcoder graph';
  return dict.layers.length === 1 ? 'SAE graph' : undefined;
}

/** A dictionary folder that must exist: the one given, else the model folder's `transcoders/`. */
export function requireDictionaryDir(given: string | undefined, modelDir: string, hint = 'Pass the transcoder set with --transcoders DIR.'): string {
  if (given) return resolve(given);
  const dir = defaultDictionaryDir(modelDir);
  if (!dir) throw new EngineError('DICTIONARY_INVALID', `${modelDir} has no transcoders/ folder.`, hint);
  return dir;
}

export interface SessionOptions {
  /** A model folder, or a bundle already in memory (the bench's random-weight models). */
  model: string | ModelBundle;
  /**
   * Dictionary folders (or dictionaries already loaded), the first being the primary one. 'default' (the
   * default): the model folder's `transcoders/` when it has one, else none.
   */
  dictionaries?: 'default' | (string | Dictionary)[];
  runtime?: EngineOptions;
  signal?: AbortSignal;
}

/** A prompt run and the dictionary it was encoded with. */
export interface SessionRun extends PromptRun {
  dictionary: Dictionary;
}

export interface PruneThresholds {
  node: number;
  edge: number;
}

export class ModelSession {
  private readonly engines = new Map<Dictionary, Promise<AttributionEngine>>();
  /** The engines built so far: a run exists only once its engine does, so pruning a run is synchronous. */
  private readonly built = new Map<Dictionary, AttributionEngine>();
  private readonly builtSae = new Map<Dictionary, SaeEngine>();
  private plainRunner?: Promise<ForwardRunner>;

  private constructor(
    readonly bundle: ModelBundle,
    /** Open dictionaries; the first is the primary one. */
    readonly dictionaries: Dictionary[],
    readonly runtime: EngineOptions,
  ) {}

  static async open(o: SessionOptions): Promise<ModelSession> {
    const bundle = typeof o.model === 'string' ? await loadModelBundle(o.model) : o.model;
    throwIfCancelled(o.signal);
    const spec = bundle.spec;
    const wanted = o.dictionaries ?? 'default';
    const sources = wanted === 'default' ? [defaultDictionaryDir(bundle.dir)].filter((d): d is string => d !== undefined) : wanted;
    const dictionaries: Dictionary[] = [];
    for (const d of sources) {
      dictionaries.push(typeof d === 'string' ? await loadDictionary(d, { dModel: spec.dModel, nLayers: spec.nLayers, name: spec.name }) : d);
      throwIfCancelled(o.signal);
    }
    return new ModelSession(bundle, dictionaries, { ...(o.runtime ?? {}) });
  }

  /** The primary dictionary, when one is open. */
  get dictionary(): Dictionary | undefined {
    return this.dictionaries[0];
  }

  requireDictionary(what: string, hint = 'Set circuitInspector.transcoderPath to a transcoder folder, or pass --transcoders DIR.'): Dictionary {
    const d = this.dictionary;
    if (!d) throw new EngineError('DICTIONARY_INVALID', `${what} needs a transcoder set, and none is loaded for ${this.bundle.spec.name}.`, hint);
    return d;
  }

  /** The onnxruntime sessions (forward, encode, backward) for one of the open dictionaries, built once. */
  engineFor(dictionary: Dictionary = this.requireDictionary('Attribution')): Promise<AttributionEngine> {
    if (!this.dictionaries.includes(dictionary)) throw new EngineError('INTERNAL', `The dictionary ${dictionary.path} is not open in this session.`);
    let e = this.engines.get(dictionary);
    if (!e) {
      e = attributionEngine(this.bundle, dictionary, this.runtime);
      this.engines.set(dictionary, e);
      e.then((engine) => this.built.set(dictionary, engine), () => undefined);
      e.catch(() => this.engines.delete(dictionary));
    }
    return e;
  }

  /** The forward runner: the primary dictionary's engine's when there is one (one set of sessions), else a plain one. */
  async forwardRunner(): Promise<ForwardRunner> {
    if (this.dictionary?.kind === 'sae') return (await this.saeEngineFor(this.dictionary)).forward;
    if (this.dictionary) return (await this.engineFor(this.dictionary)).forward;
    return (this.plainRunner ??= ForwardRunner.create(this.bundle, this.runtime));
  }

  tokenize(text: string): TokenInfo[] {
    return encodePrompt(this.bundle, text);
  }

  /** The SAE engine (forward runner, SAE backward session) for one of the open SAEs, built once. */
  private saeEngineFor(dictionary: Dictionary): Promise<SaeEngine> {
    if (!this.dictionaries.includes(dictionary)) throw new EngineError('INTERNAL', `The dictionary ${dictionary.path} is not open in this session.`);
    return saeEngine(this.bundle, dictionary, this.runtime);
  }

  /**
   * Tokenize → forward with hooks → freeze → encode with `dictionary` (default: the primary one). A
   * residual-stream SAE encodes at its site, and its runs make SAE graphs.
   */
  async run(prompt: string | number[] | TokenInfo[], o: { dictionary?: Dictionary; zeroBos?: boolean } & AttributeContext = {}): Promise<SessionRun> {
    const dictionary = o.dictionary ?? this.requireDictionary('Attribution');
    if (dictionary.kind === 'sae') {
      const engine = await this.saeEngineFor(dictionary);
      this.builtSae.set(dictionary, engine);
      return { ...(await runSaePrompt(engine, prompt, { zeroBos: o.zeroBos }, o)), dictionary };
    }
    const engine = await this.engineFor(dictionary);
    this.built.set(dictionary, engine);
    const run = await runPrompt(engine, prompt, { zeroBos: o.zeroBos }, o);
    return { ...run, dictionary };
  }

  /**
   * The memory an attribution of `run` needs against what the provider has free; throws OUT_OF_MEMORY
   * naming the batch size that would fit.
   */
  async checkMemory(run: PromptRun, batchSize: number, dictionary: Dictionary = this.requireDictionary('Attribution')): Promise<MemoryEstimate> {
    const engine = dictionary.kind === 'sae' ? await this.saeEngineFor(dictionary) : await this.engineFor(dictionary);
    const tokens = run.tokens.length, spec = this.bundle.spec;
    return checkMemory({ spec, weightBytes: this.bundle.weightBytes, tokens, batch: sweepBatch(batchSize, tokens, spec.dModel), bytesPerValue: 4, attentionBlocks: run.frozen.blocked?.blocks }, engine.backward.provider);
  }

  /** The raw attribution of a run made before: the memory check, then the backward sweeps (no second forward pass). */
  async attribute(run: SessionRun, options: Omit<AttributeOptions, 'runtime'> = {}, ctx: AttributeContext = {}): Promise<RawAttribution> {
    await this.checkMemory(run, Math.max(1, Math.floor(options.batchSize ?? ANALYSIS_DEFAULTS.batchSize)), run.dictionary);
    if (run.dictionary.kind === 'sae') return attributeSaeRun(await this.saeEngineFor(run.dictionary), run, options, ctx);
    return attributeRun(await this.engineFor(run.dictionary), run, options, ctx);
  }

  /** The graph of a raw attribution pruned at the given thresholds (pure: the raw attribution is kept). An SAE's is an SAE graph. */
  prune(run: SessionRun, raw: RawAttribution, thresholds: PruneThresholds, o: { promptText?: string; settings?: Omit<AttributeOptions, 'runtime'> } = {}): AttributionGraph {
    const options = { ...o.settings, nodeThreshold: thresholds.node, edgeThreshold: thresholds.edge };
    const sae = this.builtSae.get(run.dictionary);
    if (sae) return saeGraph(sae, raw, o.promptText, options);
    const engine = this.built.get(run.dictionary);
    if (!engine) throw new EngineError('INTERNAL', 'This run was not made by this session.');
    return toAttributionGraph(engine, run.dictionary, raw, o.promptText, options);
  }

  /**
   * QK attribution of a node of a kept raw attribution (attention/node-qk.ts): host-side work on the
   * frozen run, no forward pass or sweep again.
   */
  qk(run: SessionRun, raw: RawAttribution, req: NodeQkRequest): NodeQk {
    const engine = this.built.get(run.dictionary);
    if (!engine) throw new EngineError('INTERNAL', 'This run was not made by this session.');
    return qkForNode(this.bundle.spec, engine.replacement, raw, run.zeroBos, req);
  }

  /** run → attribute → prune in one call (the CLI's analyze). An SAE as the primary dictionary gives an SAE graph. */
  async analyze(prompt: string | number[], options: Omit<AttributeOptions, 'runtime'> = {}, ctx: AttributeContext = {}): Promise<{ run: SessionRun; raw: RawAttribution; graph: AttributionGraph }> {
    const run = await this.run(prompt, { zeroBos: options.zeroBos, ...ctx });
    const raw = await this.attribute(run, options, ctx);
    ctx.onProgress?.('prune', 0);
    const graph = this.prune(run, raw, { node: options.nodeThreshold ?? ANALYSIS_DEFAULTS.nodeThreshold, edge: options.edgeThreshold ?? ANALYSIS_DEFAULTS.edgeThreshold }, { promptText: typeof prompt === 'string' ? prompt : undefined, settings: options });
    ctx.onProgress?.('prune', 1);
    return { run, raw, graph };
  }

  /** Steers / ablates features (circuit-tracer's semantics unless asked otherwise). */
  async intervene(prompt: string | number[], interventions: FeatureIntervention[], options: Omit<InterveneOptions, 'runtime'> = {}, ctx: { signal?: AbortSignal; dictionary?: Dictionary } = {}): Promise<InterventionResult> {
    const engine = await this.engineFor(ctx.dictionary ?? this.requireDictionary('Steering'));
    return interveneWith(engine, prompt, interventions, options, ctx);
  }

  /** The provider the forward pass actually runs on (after any fallback). */
  async provider(): Promise<string> {
    return (await this.forwardRunner()).provider;
  }

  async dispose(): Promise<void> {
    for (const dict of this.dictionaries) {
      if (this.engines.has(dict)) await releaseAttributionEngine(this.bundle, dict, this.runtime);
      if (dict.kind === 'sae') await releaseSaeEngine(this.bundle, dict);
      dict.release();
    }
    this.engines.clear();
    this.built.clear();
    this.builtSae.clear();
    const plain = await this.plainRunner?.catch(() => undefined);
    await plain?.dispose();
  }
}
