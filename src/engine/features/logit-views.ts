/**
 * A feature's effect on the logits, in two views that say what they are.
 *
 * "In general": the feature's decoder vector (summed over every layer it writes to; a CLT writes to
 * several) read straight through the final norm's gain and the demeaned unembedding,
 *     raw[v] = (dec ⊙ g) · (W_U[v] − mean_v' W_U[v'])
 * (for a LayerNorm the decoder is centred first, as the norm centres whatever is added). No prompt, so
 * no 1/rms scale. Some tokens' unembeddings dominate every feature's list (their rows are long or
 * aligned with the decoder's common direction); so each token's effect is also standardised across the
 * features of the same layer, z[v] = (raw[v] − μ_v) / σ_v, and the card ranks by z and says so.
 *
 * "In this prompt": the feature's direct effect on the logits that compete at its position — the
 * graph's target logits (at the last position) and the model's top predictions there — computed by
 * the same linearised backward sweep that makes the graph's edges (frozen attention and norms, the
 * frozen final norm at that position, logit directions demeaned over the vocabulary). So the value for
 * a target logit is the graph's edge from this feature into that logit, to the last bit.
 */
import type { ModelBundle } from '../api';
import { encodePrompt } from '../bundle/index';
import type { Dictionary } from '../dictionaries/types';
import { EngineError } from '../errors';
import { tokensFromIds, topK } from '../forward';
import type { ModelSpec } from '../model-spec';
import type { AttributionEngine } from '../attribution/engine';
import { BackwardSweep } from '../attribution/backward';
import { encodeFeatures } from '../attribution/features';
import { freezeForward } from '../attribution/frozen';
import { buildTargets, meanUnembed, softmax } from '../attribution/targets';

export interface LogitEffect {
  tokenId: number;
  token: string;
  /** The effect in the view's unit (logit units for raw and in-prompt views). */
  value: number;
  /** In general: the effect standardised across the layer's features. */
  z?: number;
}

/** Effects [vocab] of one decoder direction, and the same standardised across the layer's features. */
export interface GeneralView {
  raw: Float32Array;
  z: Float32Array;
  /** How the correction was made, in words, for the card. */
  correction: string;
  /** Features the per-token mean and spread were taken over. */
  statsFeatures: number;
}

/** The final norm's per-channel gain (Gemma stores w − 1). */
function finalGain(spec: ModelSpec): Float32Array {
  const n = spec.lnFinal;
  return n.plusOne ? n.weight.map((w) => 1 + w) : n.weight;
}

/** dec ⊙ g (centred first under a LayerNorm), for one feature: its direction as the unembedding sees it. */
export function readoutDirection(spec: ModelSpec, dictionary: Dictionary, layer: number, index: number): Float32Array {
  const d = spec.dModel;
  const F = dictionary.nFeatures(layer);
  if (!Number.isInteger(index) || index < 0 || index >= F) {
    throw new EngineError('DICTIONARY_INVALID', `Feature ${index} does not exist at layer ${layer} (it has ${F} features).`, `Pick an index from 0 to ${F - 1}.`);
  }
  const dec = dictionary.decoder(layer);
  const span = dec.cols / d;
  const u = new Float64Array(d);
  for (let s = 0; s < span; s++) for (let i = 0; i < d; i++) u[i] += dec.data[index * dec.cols + s * d + i];
  if (spec.lnFinal.kind === 'layer') {
    let m = 0;
    for (let i = 0; i < d; i++) m += u[i];
    m /= d;
    for (let i = 0; i < d; i++) u[i] -= m;
  }
  const g = finalGain(spec);
  return Float32Array.from(u, (x, i) => x * g[i]);
}

/** raw[v] = u · (W_U[v] − mean W_U) for every vocabulary token. */
export function unembedEffects(spec: ModelSpec, u: Float32Array): Float32Array {
  const { data, rows, cols } = spec.unembed;
  const mean = meanUnembed(spec);
  let off = 0;
  for (let i = 0; i < cols; i++) off += u[i] * mean[i];
  const out = new Float32Array(rows);
  for (let v = 0; v < rows; v++) {
    let s = 0;
    const base = v * cols;
    for (let i = 0; i < cols; i++) s += u[i] * data[base + i];
    out[v] = s - off;
  }
  return out;
}

