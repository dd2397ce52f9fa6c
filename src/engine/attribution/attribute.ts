/**
 * attribute(): the attribution graph of a prompt (circuit-tracer's attribute, on ONNX graphs).
 *
 * Phases: tokenize → forward (hooks) → encode (active features, errors) → attribute (batched backward
 * sweeps: the target logits first, then features; with a max-feature-nodes cap, features are visited
 * in order of their partial influence on the logits, re-ranked every `updateInterval` batches, as
 * circuit-tracer does) → prune (influence, thresholds) → an AttributionGraph.
 *
 * Node order inside the computation: active features, error nodes (layer-major), token embeddings,
 * logits. The adjacency stays sparse from the first row to the last.
 */
import { dirname } from 'node:path';
import { allFinite, checkFiniteOutput } from '../finite';
import { ANALYSIS_DEFAULTS } from '../../shared/settings-defaults';
import type { ActivationCache, ModelBundle, TokenInfo } from '../api';
import { encodePrompt } from '../bundle/index';
import type { Dictionary } from '../dictionaries/types';
import { EngineError, throwIfCancelled } from '../errors';
import { tokensFromIds, type ForwardRunner } from '../forward';
import { sweepBatch } from '../memory';
import type { ModelSpec } from '../model-spec';
import type { TranscoderInputHook } from '../onnx/backward-graph';
import type { AttributionGraph, AttributionNode } from './types';
import type { RawAttribution } from './raw';
import { BackwardSweep, type SeedBatch } from './backward';
import { attributionEngine, type AttributionEngine, type EngineOptions } from './engine';
import { encodeFeatures, type ActiveFeatures } from './features';
import { attentionBlocksFor, freezeForward, type FrozenForward } from './frozen';
import { influenceOnRows, topUnvisited } from './influence';
import { pruneCsr, type NodeLayout } from './prune';
import { scoresOnCsr } from './scores';
import { takeKept } from './kept-memory';
import { RowArena, RowStore } from './sparse';
import { buildTargets, type CustomTarget } from './targets';
import { edgeHeadsOf, HEAD_LOADING_AUTO_FLOPS, headLoadingCost, headLoadingMemo, type KeptEdge } from '../attention/graph-heads';

/** The folder of a dictionary given by folder or by one of its files. */
function dictionaryFolder(p: string): string {
  return /\.(safetensors|yaml|json|npz)$/.test(p) ? dirname(p) : p;
}

export type AttributionStage = 'tokenize' | 'forward' | 'encode' | 'attribute' | 'prune';

export interface AttributeOptions {
  /** At most this many target logits (default 10). */
  maxNLogits?: number;
  /** Target logits until this cumulative probability (default 0.95). */
  desiredLogitProb?: number;
  /** Seeds per backward sweep (default: ANALYSIS_DEFAULTS, 64). */
  batchSize?: number;
  /**
   * Visit at most this many features (chosen by partial influence). Default: ANALYSIS_DEFAULTS (4096, half
   * circuit-tracer's demo cap: the rows kept for ranking grow with features × prompt length).
   */
  maxFeatureNodes?: number;
  /** Re-rank features by partial influence every this many batches when capped (default 4). */
  updateInterval?: number;
  /** Cumulative influence kept by node pruning (default 0.8). */
  nodeThreshold?: number;
  /** Cumulative influence kept by edge pruning (default 0.98). */
  edgeThreshold?: number;
  /** Explain these instead of the most probable logits. */
  targets?: CustomTarget[];
  /**
   * Per row, drop edges smaller than this fraction of the row's mean |edge| (so at most this fraction
   * of the row's L1 mass is dropped, and each dropped edge is below this fraction of the row's largest);
   * exact zeros are always dropped. Default 1e-4; 0 keeps every non-zero edge.
   */
  edgeTolerance?: number;
  /** Zero features and errors at position 0; default: when the first token is a special token. */
  zeroBos?: boolean;
  /** Return the pruned graph (default) or every node and edge. */
  prune?: boolean;
  runtime?: EngineOptions;
  /**
   * Bind the prompt's frozen constants into a per-prompt backward session, uploaded once instead of with
   * every batch. Default: on for GPU providers (where the per-batch copy costs), off on the CPU (where
   * feeding is free and a second session is not).
   */
  deviceResidentConstants?: boolean;
  /**
   * Split every kept edge between positions into the attention heads that carry it (attention/
   * head-loadings.ts) and keep the largest in `edgeHeads`. 'auto' (default): when the host work at the
   * first prune of a raw attribution is small (HEAD_LOADING_AUTO_FLOPS: the embedded model and models of
   * its size); true: always. Splits are kept with the raw attribution: a re-prune computes only the
   * edges no earlier prune kept.
   */
  headLoadings?: boolean | 'auto';
  /**
   * Attention in the forward pass and the sweeps: 0 keeps the dense [H, T, T] patterns; n ≥ 1 runs it in
   * n blocks and rebuilds pattern blocks in the sweeps (memory linear in the prompt length; head
   * loadings, QK and interventions then need a shorter prompt). Default: blocked once the dense patterns
   * would pass DENSE_PATTERN_BYTES (frozen.ts `attentionBlocksFor`).
   */
  attentionBlocks?: number;
}

