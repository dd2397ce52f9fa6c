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
import type { ModelBundle, TokenInfo } from '../api';
import { encodePrompt } from '../bundle/index';
import type { Dictionary } from '../dictionaries/types';
import { EngineError, throwIfCancelled } from '../errors';
import { ForwardRunner, tokensFromIds } from '../forward';
import { hooks, type ModelSpec } from '../model-spec';
import { cacheKey, cachedModel, defaultCacheDir } from '../onnx/cache';
import { buildSaeBackwardGraph, saeBackwardNames as N } from '../onnx/sae-backward-graph';
import { createSession, ort, type EngineSession } from '../runtime';
import { attribute, toAttributionGraph, zeroBosDefault, type AttributeContext, type AttributeOptions, type PromptRun, type RawAttribution } from './attribute';
import type { EngineOptions } from './engine';
import type { ActiveFeatures } from './features';
import { freezeForward } from './frozen';
import { influenceOnCsr } from './influence';
import type { NodeLayout } from './prune';
import { RowStore } from './sparse';
import { buildTargets } from './targets';
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
  const { bundle, dictionary: dict, site } = engine;
  const spec = bundle.spec;
  const L = spec.nLayers, d = spec.dModel;
  const t0 = performance.now();
  ctx.onProgress?.('tokenize', 0);
  const tokens = typeof prompt === 'string' ? encodePrompt(bundle, prompt) : prompt.length > 0 && typeof prompt[0] === 'object' ? (prompt as TokenInfo[]) : tokensFromIds(bundle, prompt as number[]);
  if (!tokens.length) throw new EngineError('PROMPT_EMPTY', 'The prompt is empty.', 'Type some text to analyse.');
  ctx.onProgress?.('forward', 0);
  const cache = await engine.forward.runTokens(tokens, { signal: ctx.signal });
  const frozen = freezeForward(spec, cache, 'resid_mid');
  ctx.onProgress?.('forward', 1);
  const t1 = performance.now();
  throwIfCancelled(ctx.signal);

  ctx.onProgress?.('encode', 0);
  const T = frozen.T;
  const resid = cache.hooks.get(hooks.residPost(site))?.data;
  if (!resid) throw new EngineError('INTERNAL', `The forward pass did not return ${hooks.residPost(site)}.`);
  const zeroBos = options.zeroBos ?? zeroBosDefault(bundle, tokens);
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
  const features: ActiveFeatures = {
    layer: new Int32Array(n).fill(site),
    pos: Int32Array.from(pos),
    index: Int32Array.from(index),
    act: Float32Array.from(act),
    pre: Float32Array.from(pre),
    errors,
    layerStart,
  };
  ctx.onProgress?.('encode', 1);
  return { tokens, cache, frozen, features, zeroBos, timings: { forwardMs: t1 - t0, encodeMs: performance.now() - t1 } };
}

/**
 * The batched backward sweeps of an SAE graph over a prompt run: the full adjacency over the selected
 * features, errors (layer-major, only the site's rows non-empty), tokens and logits.
 */