interface TokenStats {
  mean: Float32Array;
  std: Float32Array;
  n: number;
  total: number;
}

/** Per-token mean and spread of the raw effect across a layer's features (cached per dictionary). */
const statsCache = new WeakMap<Dictionary, Map<string, TokenStats>>();
/** Multiply-adds allowed for the statistics of one layer: a real vocabulary samples features. */
const STATS_BUDGET = 3e9;

export function tokenStats(spec: ModelSpec, dictionary: Dictionary, layer: number): TokenStats {
  let byLayer = statsCache.get(dictionary);
  if (!byLayer) statsCache.set(dictionary, (byLayer = new Map()));
  const key = `${spec.name}|${layer}`;
  const hit = byLayer.get(key);
  if (hit) return hit;
  const F = dictionary.nFeatures(layer);
  const V = spec.unembed.rows, d = spec.dModel;
  const n = Math.max(2, Math.min(F, Math.floor(STATS_BUDGET / (V * d))));
  // An even stride through the features: deterministic, and unbiased as far as index order goes.
  const step = F / n;
  const sum = new Float64Array(V), sq = new Float64Array(V);
  for (let k = 0; k < n; k++) {
    const f = Math.min(F - 1, Math.floor(k * step));
    const r = unembedEffects(spec, readoutDirection(spec, dictionary, layer, f));
    for (let v = 0; v < V; v++) {
      sum[v] += r[v];
      sq[v] += r[v] * r[v];
    }
  }
  const mean = new Float32Array(V), std = new Float32Array(V);
  for (let v = 0; v < V; v++) {
    mean[v] = sum[v] / n;
    std[v] = Math.sqrt(Math.max(0, sq[v] / n - mean[v] * mean[v])) || 1;
  }
  const s = { mean, std, n, total: F };
  byLayer.set(key, s);
  return s;
}

export function generalView(spec: ModelSpec, dictionary: Dictionary, layer: number, index: number): GeneralView {
  const raw = unembedEffects(spec, readoutDirection(spec, dictionary, layer, index));
  const st = tokenStats(spec, dictionary, layer);
  const z = raw.map((x, v) => (x - st.mean[v]) / st.std[v]);
  const over = st.n === st.total ? `all ${st.total} features of layer ${layer}` : `${st.n} of the ${st.total} features of layer ${layer} (an even sample)`;
  return {
    raw,
    z,
    statsFeatures: st.n,
    correction: `each token's effect standardised across ${over}: (effect − mean) / standard deviation`,
  };
}

/** The k strongest effects by `key`, in the view's order (top: largest first; bottom: most negative first). */
export function rankEffects(bundle: ModelBundle, view: GeneralView, k: number, by: 'z' | 'raw', sign: 1 | -1): LogitEffect[] {
  const key = by === 'z' ? view.z : view.raw;
  const ids = topK(sign > 0 ? key : key.map((x) => -x), k);
  return ids.map((v) => ({ tokenId: v, token: bundle.tokenizer.tokenText(v), value: view.raw[v], z: view.z[v] }));
}

/** 1-based rank of a token among all tokens by a view's key (1 = the strongest promotion). */
export function rankOf(values: Float32Array, tokenId: number): number {
  const x = values[tokenId];
  let r = 1;
  for (let v = 0; v < values.length; v++) if (values[v] > x) r++;
  return r;
}

export interface PromptLogitEffect extends LogitEffect {
  /** The model's probability of this token at the position. */
  prob: number;
  /** Whether this token is one of the graph's target logits (last position only). */
  target: boolean;
}

export interface InPromptView {
  tokens: { id: number; text: string }[];
  /** Positions where the feature fires, with its activation there. */
  firing: { position: number; activation: number }[];
  /** The position the view is for (the strongest firing unless one was asked for); -1 when it never fires. */
  position: number;
  activation: number;
  /** Direct effect on each competing logit at `position`, strongest first (empty when it never fires). */
  effects: PromptLogitEffect[];
}