export interface AttributeContext {
  onProgress?(stage: AttributionStage, fraction: number): void;
  signal?: AbortSignal;
}

export type { RawAttribution };

export async function attribute(
  bundle: ModelBundle,
  dictionary: Dictionary,
  prompt: string | number[],
  options: AttributeOptions = {},
  ctx: AttributeContext = {},
): Promise<AttributionGraph> {
  const engine = await attributionEngine(bundle, dictionary, options.runtime);
  const raw = await computeAttribution(engine, prompt, options, ctx);
  // The reconstruction errors carry every decoder, bias and skip weight: a NaN there is the
  // dictionary's, and is named rather than surfacing as a NaN replacement score.
  if (!(allFinite(raw.features.errors) && allFinite(raw.features.act))) checkFiniteOutput([NaN], 'transcoder reconstruction', [dictionaryFolder(dictionary.path)]);
  return toAttributionGraph(engine, dictionary, raw, typeof prompt === 'string' ? prompt : undefined, options, ctx);
}

/** A prompt's forward pass with every hook, frozen, and its active features: what attribution starts from. */
export interface PromptRun {
  tokens: TokenInfo[];
  /** The forward pass's hooks (the logit lens and hovers read them). */
  cache: ActivationCache;
  frozen: FrozenForward;
  features: ActiveFeatures;
  /** Whether features and errors at position 0 were zeroed. */
  zeroBos: boolean;
  /** Wall-clock milliseconds of the forward pass (with freezing) and of the encoder. */
  timings: { forwardMs: number; encodeMs: number };
}

/** The default for zeroing position 0: when the first token is a special (BOS-like) token. */
export function zeroBosDefault(bundle: ModelBundle, tokens: TokenInfo[]): boolean {
  return Boolean(tokens[0]?.special || tokens[0]?.id === bundle.spec.bosTokenId);
}

/** Encodes a frozen forward pass into active features and errors (transcoders, or an SAE at its site). */
export type FeatureEncoder = (frozen: FrozenForward, cache: ActivationCache, zeroBos: boolean) => Promise<ActiveFeatures> | ActiveFeatures;

/** Tokenize → forward with hooks → freeze → encode: the one forward pass an analysis makes. */
export async function runPrompt(engine: AttributionEngine, prompt: string | number[] | TokenInfo[], options: Pick<AttributeOptions, 'zeroBos' | 'attentionBlocks'> = {}, ctx: AttributeContext = {}): Promise<PromptRun> {
  const { nLayers: L, dModel: d } = engine.bundle.spec;
  return runPromptWith(engine.bundle, engine.forward, engine.replacement.inputHook, (frozen, _cache, zeroBos) => encodeFeatures(engine.encode, frozen, L, d, zeroBos), prompt, options, ctx);
}

/** The prompt as tokens (text is encoded with the model's tokenizer); an empty prompt is an error. */
export function promptTokens(bundle: ModelBundle, prompt: string | number[] | TokenInfo[]): TokenInfo[] {
  const tokens = typeof prompt === 'string' ? encodePrompt(bundle, prompt) : isTokenList(prompt) ? prompt : tokensFromIds(bundle, prompt);
  if (!tokens.length) throw new EngineError('PROMPT_EMPTY', 'The prompt is empty.', 'Type some text to analyse.');
  return tokens;
}

