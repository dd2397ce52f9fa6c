/**
 * Runs prompts through the forward-with-hooks graph and returns the activation cache; plus the small
 * readouts built on it: top next-token predictions and the logit lens.
 *
 * One ForwardRunner holds one onnxruntime session per model, built once (or loaded from the on-disk
 * graph cache) and reused for every prompt.
 */
import type { ActivationCache, ForwardOptions, HookTensor, ModelBundle, Prediction, TokenInfo } from './api';
import { checkPromptLength } from './bundle/index';
import { EngineError, throwIfCancelled } from './errors';
import { checkFiniteOutput } from './finite';
import type { ModelSpec } from './model-spec';
import { cacheKey, cachedModel, defaultCacheDir } from './onnx/cache';
import type { GraphBuilder } from './onnx/builder';
import { buildForwardGraph, FORWARD_GRAPH_VERSION } from './onnx/forward-graph';
import { createSession, ort, type EngineSession, type ProviderName, type RuntimeOptions } from './runtime';

export interface ForwardRunnerOptions extends RuntimeOptions {
  cacheDir?: string;
  /** Weights above this many bytes go to ONNX external data beside the model file (default 1.5 GB). */
  externalDataThreshold?: number;
}

export interface ForwardTimings {
  /** Building + serialising the graph (0 on a cache hit). */
  buildMs: number;
  /** onnxruntime session creation. */
  sessionMs: number;
  cacheHit: boolean;
}

export class ForwardRunner {
  private readonly blocked = new Map<number, Promise<EngineSession>>();

  private constructor(
    readonly bundle: ModelBundle,
    private readonly session: EngineSession,
    readonly timings: ForwardTimings,
    private readonly opts: ForwardRunnerOptions,
  ) {}

  static async create(bundle: ModelBundle, opts: ForwardRunnerOptions = {}): Promise<ForwardRunner> {
    const { session, timings } = await openForwardSession(bundle, opts);
    return new ForwardRunner(bundle, session, timings, opts);
  }

  /** The blocked-attention session for `blocks` query blocks, opened on first use and kept. */
  private blockedSession(blocks: number): Promise<EngineSession> {
    let s = this.blocked.get(blocks);
    if (!s) {
      // Same provider and precision as the dense session, so a long prompt's numbers match a short one's.
      s = openForwardSession(this.bundle, { ...this.opts, provider: this.session.provider, precision: this.session.precision }, blocks).then((o) => o.session);
      this.blocked.set(blocks, s);
      s.catch(() => this.blocked.delete(blocks));
    }
    return s;
  }

  /** The precision the graph runs in on that provider ('f16' only on GPU providers). */
  get precision(): 'f32' | 'f16' {
    return this.session.precision;
  }

  /** The execution provider the session ended up on (after any fallback). */
  get provider(): ProviderName {
    return this.session.provider;
  }

  /** Runs token ids (as the tokenizer produced them, BOS included) and returns every hook. */
  async run(ids: number[], opts: ForwardOptions = {}): Promise<ActivationCache> {
    return this.runTokens(tokensFromIds(this.bundle, ids), opts);
  }