export interface InPromptOptions {
  position?: number;
  /** The model's top predictions at the position to include (default 10). */
  topPredictions?: number;
  /** As attribution's: target logits at the last position (defaults 10 and 0.95). */
  maxNLogits?: number;
  desiredLogitProb?: number;
  zeroBos?: boolean;
  signal?: AbortSignal;
}

export async function inPromptView(engine: AttributionEngine, prompt: string | number[], layer: number, index: number, opts: InPromptOptions = {}): Promise<InPromptView> {
  const { bundle, replacement: r } = engine;
  const spec = bundle.spec;
  const L = spec.nLayers, d = spec.dModel, V = spec.vocabSize;
  const toks = typeof prompt === 'string' ? encodePrompt(bundle, prompt) : tokensFromIds(bundle, prompt);
  if (!toks.length) throw new EngineError('PROMPT_EMPTY', 'The prompt is empty.', 'Type some text to analyse.');
  const cache = await engine.forward.runTokens(toks, { signal: opts.signal });
  const frozen = freezeForward(spec, cache, r.inputHook);
  const T = frozen.T;
  const zeroBos = opts.zeroBos ?? (toks[0].special || toks[0].id === spec.bosTokenId);
  const feats = await encodeFeatures(engine.encode, frozen, L, d, zeroBos);
  const tokens = toks.map((t) => ({ id: t.id, text: t.text }));

  const firing: { position: number; activation: number; k: number }[] = [];
  for (let k = feats.layerStart[layer] ?? 0; k < feats.act.length; k++) {
    if (feats.layer[k] === layer && feats.index[k] === index) firing.push({ position: feats.pos[k], activation: feats.act[k], k });
  }
  const pub = firing.map(({ position, activation }) => ({ position, activation }));
  if (opts.position !== undefined && (!Number.isInteger(opts.position) || opts.position < 0 || opts.position >= T)) {
    throw new EngineError('PROMPT_EMPTY', `Position ${opts.position} is outside the prompt (0..${T - 1}).`, 'Pick a token position of the prompt.');
  }
  const at = opts.position !== undefined ? firing.find((f) => f.position === opts.position) : firing.reduce<(typeof firing)[number] | undefined>((b, f) => (!b || f.activation > b.activation ? f : b), undefined);
  if (!at) return { tokens, firing: pub, position: opts.position ?? -1, activation: 0, effects: [] };

  const p = at.position;
  const row = frozen.logits.subarray(p * V, (p + 1) * V);
  const probs = softmax(row);
  const targetIds = p === T - 1
    ? buildTargets(spec, row, { maxNLogits: opts.maxNLogits ?? 10, desiredLogitProb: opts.desiredLogitProb ?? 0.95 }).map((t) => t.tokenId)
    : [];
  const ids = [...targetIds];
  for (const v of topK(row, opts.topPredictions ?? 10)) if (!ids.includes(v)) ids.push(v);

  const mean = meanUnembed(spec);
  const vecs = new Float32Array(ids.length * d);
  ids.forEach((v, b) => {
    for (let i = 0; i < d; i++) vecs[b * d + i] = spec.unembed.data[v * d + i] - mean[i];
  });
  const sweep = await BackwardSweep.create(engine.backward, spec, r, frozen, feats, false);
  let rows: Float32Array;
  try {
    rows = await sweep.run({ vecs, layers: new Int32Array(ids.length).fill(L), positions: new Int32Array(ids.length).fill(p) });
  } finally {
    await sweep.dispose();
  }
  const nSrc = sweep.nSources;
  const effects = ids.map((v, b) => ({
    tokenId: v,
    token: bundle.tokenizer.tokenText(v),
    value: rows[b * nSrc + at.k],
    prob: probs[v],
    target: targetIds.includes(v),
  }));
  effects.sort((a, b) => b.value - a.value);
  return { tokens, firing: pub, position: p, activation: at.activation, effects };
}