/** runPrompt for any dictionary: the forward pass frozen at `inputHook`, then `encode`. */
export async function runPromptWith(
  bundle: ModelBundle,
  forward: ForwardRunner,
  inputHook: TranscoderInputHook,
  encode: FeatureEncoder,
  prompt: string | number[] | TokenInfo[],
  options: Pick<AttributeOptions, 'zeroBos' | 'attentionBlocks'> = {},
  ctx: AttributeContext = {},
): Promise<PromptRun> {
  const progress = (s: AttributionStage, f: number) => ctx.onProgress?.(s, f);
  const t0 = performance.now();
  progress('tokenize', 0);
  const tokens = promptTokens(bundle, prompt);
  progress('tokenize', 1);
  throwIfCancelled(ctx.signal);

  progress('forward', 0);
  const attentionBlocks = attentionBlocksFor(bundle.spec, tokens.length, options.attentionBlocks);
  const cache = await forward.runTokens(tokens, { signal: ctx.signal, attentionBlocks });
  const frozen = freezeForward(bundle.spec, cache, inputHook, attentionBlocks);
  progress('forward', 1);
  const t1 = performance.now();

  progress('encode', 0);
  const zeroBos = options.zeroBos ?? zeroBosDefault(bundle, tokens);
  const features = await encode(frozen, cache, zeroBos);
  progress('encode', 1);
  throwIfCancelled(ctx.signal);
  return { tokens, cache, frozen, features, zeroBos, timings: { forwardMs: t1 - t0, encodeMs: performance.now() - t1 } };
}

function isTokenList(p: number[] | TokenInfo[]): p is TokenInfo[] {
  return p.length > 0 && typeof p[0] === 'object';
}

/** runPrompt then attributeRun: a prompt's raw attribution in one call (tests and bench). */
export async function computeAttribution(engine: AttributionEngine, prompt: string | number[], options: AttributeOptions = {}, ctx: AttributeContext = {}): Promise<RawAttribution> {
  const run = await runPrompt(engine, prompt, options, ctx);
  return attributeRun(engine, run, options, ctx);
}

/**
 * One kind of graph's backward sweeps (transcoder graphs: backward.ts; SAE graphs: sae-graph.ts), as the
 * shared attribution loop drives them: a batch of seeds in, each seed's row of direct effects out.
 */
export interface SeedSweeper {
  /** Columns of a row: active features, error nodes (layer-major: layer · T + position), token embeddings. */
  readonly nSources: number;
  readonly deviceResident: boolean;
  /** Seeds at layer nLayers are logit directions (after the final norm); others are features' encoder rows. */
  runSparse(seeds: SeedBatch, sink: (seed: number, col: Int32Array, val: Float32Array, n: number) => void): Promise<void>;
  /** Feature k's seed: its encoder row [d]. */
  featureSeed(k: number): Float32Array;
  /** The session whose kept memory (kept-memory.ts) the stored rows may reuse, when there is one. */
  readonly memoryOwner?: object;
  dispose(): Promise<void>;
}

/**
 * The batched backward sweeps over a prompt run made before (no second forward pass): the full, unpruned
 * adjacency over the selected features, errors, tokens and logits.
 */
export async function attributeRun(engine: AttributionEngine, run: PromptRun, options: AttributeOptions = {}, ctx: AttributeContext = {}): Promise<RawAttribution> {
  const { bundle, replacement: r } = engine;
  const d = bundle.spec.dModel;
  const resident = options.deviceResidentConstants ?? engine.backward.provider !== 'cpu';
  const session = run.frozen.blocked ? await engine.blockedBackward(run.frozen.blocked.blocks) : engine.backward;
  const sweep = await BackwardSweep.create(session, bundle.spec, r, run.frozen, run.features, resident);
  const { layer, index } = run.features;
  const sweeper: SeedSweeper = {
    nSources: sweep.nSources,
    get deviceResident() {
      return sweep.deviceResident;
    },
    runSparse: (seeds, sink) => sweep.runSparse(seeds, sink),
    featureSeed: (k) => r.layers[layer[k]].wEnc.data.subarray(index[k] * d, (index[k] + 1) * d),
    memoryOwner: session,
    dispose: () => sweep.dispose(),
  };
  return sweepAttribution(bundle.spec, run, sweeper, options, ctx);
}