  /** Like `run`, keeping the prompt's TokenInfos (with their character ranges) in the cache. */
  async runTokens(tokens: TokenInfo[], opts: ForwardOptions = {}): Promise<ActivationCache> {
    const spec = this.bundle.spec;
    const T = tokens.length;
    checkPromptLength(this.bundle, T);
    for (const t of tokens) {
      if (!Number.isInteger(t.id) || t.id < 0 || t.id >= spec.vocabSize) {
        throw new EngineError('TOKENIZER_INVALID', `Token id ${t.id} is outside the model's vocabulary (0..${spec.vocabSize - 1}).`, 'Pass ids from this model\'s tokenizer.');
      }
    }
    const n = spec.nLayers * T * spec.dModel;
    const delta = opts.mlpOutDelta ?? new Float32Array(n);
    if (delta.length !== n) {
      throw new EngineError('INTERNAL', `mlpOutDelta has ${delta.length} values; [nLayers=${spec.nLayers}, T=${T}, d_model=${spec.dModel}] needs ${n}.`);
    }
    throwIfCancelled(opts.signal);
    const feeds = {
      input_ids: new ort.Tensor('int64', BigInt64Array.from(tokens, (t) => BigInt(t.id)), [1, T]),
      mlp_out_delta: new ort.Tensor('float32', delta, [spec.nLayers, T, spec.dModel]),
    };
    const session = opts.attentionBlocks ? await this.blockedSession(opts.attentionBlocks) : this.session;
    throwIfCancelled(opts.signal);
    const out = await session.run(feeds);
    throwIfCancelled(opts.signal);
    const hooks = new Map<string, HookTensor>();
    for (const [name, t] of Object.entries(out)) {
      hooks.set(name, { shape: t.dims.map(Number), data: t.data as Float32Array });
    }
    const logits = hooks.get('logits')!;
    checkFiniteOutput(logits.data, "model's output (logits)", [this.bundle.dir]);
    return { tokens, hooks, logits };
  }

  async dispose(): Promise<void> {
    const blocked = await Promise.all([...this.blocked.values()].map((s) => s.catch(() => undefined)));
    this.blocked.clear();
    await Promise.all([this.session.release(), ...blocked.map((s) => s?.release())]);
  }
}

/** The forward graph's session (dense patterns, or `blocks` query blocks), built or read from the graph cache. */
async function openForwardSession(bundle: ModelBundle, opts: ForwardRunnerOptions, blocks?: number): Promise<{ session: EngineSession; timings: ForwardTimings }> {
  const cacheDir = opts.cacheDir ?? defaultCacheDir();
  let builder: GraphBuilder | undefined;
  let buildMs = 0;
  let cacheHit = true;
  // The runtime picks the provider, then asks for the graph in the precision that provider runs best.
  const source = (precision: 'f32' | 'f16'): Uint8Array | string => {
    const t = performance.now();
    const key = cacheKey({ weightsHash: bundle.weightsHash, kind: blocks ? `forward-blocked-${blocks}` : 'forward', version: FORWARD_GRAPH_VERSION, options: { precision } });
    const cached = cachedModel(cacheDir, key, () => (builder ??= buildForwardGraph(bundle.spec, { attentionBlocks: blocks }).builder), precision, opts.externalDataThreshold);
    if (!cached.hit) {
      cacheHit = false;
      buildMs += performance.now() - t;
    }
    return cached.model;
  };
  const t0 = performance.now();
  const session = await createSession(source, { provider: opts.provider, threads: opts.threads, precision: opts.precision });
  return { session, timings: { buildMs, sessionMs: performance.now() - t0 - buildMs, cacheHit } };
}

/** TokenInfos for bare ids: each token's surface text laid end to end. */
export function tokensFromIds(bundle: ModelBundle, ids: number[]): TokenInfo[] {
  // Checked before any id is decoded or any session made: the caller learns of a bad id or a prompt
  // longer than the context at once.
  checkPromptLength(bundle, ids.length);
  const V = bundle.spec.vocabSize;
  const bad = ids.find((id) => !Number.isSafeInteger(id) || id < 0 || id >= V);
  if (bad !== undefined) throw new EngineError('TOKENIZER_INVALID', `Token id ${bad} is outside the model's vocabulary (0..${V - 1}).`, 'Pass ids from this model\'s tokenizer.');
  let pos = 0;
  return ids.map((id) => {
    const tok = bundle.tokenizer as { isSpecial?: (id: number) => boolean };
    const special = tok.isSpecial ? tok.isSpecial(id) : id === bundle.spec.bosTokenId;
    const text = bundle.tokenizer.tokenText(id);
    const start = pos;
    if (!special) pos += text.length;
    return { id, text, start, end: pos, special };
  });
}