export async function attributeSaeRun(engine: SaeEngine, run: PromptRun, options: AttributeOptions = {}, ctx: AttributeContext = {}): Promise<RawAttribution> {
  const { bundle, dictionary: dict, site } = engine;
  const spec = bundle.spec;
  const L = spec.nLayers, d = spec.dModel;
  const B = Math.max(1, Math.floor(options.batchSize ?? 32));
  const t0 = performance.now() - run.timings.forwardMs - run.timings.encodeMs;
  const { tokens, frozen, features: feats } = run;
  const T = frozen.T;
  const vocab = spec.vocabSize;
  const targets = buildTargets(spec, frozen.logits.subarray((T - 1) * vocab, T * vocab), {
    maxNLogits: options.maxNLogits ?? 10,
    desiredLogitProb: options.desiredLogitProb ?? 0.95,
    custom: options.targets,
  });

  const statics: Record<string, ort.Tensor> = {};
  const want = new Set(engine.backward.inputNames);
  const put = (name: string, t: ort.Tensor) => {
    if (want.has(name)) statics[name] = t;
  };
  for (let l = 0; l < L; l++) {
    put(N.pattern(l), new ort.Tensor('float32', frozen.patterns[l], [spec.blocks[l].attn.nHeads, T, T]));
    put(N.ln1Scale(l), new ort.Tensor('float32', frozen.ln1[l], [T]));
    put(N.ln2Scale(l), new ort.Tensor('float32', frozen.ln2[l], [T]));
    if (frozen.ln1Post.length) put(N.ln1PostScale(l), new ort.Tensor('float32', frozen.ln1Post[l], [T]));
    if (frozen.ln2Post.length) put(N.ln2PostScale(l), new ort.Tensor('float32', frozen.ln2Post[l], [T]));
    put(N.residMid(l), new ort.Tensor('float32', frozen.inputs[l], [T, d]));
  }
  put(N.lnfScale, new ort.Tensor('float32', frozen.lnf, [T]));
  put(N.tokens, new ort.Tensor('float32', frozen.embeddings, [T, d]));

  const nFeat = feats.act.length;
  // Activation-scaled decoder vectors of the active features, and the site's error vectors.
  const decRows = dict.decoderRows(site, feats.index);
  for (let k = 0; k < nFeat; k++) for (let c = 0; c < d; c++) decRows[k * d + c] *= feats.act[k];
  const err = feats.errors.subarray(site * T * d, (site + 1) * T * d);
  const nSrc = nFeat + L * T + T;
  const nLogits = targets.length;
  const nAll = nSrc + nLogits;
  const store = new RowStore(options.edgeTolerance ?? 1e-4);
  const maxFeat = Math.min(options.maxFeatureNodes ?? 8192, nFeat);
  const totalSweeps = Math.ceil(nLogits / B) + Math.ceil(maxFeat / B);
  let sweeps = 0, seeds = 0, sweepMs = 0;

  const runBatch = async (vecs: Float32Array, positions: number[], logit: boolean, nodes: number[]) => {
    throwIfCancelled(ctx.signal);
    const ts = performance.now();
    const n = nodes.length;
    const out = await engine.backward.run({
      ...statics,
      [N.seedVec]: new ort.Tensor('float32', vecs, [n, d]),
      [N.seedPos]: new ort.Tensor('int64', BigInt64Array.from(positions, (p) => BigInt(p)), [n]),
      [N.seedLogit]: new ort.Tensor('float32', new Float32Array(n).fill(logit ? 1 : 0), [n]),
    });
    const g = out[N.siteOut].data as Float32Array; // [n, T, d]
    const tok = out[N.tokOut].data as Float32Array; // [n, T]
    const rows = new Float32Array(n * nSrc);
    for (let b = 0; b < n; b++) {
      const base = b * nSrc;
      if (logit) {
        for (let k = 0; k < nFeat; k++) {
          const go = (b * T + feats.pos[k]) * d;
          let s = 0;
          for (let c = 0; c < d; c++) s += g[go + c] * decRows[k * d + c];
          rows[base + k] = s;
        }
        for (let t = 0; t < T; t++) {
          let s = 0;
          for (let c = 0; c < d; c++) s += g[(b * T + t) * d + c] * err[t * d + c];
          rows[base + nFeat + site * T + t] = s;
        }
      }
      // Feature rows read the embeddings; for logit rows this is zero (their gradient stops at the site).
      rows.set(tok.subarray(b * T, (b + 1) * T), base + nFeat + L * T);
    }
    sweepMs += performance.now() - ts;
    for (let b = 0; b < n; b++) store.add(nodes[b], rows, b * nSrc, nSrc);
    sweeps++;
    seeds += n;
    ctx.onProgress?.('attribute', sweeps / totalSweeps);
  };

  ctx.onProgress?.('attribute', 0);
  for (let i = 0; i < nLogits; i += B) {
    const batch = targets.slice(i, i + B);
    const vecs = new Float32Array(batch.length * d);
    batch.forEach((t, b) => vecs.set(t.vec, b * d));
    await runBatch(vecs, batch.map(() => T - 1), true, batch.map((_, b) => nSrc + i + b));
  }
  const logitWeights = new Float64Array(nAll);
  targets.forEach((t, j) => (logitWeights[nSrc + j] = t.weight));
  // With one SAE layer every feature's influence is its direct effect on the logits: rank by it when capped.
  let order = Array.from({ length: nFeat }, (_, k) => k);
  if (maxFeat < nFeat) {
    const inf = influenceOnCsr(store.toCsr(nAll, (x) => x), logitWeights);
    order = order.sort((a, b) => inf[b] - inf[a] || a - b).slice(0, maxFeat).sort((a, b) => a - b);
  }
  const enc = dict.encoder(site);
  for (let i = 0; i < order.length; i += B) {
    const batch = order.slice(i, i + B);
    const vecs = new Float32Array(batch.length * d);
    batch.forEach((k, b) => vecs.set(enc.data.subarray(feats.index[k] * d, (feats.index[k] + 1) * d), b * d));
    await runBatch(vecs, batch.map((k) => feats.pos[k]), false, batch);
  }

  const selected = Int32Array.from(order);
  const newIndex = new Int32Array(nFeat).fill(-1);
  selected.forEach((k, i) => (newIndex[k] = i));
  const shift = nFeat - selected.length;
  const map = (x: number) => (x < nFeat ? newIndex[x] : x - shift);
  const layout: NodeLayout = { nFeatures: selected.length, nErrors: L * T, nTokens: T, nLogits };
  const nNodes = nAll - shift;
  const adjacency = store.toCsr(nNodes, map);
  const lw = new Float64Array(nNodes);
  targets.forEach((t, j) => (lw[nNodes - nLogits + j] = t.weight));
  const timings = { forwardMs: run.timings.forwardMs, encodeMs: run.timings.encodeMs, sweepMs, totalMs: performance.now() - t0 };
  return { tokens, frozen, features: feats, targets, selected, layout, adjacency, logitWeights: lw, sweeps, seeds, timings, deviceResident: false };
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
