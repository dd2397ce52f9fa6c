/**
 * SAE graphs: attribution graphs over one residual-stream SAE, with the published method for SAE
 * circuits (Marks et al., "Sparse feature circuits"): the SAE's features at their site plus one error
 * node per position (the residual minus the reconstruction there), edges by linear attribution through
 * the model's local Jacobian (attribution patching). As in the transcoder graphs, attention patterns and
 * normalisation scales are frozen at the prompt; the MLPs are not replaced, so the gradient goes through
 * each one linearised at the prompt's activations (onnx/sae-backward-graph.ts).
 *
 * Nodes: token embeddings, SAE features (layer = the SAE's block, at each position), error nodes (at the
 * SAE's block; the rows of other layers stay empty so the node layout is the transcoder graph's), target
 * logits. Edges: embedding → feature, feature → logit, error → logit. Embedding → logit is zero by
 * construction: the residual at the site is exactly features + error, so every path from an embedding to
 * a logit crosses the site. With one SAE layer there are no feature → feature or error → feature edges.
 * The pure functions over the raw adjacency (influence, pruning, scores, graph files) apply unchanged.
 */
import type { ActivationCache, ModelBundle, TokenInfo } from '../api';
import type { Dictionary } from '../dictionaries/types';
import { EngineError } from '../errors';
import { ForwardRunner } from '../forward';
import { hooks, type Mat, type ModelSpec } from '../model-spec';
import { cacheKey, cachedModel, defaultCacheDir } from '../onnx/cache';
import { buildSaeBackwardGraph, saeBackwardNames as N } from '../onnx/sae-backward-graph';
import { createSession, ort, type EngineSession } from '../runtime';
import { attribute, runPromptWith, sweepAttribution, toAttributionGraph, type AttributeContext, type AttributeOptions, type PromptRun, type RawAttribution, type SeedSweeper } from './attribute';
import type { SeedBatch } from './backward';
import type { EngineOptions } from './engine';
import type { ActiveFeatures } from './features';
import { densePatterns, type FrozenForward } from './frozen';
import type { AttributionGraph } from './types';

/** What an SAE graph says it is (graph metadata and the UI's label). */
export const SAE_GRAPH_METHOD = 'SAE graph: attribution patching, attention and norms frozen, MLPs linearised at the prompt';

/** Bumped whenever the SAE backward graph changes. */
const SAE_GRAPH_VERSION = 1;

export interface SaeEngine {
  bundle: ModelBundle;
  dictionary: Dictionary;
  /** The SAE's block: it reads blocks.{site}.hook_resid_post. */
  site: number;
  forward: ForwardRunner;
  backward: EngineSession;
}

/** The SAE's block, or an actionable error when the dictionary is not a residual-stream SAE of this model. */
export function saeSite(dict: Dictionary, spec: ModelSpec): number {
  if (dict.kind !== 'sae') throw new EngineError('INTERNAL', `${dict.name} is not an SAE.`);
  if (dict.dModel !== spec.dModel) throw new EngineError('DICTIONARY_MISMATCH', `${dict.name} has d_model ${dict.dModel}, but ${spec.name} has ${spec.dModel}.`, 'Use an SAE trained on this model.');
  const site = dict.layers[0];
  if (dict.layers.length !== 1 || dict.inputHook(site) !== hooks.residPost(site) || dict.outputHook(site) !== hooks.residPost(site)) {
    throw new EngineError('DICTIONARY_INVALID', `${dict.name} reads ${dict.inputHook(site)}; SAE graphs support one SAE on the residual stream (blocks.L.hook_resid_post).`, 'Use a residual-stream SAE (SAELens hook_resid_post).');
  }
  return site;
}

const engines = new WeakMap<ModelBundle, WeakMap<Dictionary, Promise<SaeEngine>>>();

/** The forward runner and the SAE backward session for (bundle, SAE), built once. */
export function saeEngine(bundle: ModelBundle, dict: Dictionary, opts: EngineOptions = {}): Promise<SaeEngine> {
  let byDict = engines.get(bundle);
  if (!byDict) engines.set(bundle, (byDict = new WeakMap()));
  let e = byDict.get(dict);
  if (!e) {
    e = createSaeEngine(bundle, dict, opts);
    byDict.set(dict, e);
    e.catch(() => byDict!.delete(dict));
  }
  return e;
}

export async function releaseSaeEngine(bundle: ModelBundle, dict: Dictionary): Promise<void> {
  const e = engines.get(bundle)?.get(dict);
  if (!e) return;
  engines.get(bundle)!.delete(dict);
  const engine = await e.catch(() => undefined);
  if (engine) await Promise.all([engine.forward.dispose(), engine.backward.release()]);
}