/** The k most probable next tokens from one row of logits (softmax over the whole vocabulary). */
export function topPredictions(bundle: ModelBundle, logitsRow: Float32Array, k: number): Prediction[] {
  let max = -Infinity;
  for (let i = 0; i < logitsRow.length; i++) if (logitsRow[i] > max) max = logitsRow[i];
  let z = 0;
  for (let i = 0; i < logitsRow.length; i++) z += Math.exp(logitsRow[i] - max);
  const top = topK(logitsRow, k);
  return top.map((id) => ({ tokenId: id, token: bundle.tokenizer.tokenText(id), logit: logitsRow[id], prob: Math.exp(logitsRow[id] - max) / z }));
}

/** Indices of the k largest values, largest first (one pass with a small sorted buffer). */
export function topK(values: Float32Array, k: number): number[] {
  const kk = Math.max(0, Math.min(k, values.length));
  const idx: number[] = [];
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (idx.length === kk && (kk === 0 || v <= values[idx[kk - 1]])) continue;
    let j = idx.length < kk ? idx.length : kk - 1;
    if (idx.length < kk) idx.push(i);
    while (j > 0 && values[idx[j - 1]] < v) {
      idx[j] = idx[j - 1];
      j--;
    }
    idx[j] = i;
  }
  return idx;
}

/** Final norm + unembedding (+ soft-cap) of one residual vector: the logits the model would give from it. */
export function lensLogits(spec: ModelSpec, resid: Float32Array): Float32Array {
  const d = spec.dModel;
  if (resid.length !== d) throw new EngineError('INTERNAL', `logit lens needs a vector of ${d} values, got ${resid.length}.`);
  const n = spec.lnFinal;
  const x = Float64Array.from(resid);
  if (n.kind === 'layer') {
    let mean = 0;
    for (let i = 0; i < d; i++) mean += x[i];
    mean /= d;
    for (let i = 0; i < d; i++) x[i] -= mean;
  }
  let ms = 0;
  for (let i = 0; i < d; i++) ms += x[i] * x[i];
  const scale = 1 / Math.sqrt(ms / d + n.eps);
  const h = new Float32Array(d);
  for (let i = 0; i < d; i++) h[i] = x[i] * scale * (n.plusOne ? 1 + n.weight[i] : n.weight[i]) + (n.bias ? n.bias[i] : 0);
  const W = spec.unembed.data;
  const out = new Float32Array(spec.unembed.rows);
  for (let v = 0; v < out.length; v++) {
    // Four accumulators: the hover runs this over the whole vocabulary (~10⁸ multiply-adds for
    // Llama-3), and independent sums let the JIT pipeline them.
    let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    let i = v * d;
    const end = i + d;
    let j = 0;
    for (; i + 3 < end; i += 4, j += 4) {
      s0 += W[i] * h[j];
      s1 += W[i + 1] * h[j + 1];
      s2 += W[i + 2] * h[j + 2];
      s3 += W[i + 3] * h[j + 3];
    }
    for (; i < end; i++, j++) s0 += W[i] * h[j];
    const sum = s0 + s1 + s2 + s3 + (spec.bUnembed ? spec.bUnembed[v] : 0);
    out[v] = spec.finalSoftcap ? spec.finalSoftcap * Math.tanh(sum / spec.finalSoftcap) : sum;
  }
  return out;
}

/**
 * Logit lens for the hover: what the model would predict at `position` if the residual stream after
 * block `layer` went straight to the final norm and unembedding (layer -1: the embeddings).
 */
export function logitLens(bundle: ModelBundle, cache: ActivationCache, layer: number, position: number, k: number): Prediction[] {
  const spec = bundle.spec;
  const name = layer < 0 ? 'blocks.0.hook_resid_pre' : `blocks.${layer}.hook_resid_post`;
  const h = cache.hooks.get(name);
  if (!h || layer >= spec.nLayers) throw new EngineError('INTERNAL', `No residual stream for layer ${layer}.`);
  const T = h.shape[0];
  if (position < 0 || position >= T) throw new EngineError('INTERNAL', `Position ${position} is outside the prompt (0..${T - 1}).`);
  const resid = h.data.subarray(position * spec.dModel, (position + 1) * spec.dModel);
  return topPredictions(bundle, lensLogits(spec, resid), k);
}