/**
 * circuit-tracer's attribution loop over any SeedSweeper: the target logits first, then features — all
 * of them, or with a max-feature-nodes cap those of largest partial influence on the logits, re-ranked
 * every `updateInterval` batches — then the rows gathered into the adjacency over the visited features,
 * errors, tokens and logits. The sweeper is disposed at the end.
 */
export async function sweepAttribution(spec: ModelSpec, run: PromptRun, sweeper: SeedSweeper, options: AttributeOptions = {}, ctx: AttributeContext = {}): Promise<RawAttribution> {
  const L = spec.nLayers, d = spec.dModel;
  const progress = (s: AttributionStage, f: number) => ctx.onProgress?.(s, f);
  const t0 = performance.now() - run.timings.forwardMs - run.timings.encodeMs;
  const { tokens, frozen, features: feats } = run;
  const T = frozen.T;
  const B = sweepBatch(Math.max(1, options.batchSize ?? ANALYSIS_DEFAULTS.batchSize), T, d);

  const vocab = spec.vocabSize;
  const rowMemory = sweeper.memoryOwner ? takeKept(sweeper.memoryOwner, 'stored-rows', (old?: RowArena) => (old ?? new RowArena()).rewind()) : undefined;
  try {
  const targets = buildTargets(spec, frozen.logits.subarray((T - 1) * vocab, T * vocab), {
    maxNLogits: options.maxNLogits ?? 10,
    desiredLogitProb: options.desiredLogitProb ?? 0.95,
    custom: options.targets,
  });
  const nFeat = feats.act.length;
  const nSrc = sweeper.nSources;
  const nLogits = targets.length;
  const nAll = nSrc + nLogits;
  const store = new RowStore(options.edgeTolerance ?? 1e-4, rowMemory?.value);
  const maxFeat = Math.min(options.maxFeatureNodes ?? ANALYSIS_DEFAULTS.maxFeatureNodes, nFeat);
  const totalSweeps = Math.ceil(nLogits / B) + Math.ceil(maxFeat / B);
  let sweeps = 0, seeds = 0, sweepMs = 0;

  const runBatch = async (vecs: Float32Array, layers: Int32Array, positions: Int32Array, nodes: number[]) => {
    throwIfCancelled(ctx.signal);
    const ts = performance.now();
    await sweeper.runSparse({ vecs, layers, positions }, (b, col, val, n) => store.addSparse(nodes[b], col, val, n));
    sweepMs += performance.now() - ts;
    sweeps++;
    seeds += nodes.length;
    progress('attribute', sweeps / totalSweeps);
  };

  // Phase 1: the target logits, seeded after the final norm at the last position.
  progress('attribute', 0);
  for (let i = 0; i < nLogits; i += B) {
    const batch = targets.slice(i, i + B);
    const vecs = new Float32Array(batch.length * d);
    batch.forEach((t, b) => vecs.set(t.vec, b * d));
    await runBatch(vecs, new Int32Array(batch.length).fill(L), new Int32Array(batch.length).fill(T - 1), batch.map((_, b) => nSrc + i + b));
  }

  // Phase 2: features, seeded with their encoder rows at their own layer and position.
  const logitWeights = new Float64Array(nAll);
  targets.forEach((t, j) => (logitWeights[nSrc + j] = t.weight));
  const visited = new Uint8Array(nFeat);
  let nVisited = 0;
  const update = Math.max(1, options.updateInterval ?? 4);
  while (nVisited < maxFeat) {
    let pending: Int32Array;
    if (maxFeat === nFeat) {
      pending = Int32Array.from({ length: nFeat }, (_, k) => k);
    } else {
      const inf = influenceOnRows(store, nAll, logitWeights);
      pending = topUnvisited(inf, nFeat, visited, Math.min(update * B, maxFeat - nVisited));
    }
    // Which features run is decided; how they are batched is free. A batch runs only up to its last
    // seed's position (backward.ts), so batches of neighbouring positions are cheaper sweeps.
    pending.sort((a, b) => feats.pos[a] - feats.pos[b] || a - b);
    for (let i = 0; i < pending.length; i += B) {
      const batch = Array.from(pending.subarray(i, i + B));
      const vecs = new Float32Array(batch.length * d);
      const layers = new Int32Array(batch.length);
      const positions = new Int32Array(batch.length);
      batch.forEach((k, b) => {
        vecs.set(sweeper.featureSeed(k), b * d);
        layers[b] = feats.layer[k];
        positions[b] = feats.pos[k];
        visited[k] = 1;
      });
      nVisited += batch.length;
      await runBatch(vecs, layers, positions, batch);
    }
  }

  // The graph's nodes: visited features, then errors, tokens, logits.
  const selected = Int32Array.from(Array.from({ length: nFeat }, (_, k) => k).filter((k) => visited[k]));
  const newIndex = new Int32Array(nFeat).fill(-1);
  selected.forEach((k, i) => (newIndex[k] = i));
  const shift = nFeat - selected.length;
  const map = (x: number) => (x < nFeat ? newIndex[x] : x - shift);
  const layout: NodeLayout = { nFeatures: selected.length, nErrors: L * T, nTokens: T, nLogits };
  const nNodes = nAll - shift;
  const adjacency = store.toCsr(nNodes, map, nAll);
  const lw = new Float64Array(nNodes);
  targets.forEach((t, j) => (lw[nNodes - nLogits + j] = t.weight));
  const timings = { forwardMs: run.timings.forwardMs, encodeMs: run.timings.encodeMs, sweepMs, totalMs: performance.now() - t0 };
  const deviceResident = sweeper.deviceResident;
  return { tokens, frozen, features: feats, targets, selected, layout, adjacency, logitWeights: lw, sweeps, seeds, timings, deviceResident };
  } finally {
    rowMemory?.release();
    await sweeper.dispose();
  }
}