async function createSaeEngine(bundle: ModelBundle, dict: Dictionary, opts: EngineOptions): Promise<SaeEngine> {
  const site = saeSite(dict, bundle.spec);
  opts = { ...opts, precision: opts.precision === 'f16' ? 'f16' : 'f32' };
  const forward = await ForwardRunner.create(bundle, opts);
  const dir = opts.cacheDir ?? defaultCacheDir();
  // The graph depends on the model and the site only (SAE weights enter as feeds computed here).
  const source = (precision: 'f32' | 'f16') => cachedModel(dir, cacheKey({ weightsHash: `${bundle.weightsHash}:sae-site-${site}`, kind: 'sae-backward', version: SAE_GRAPH_VERSION, options: { precision } }), () => buildSaeBackwardGraph(bundle.spec, site), precision).model;
  // f32 always: see engine.ts on f16 gradients several layers down.
  const backward = await createSession(source, { ...opts, precision: 'f32' });
  return { bundle, dictionary: dict, site, forward, backward };
}

/** Tokenize → forward with hooks → freeze → encode the SAE at its site. */
export async function runSaePrompt(engine: SaeEngine, prompt: string | number[] | TokenInfo[], options: Pick<AttributeOptions, 'zeroBos'> = {}, ctx: AttributeContext = {}): Promise<PromptRun> {
  return runPromptWith(engine.bundle, engine.forward, 'resid_mid', (frozen, cache, zeroBos) => encodeSae(engine, frozen, cache, zeroBos), prompt, options, ctx);
}

/** The SAE's active features at its site, and the error there (other layers' errors stay zero). */
function encodeSae(engine: SaeEngine, frozen: FrozenForward, cache: ActivationCache, zeroBos: boolean): ActiveFeatures {
  const { bundle, dictionary: dict, site } = engine;
  const L = bundle.spec.nLayers, d = bundle.spec.dModel;
  const T = frozen.T;
  const resid = cache.hooks.get(hooks.residPost(site))?.data;
  if (!resid) throw new EngineError('INTERNAL', `The forward pass did not return ${hooks.residPost(site)}.`);
  const F = dict.nFeatures(site);
  const acts = dict.encode(site, resid, T);
  const pres = dict.preActivations(site, resid, T);
  // Position 0 with zeroBos: no features there; its whole residual is the error node (the site stays exact).
  if (zeroBos) acts.fill(0, 0, F);
  const recon = dict.decode(site, T, new Map([[site, acts]]));
  const errors = new Float32Array(L * T * d);
  for (let i = 0; i < T * d; i++) errors[site * T * d + i] = resid[i] - recon[i];
  const pos: number[] = [], index: number[] = [], act: number[] = [], pre: number[] = [];
  for (let t = 0; t < T; t++) {
    for (let f = 0; f < F; f++) {
      const a = acts[t * F + f];
      if (a === 0) continue;
      pos.push(t);
      index.push(f);
      act.push(a);
      pre.push(pres[t * F + f]);
    }
  }
  const n = act.length;
  const layerStart = new Int32Array(L + 1);
  for (let l = site + 1; l <= L; l++) layerStart[l] = n;
  return { layer: new Int32Array(n).fill(site), pos: Int32Array.from(pos), index: Int32Array.from(index), act: Float32Array.from(act), pre: Float32Array.from(pre), errors, layerStart };
}

/**
 * The SAE graph's backward sweeps (onnx/sae-backward-graph.ts) as a SeedSweeper: logit seeds give the
 * gradient at the site, dotted here with the active features' activation-scaled decoder vectors and
 * the site's error vectors; feature seeds give their edges from the token embeddings.
 */
class SaeSweep implements SeedSweeper {
  readonly nSources: number;
  readonly deviceResident = false;
  private readonly statics: Record<string, ort.Tensor> = {};
  /** Activation-scaled decoder vectors of the active features [nFeat, d]. */
  private readonly decRows: Float32Array;
  private readonly err: Float32Array;
  private readonly enc: Mat;

  constructor(private readonly engine: SaeEngine, private readonly frozen: FrozenForward, private readonly feats: ActiveFeatures) {
    const { bundle, dictionary: dict, site } = engine;
    const spec = bundle.spec;
    const L = spec.nLayers, d = spec.dModel, T = frozen.T;
    const want = new Set(engine.backward.inputNames);
    const put = (name: string, t: ort.Tensor) => {
      if (want.has(name)) this.statics[name] = t;
    };
    for (let l = 0; l < L; l++) {
      put(N.pattern(l), new ort.Tensor('float32', densePatterns(frozen, 'An SAE graph')[l], [spec.blocks[l].attn.nHeads, T, T]));
      put(N.ln1Scale(l), new ort.Tensor('float32', frozen.ln1[l], [T]));
      put(N.ln2Scale(l), new ort.Tensor('float32', frozen.ln2[l], [T]));
      if (frozen.ln1Post.length) put(N.ln1PostScale(l), new ort.Tensor('float32', frozen.ln1Post[l], [T]));
      if (frozen.ln2Post.length) put(N.ln2PostScale(l), new ort.Tensor('float32', frozen.ln2Post[l], [T]));
      put(N.residMid(l), new ort.Tensor('float32', frozen.inputs[l], [T, d]));
    }
    put(N.lnfScale, new ort.Tensor('float32', frozen.lnf, [T]));
    put(N.tokens, new ort.Tensor('float32', frozen.embeddings, [T, d]));
    const nFeat = feats.act.length;
    this.decRows = dict.decoderRows(site, feats.index);
    for (let k = 0; k < nFeat; k++) for (let c = 0; c < d; c++) this.decRows[k * d + c] *= feats.act[k];
    this.err = feats.errors.subarray(site * T * d, (site + 1) * T * d);
    this.enc = dict.encoder(site);
    this.nSources = nFeat + L * T + T;
  }

  featureSeed(k: number): Float32Array {
    const d = this.engine.bundle.spec.dModel;
    return this.enc.data.subarray(this.feats.index[k] * d, (this.feats.index[k] + 1) * d);
  }

  async runSparse(seeds: SeedBatch, sink: (seed: number, col: Int32Array, val: Float32Array, n: number) => void): Promise<void> {
    const { site, bundle } = this.engine;
    const L = bundle.spec.nLayers, d = bundle.spec.dModel, T = this.frozen.T;
    const { feats, decRows, err } = this;
    const nFeat = feats.act.length;
    const n = seeds.layers.length;
    // A batch holds logit seeds or feature seeds (the attribution loop runs them in separate phases).
    const logit = seeds.layers[0] === L;
    const out = await this.engine.backward.run({
      ...this.statics,
      [N.seedVec]: new ort.Tensor('float32', seeds.vecs, [n, d]),
      [N.seedPos]: new ort.Tensor('int64', BigInt64Array.from(seeds.positions, (p) => BigInt(p)), [n]),
      [N.seedLogit]: new ort.Tensor('float32', new Float32Array(n).fill(logit ? 1 : 0), [n]),
    });
    const g = out[N.siteOut].data as Float32Array; // [n, T, d]
    const tok = out[N.tokOut].data as Float32Array; // [n, T]
    const col = new Int32Array(this.nSources), val = new Float32Array(this.nSources);
    for (let b = 0; b < n; b++) {
      let m = 0;
      const put = (c: number, v: number) => {
        if (v === 0) return;
        col[m] = c;
        val[m++] = v;
      };
      if (logit) {
        for (let k = 0; k < nFeat; k++) {
          const go = (b * T + feats.pos[k]) * d;
          let s = 0;
          for (let c = 0; c < d; c++) s += g[go + c] * decRows[k * d + c];
          put(k, s);
        }
        for (let t = 0; t < T; t++) {
          let s = 0;
          for (let c = 0; c < d; c++) s += g[(b * T + t) * d + c] * err[t * d + c];
          put(nFeat + site * T + t, s);
        }
      }
      // Feature rows read the embeddings; for logit rows this is zero (their gradient stops at the site).
      for (let t = 0; t < T; t++) put(nFeat + L * T + t, tok[b * T + t]);
      sink(b, col, val, m);
    }
  }

  async dispose(): Promise<void> {}
}

/**
 * The batched backward sweeps of an SAE graph over a prompt run: the full adjacency over the selected
 * features, errors (layer-major, only the site's rows non-empty), tokens and logits. The loop (targets,
 * feature ranking under a cap, node layout) is the transcoder graph's (attribute.ts).
 */
export async function attributeSaeRun(engine: SaeEngine, run: PromptRun, options: AttributeOptions = {}, ctx: AttributeContext = {}): Promise<RawAttribution> {
  return sweepAttribution(engine.bundle.spec, run, new SaeSweep(engine, run.frozen, run.features), options, ctx);
}

/** Influence, pruning and scores over a raw SAE attribution, labelled as an SAE graph (pure). */
export function saeGraph(engine: SaeEngine, raw: RawAttribution, promptText: string | undefined, options: AttributeOptions = {}, ctx: AttributeContext = {}): AttributionGraph {
  // Head loadings split transcoder-graph edges; they are not defined for SAE graphs.
  const graph = toAttributionGraph({ bundle: engine.bundle }, engine.dictionary, raw, promptText, { ...options, headLoadings: false }, ctx);
  graph.method = SAE_GRAPH_METHOD;
  return graph;
}

/** An SAE graph of a prompt in one call (the decomposition report, tests). */
export async function attributeSae(bundle: ModelBundle, dict: Dictionary, prompt: string | number[], options: AttributeOptions = {}, ctx: AttributeContext = {}): Promise<AttributionGraph> {
  const engine = await saeEngine(bundle, dict, options.runtime);
  const run = await runSaePrompt(engine, prompt, options, ctx);
  const raw = await attributeSaeRun(engine, run, options, ctx);
  return saeGraph(engine, raw, typeof prompt === 'string' ? prompt : undefined, options, ctx);
}

/** The attribution graph of a prompt over any dictionary: an SAE graph for an SAE, else a transcoder graph. */
export async function attributeAny(bundle: ModelBundle, dict: Dictionary, prompt: string | number[], options: AttributeOptions = {}, ctx: AttributeContext = {}): Promise<AttributionGraph> {
  return dict.kind === 'sae' ? attributeSae(bundle, dict, prompt, options, ctx) : attribute(bundle, dict, prompt, options, ctx);
}