/** Norm of each error vector, for the error nodes' `activation`. */
function errorNorm(feats: ActiveFeatures, l: number, t: number, T: number, d: number): number {
  let s = 0;
  const off = (l * T + t) * d;
  for (let i = 0; i < d; i++) s += feats.errors[off + i] ** 2;
  return Math.sqrt(s);
}

/** Influence, pruning and scores over a raw attribution: its graph at the options' thresholds (pure). */
export function toAttributionGraph(engine: Pick<AttributionEngine, 'bundle'> & { replacement?: AttributionEngine['replacement'] }, dictionary: Dictionary | undefined, raw: RawAttribution, promptText: string | undefined, options: AttributeOptions = {}, ctx: AttributeContext = {}): AttributionGraph {
  const { bundle } = engine;
  const spec = bundle.spec;
  const L = spec.nLayers, d = spec.dModel;
  const { layout, adjacency: a, features: f, frozen } = raw;
  const T = frozen.T;
  const nodeThreshold = options.nodeThreshold ?? ANALYSIS_DEFAULTS.nodeThreshold;
  const edgeThreshold = options.edgeThreshold ?? ANALYSIS_DEFAULTS.edgeThreshold;
  ctx.onProgress?.('prune', 0);
  const scores = scoresOnCsr(a, layout, raw.logitWeights);
  if (dictionary && !(Number.isFinite(scores.replacement) && Number.isFinite(scores.completeness))) {
    checkFiniteOutput([NaN], 'replacement score', [dictionaryFolder(dictionary.path), bundle.dir]);
  }
  const pr = pruneCsr(a, layout, raw.logitWeights, nodeThreshold, edgeThreshold);
  const keepAll = options.prune === false;
  const n = a.nNodes;
  const tokText = (id: number) => bundle.tokenizer.tokenText(id);

  const nodes: AttributionNode[] = [];
  const newId = new Int32Array(n).fill(-1);
  const errStart = layout.nFeatures, tokStart = errStart + layout.nErrors, logitStart = tokStart + layout.nTokens;
  for (let i = 0; i < n; i++) {
    if (!keepAll && !pr.nodeMask[i]) continue;
    let node: AttributionNode;
    if (i < errStart) {
      const k = raw.selected[i];
      const layer = f.layer[k], index = f.index[k];
      const info = dictionary?.featureInfo(layer, index);
      node = { kind: 'feature', layer, position: f.pos[k], index, activation: f.act[k], label: info?.label ?? '' };
      if (info?.evidence) node.labelEvidence = info.evidence;
    } else if (i < tokStart) {
      const l = Math.floor((i - errStart) / T), t = (i - errStart) % T;
      node = { kind: 'error', layer: l, position: t, index: -1, activation: errorNorm(f, l, t, T, d), label: `Error: layer ${l}, "${tokText(frozen.ids[t])}"` };
    } else if (i < logitStart) {
      const t = i - tokStart;
      node = { kind: 'embedding', layer: -1, position: t, index: frozen.ids[t], activation: 0, label: `Emb: "${tokText(frozen.ids[t])}"` };
    } else {
      const tg = raw.targets[i - logitStart];
      const tok = tokText(tg.tokenId) + (tg.minusId !== undefined ? ` − ${tokText(tg.minusId)}` : '');
      node = { kind: 'logit', layer: L, position: T - 1, index: tg.tokenId, activation: 0, label: `Output "${tok}" (p=${tg.probability.toFixed(3)})`, tokenProb: tg.probability, token: tok };
    }
    node.influence = pr.influence[i];
    node.cumulativeInfluence = pr.cumulative[i];
    newId[i] = nodes.length;
    nodes.push(node);
  }
  // Kept edges, row by row; only kept rows are visited (a re-prune at a tight threshold reads few).
  const { rowPtr, col, val } = a;
  const keep = keepAll ? Uint8Array.from(val, (v) => (v !== 0 ? 1 : 0)) : pr.edgeMask;
  let m = 0;
  for (let r = 0; r < n; r++) if (newId[r] >= 0) for (let p = rowPtr[r]; p < rowPtr[r + 1]; p++) m += keep[p];
  const source = new Int32Array(m), target = new Int32Array(m), weight = new Float32Array(m);
  let e = 0;
  for (let r = 0; r < n; r++) {
    if (newId[r] < 0) continue;
    for (let p = rowPtr[r]; p < rowPtr[r + 1]; p++) {
      if (!keep[p]) continue;
      source[e] = newId[col[p]];
      target[e] = newId[r];
      weight[e++] = val[p];
    }
  }
  // A prompt run with blocked attention keeps no dense patterns, which head loadings read: 'auto' turns
  // them off there (asking for them explicitly gets densePatterns' error).
  const asked = options.headLoadings ?? 'auto';
  const hl = frozen.patterns || asked === true ? asked : false;
  const repl = engine.replacement;
  const memo = repl && hl === 'auto' ? headLoadingMemo(raw) : undefined;
  // The kept edges in the adjacency's terms, only when head loadings may be wanted (a re-prune of an
  // attribution without them builds nothing).
  let kept: KeptEdge[] = [];
  if (repl && hl !== false && memo?.autoEnabled !== false) {
    kept = new Array(m);
    let k = 0;
    for (let r = 0; r < n; r++) for (let p = a.rowPtr[r]; p < a.rowPtr[r + 1]; p++) if (keepAll ? a.val[p] !== 0 : pr.edgeMask[p]) kept[k++] = { row: r, col: a.col[p], entry: p };
  }
  let wantHeads = repl !== undefined && hl !== false;
  if (repl && memo) {
    // Decided once per raw attribution, at its first prune (the analysis's own thresholds): a re-prune
    // then reuses the splits already made and never turns heads on or off.
    memo.autoEnabled ??= headLoadingCost(spec, repl, raw, kept) <= HEAD_LOADING_AUTO_FLOPS;
    wantHeads = memo.autoEnabled;
  }
  const edgeHeads = wantHeads && repl ? edgeHeadsOf(spec, repl, raw, kept) : undefined;
  ctx.onProgress?.('prune', 1);
  return {
    prompt: promptText ?? bundle.tokenizer.decode(frozen.ids),
    tokens: raw.tokens.map((t) => ({ id: t.id, text: t.text })),
    modelName: spec.name,
    nLayers: L,
    nodes,
    edges: { source, target, weight },
    ...(edgeHeads ? { edgeHeads } : {}),
    targets: raw.targets.map((t, j) => ({ node: newId[logitStart + j], tokenId: t.tokenId, token: nodes[newId[logitStart + j]].token ?? '', probability: t.probability })),
    scores,
    thresholds: { node: nodeThreshold, edge: edgeThreshold },
    settings: {
      maxNLogits: options.maxNLogits ?? 10,
      desiredLogitProb: options.desiredLogitProb ?? 0.95,
      batchSize: options.batchSize ?? ANALYSIS_DEFAULTS.batchSize,
      maxFeatureNodes: options.maxFeatureNodes ?? ANALYSIS_DEFAULTS.maxFeatureNodes,
    },
    source: { modelPath: bundle.dir, dictionary: dictionary?.path, createdMs: Date.now() },
  };
}
