/**
 * Feature interventions (circuit-tracer's feature_intervention): set, scale or ablate transcoder
 * features at chosen positions and see what the model predicts instead.
 *
 * Semantics follow circuit-tracer: layer by layer in ascending order, an intervened feature's current
 * activation is recomputed from the (already intervened) forward pass, and the MLP output at its
 * position receives (new − current activation) × its decoder vector (a CLT feature: into every layer
 * it writes). What else reacts is the InterventionSemantics (./semantics.ts), one default for every
 * caller and named in every result: attention frozen or recomputed, norms frozen or recomputed.
 *
 * Generation (greedy) repeats the whole intervention on the prompt plus the tokens generated so far, so
 * an intervention without explicit positions also acts on generated positions where the feature fires.
 */
import type { ModelBundle, Prediction, TokenInfo } from '../api';
import { encodePrompt } from '../bundle/index';
import type { Dictionary } from '../dictionaries/types';
import { EngineError, throwIfCancelled } from '../errors';
import { tokensFromIds, topK, topPredictions } from '../forward';
import { hooks } from '../model-spec';
import { attributionEngine, type AttributionEngine, type EngineOptions } from './engine';
import { encodeFeatures, type ActiveFeatures } from './features';
import { freezeForward, type FrozenForward } from './frozen';
import { FrozenAttentionRunner, type FrozenMode } from './frozen-forward';
import { decodeSpan, type Replacement } from './replacement';
import { resolveSemantics, type InterventionSemantics } from './semantics';

export type InterventionMode = 'set' | 'scale' | 'ablate';

export interface FeatureIntervention {
  layer: number;
  feature: number;
  /** Positions to act on; absent = every position where the feature is active (BOS excluded when zeroed). */
  positions?: number[];
  mode: InterventionMode;
  /** 'set': the new activation; 'scale': the factor. */
  value?: number;
}

export interface InterveneOptions extends Partial<InterventionSemantics> {
  /** Predictions reported at the last position (default 5). */
  topK?: number;
  /** Token ids whose logit and probability are reported before and after (the graph's targets, the user's). */
  track?: number[];
  /** Greedily generate this many tokens, with and without the intervention. */
  generate?: number;
  zeroBos?: boolean;
  runtime?: EngineOptions;
}

export interface AppliedIntervention {
  layer: number;
  position: number;
  feature: number;
  /** The feature's activation before the intervention (in the intervened pass). */
  before: number;
  after: number;
}

export interface FeatureChange {
  layer: number;
  position: number;
  feature: number;
  before: number;
  after: number;
}

/** One tracked token at the last position: before, after and the change. */
export interface TrackedToken {
  tokenId: number;
  token: string;
  logitBefore: number;
  logitAfter: number;
  probBefore: number;
  probAfter: number;
  /** logitAfter − logitBefore: meaningful where probabilities saturate at 0 or 1. */
  deltaLogit: number;
  deltaProb: number;
  /** Rank (1 = top) before and after. */
  rankBefore: number;
  rankAfter: number;
}

export interface InterventionResult {
  /** What was held fixed; every number here was measured in this setting. */
  semantics: InterventionSemantics;
  tokens: TokenInfo[];
  before: Prediction[];
  after: Prediction[];
  applied: AppliedIntervention[];
  /** Features whose activation changed (not counting the intervened ones), largest change first. */
  changed: FeatureChange[];
  tracked: TrackedToken[];
  /** [vocab] logits at the last position after the intervention. */
  logits: Float32Array;
  generated?: { baseline: number[]; intervened: number[]; baselineText: string; intervenedText: string };
}

/** One forward pass of the model under given semantics, with an [L, T, d] delta on the MLP outputs. */
export interface PassOutput {
  /** [T, vocab] */
  logits: Float32Array;
  /** [T, d] per layer: the transcoder inputs. */
  tcIn: Float32Array[];
  /** [T, d] per layer: what each MLP adds to the residual, delta included. */
  mlpOut: Float32Array[];
}

/** A prompt's clean forward pass plus a way to run it again with MLP-output deltas, under `semantics`. */
export interface ModelPass {
  semantics: InterventionSemantics;
  tokens: TokenInfo[];
  frozen: FrozenForward;
  zeroBos: boolean;
  run(delta: Float32Array, signal?: AbortSignal): Promise<PassOutput>;
}

const frozenRunners = new WeakMap<AttributionEngine, Map<FrozenMode, Promise<FrozenAttentionRunner>>>();

function frozenRunner(engine: AttributionEngine, mode: FrozenMode): Promise<FrozenAttentionRunner> {
  let m = frozenRunners.get(engine);
  if (!m) frozenRunners.set(engine, (m = new Map()));
  let r = m.get(mode);
  if (!r) {
    r = FrozenAttentionRunner.create(engine.bundle, engine.replacement, mode, engine.options);
    m.set(mode, r);
  }
  return r;
}

export function promptTokens(bundle: ModelBundle, prompt: string | number[]): TokenInfo[] {
  const tokens = typeof prompt === 'string' ? encodePrompt(bundle, prompt) : tokensFromIds(bundle, prompt);
  if (!tokens.length) throw new EngineError('PROMPT_EMPTY', 'The prompt is empty.', 'Type some text to analyse.');
  return tokens;
}

/** Runs the clean forward pass once and returns a runner for intervened passes under `semantics`. */
export async function modelPass(engine: AttributionEngine, tokens: TokenInfo[], semantics: Partial<InterventionSemantics> = {}, opts: { zeroBos?: boolean; signal?: AbortSignal } = {}): Promise<ModelPass> {
  const sem = resolveSemantics(semantics);
  const { bundle, replacement: r } = engine;
  const spec = bundle.spec;
  const L = spec.nLayers;
  const cache = await engine.forward.runTokens(tokens, { signal: opts.signal });
  const frozen = freezeForward(spec, cache, r.inputHook);
  const zeroBos = opts.zeroBos ?? (tokens[0].special || tokens[0].id === spec.bosTokenId);
  const inputHook = (l: number) => (r.inputHook === 'resid_mid' ? hooks.residMid(l) : hooks.mlpIn(l));
  if (sem.attention === 'recomputed') {
    return {
      semantics: sem,
      tokens,
      frozen,
      zeroBos,
      async run(delta, signal) {
        throwIfCancelled(signal);
        const c = await engine.forward.runTokens(tokens, { mlpOutDelta: delta, signal });
        return {
          logits: c.logits.data,
          tcIn: Array.from({ length: L }, (_, l) => c.hooks.get(inputHook(l))!.data),
          mlpOut: Array.from({ length: L }, (_, l) => c.hooks.get(hooks.mlpOut(l))!.data),
        };
      },
    };
  }
  const runner = await frozenRunner(engine, sem.norms === 'frozen' ? 'intervention-frozen-norms' : 'intervention');
  return {
    semantics: sem,
    tokens,
    frozen,
    zeroBos,
    async run(delta, signal) {
      throwIfCancelled(signal);
      const o = await runner.run(frozen, delta);
      return { logits: o.logits, tcIn: o.tcIn, mlpOut: o.mlpOut! };
    },
  };
}

/** Activations of feature f of layer l at every position, from that layer's transcoder input x [T, d]. */
export function featureActivations(r: Replacement, l: number, f: number, x: Float32Array, T: number): Float64Array {
  const t = r.layers[l];
  const d = t.wEnc.cols;
  const acts = new Float64Array(T);
  for (let p = 0; p < T; p++) {
    let pre = t.bEnc[f];
    for (let i = 0; i < d; i++) pre += x[p * d + i] * t.wEnc.data[f * d + i];
    acts[p] = r.activation === 'relu' ? Math.max(0, pre) : pre > t.threshold![f] ? pre : 0;
  }
  return acts;
}

/** Adds (next − now) × feature f's decoder (every layer a CLT feature writes to) at position p. */
export function addDecoder(r: Replacement, delta: Float32Array, T: number, l: number, f: number, p: number, amount: number): void {
  const t = r.layers[l];
  const d = t.wEnc.cols;
  const span = decodeSpan(r, l);
  for (let k = 0; k < span; k++) {
    const off = ((l + k) * T + p) * d;
    const w = f * span * d + k * d;
    for (let i = 0; i < d; i++) delta[off + i] += amount * t.wDec.data[w + i];
  }
}

export function validateInterventions(r: Replacement, nLayers: number, T: number, interventions: FeatureIntervention[]): void {
  for (const iv of interventions) {
    const F = r.layers[iv.layer]?.wEnc.rows;
    if (F === undefined) throw new EngineError('DICTIONARY_MISMATCH', `Layer ${iv.layer} does not exist (the model has ${nLayers} layers).`, 'Pick a layer shown in the graph.');
    if (!Number.isInteger(iv.feature) || iv.feature < 0 || iv.feature >= F) throw new EngineError('DICTIONARY_MISMATCH', `Feature ${iv.feature} does not exist at layer ${iv.layer} (0..${F - 1}).`, 'Pick a feature shown in the graph.');
    for (const p of iv.positions ?? []) if (!Number.isInteger(p) || p < 0 || p >= T) throw new EngineError('PROMPT_TOO_LONG', `Position ${p} is outside the prompt (0..${T - 1}).`, 'Pick a token of the prompt.');
    if (iv.mode !== 'ablate' && !Number.isFinite(iv.value)) throw new EngineError('INTERNAL', `A '${iv.mode}' intervention needs a finite value.`, 'Type a number in the value box.');
  }
}

/**
 * circuit-tracer's layer-by-layer intervention on a ModelPass: returns the MLP-output delta that realises
 * it, what was applied, and the final intervened pass.
 */
export async function applyInterventions(engine: AttributionEngine, pass: ModelPass, interventions: FeatureIntervention[], signal?: AbortSignal): Promise<{ delta: Float32Array; applied: AppliedIntervention[]; final: PassOutput }> {
  const r = engine.replacement;
  const spec = engine.bundle.spec;
  const L = spec.nLayers, d = spec.dModel, T = pass.tokens.length;
  validateInterventions(r, L, T, interventions);
  const delta = new Float32Array(L * T * d);
  const applied: AppliedIntervention[] = [];
  const layers = [...new Set(interventions.map((i) => i.layer))].sort((a, b) => a - b);
  for (const l of layers) {
    const x = (await pass.run(delta, signal)).tcIn[l];
    for (const iv of interventions.filter((i) => i.layer === l)) {
      const acts = featureActivations(r, l, iv.feature, x, T);
      const positions = iv.positions ?? Array.from({ length: T }, (_, p) => p).filter((p) => acts[p] !== 0 && !(pass.zeroBos && p === 0));
      for (const p of positions) {
        const now = acts[p];
        const next = iv.mode === 'ablate' ? 0 : iv.mode === 'scale' ? now * iv.value! : iv.value!;
        applied.push({ layer: l, position: p, feature: iv.feature, before: now, after: next });
        addDecoder(r, delta, T, l, iv.feature, p, next - now);
      }
    }
  }
  return { delta, applied, final: await pass.run(delta, signal) };
}

export async function intervene(
  bundle: ModelBundle,
  dictionary: Dictionary,
  prompt: string | number[],
  interventions: FeatureIntervention[],
  options: InterveneOptions = {},
  ctx: { signal?: AbortSignal } = {},
): Promise<InterventionResult> {
  const engine = await attributionEngine(bundle, dictionary, options.runtime);
  return interveneWith(engine, prompt, interventions, options, ctx);
}

export async function interveneWith(
  engine: AttributionEngine,
  prompt: string | number[],
  interventions: FeatureIntervention[],
  options: InterveneOptions = {},
  ctx: { signal?: AbortSignal } = {},
): Promise<InterventionResult> {
  const { bundle } = engine;
  const spec = bundle.spec;
  const L = spec.nLayers, d = spec.dModel, V = spec.vocabSize;
  const tokens = promptTokens(bundle, prompt);
  const T = tokens.length;
  for (const id of options.track ?? []) if (!Number.isInteger(id) || id < 0 || id >= V) throw new EngineError('INTERNAL', `Token id ${id} is not in the vocabulary (0..${V - 1}).`, 'Pick a token the model knows.');
  const pass = await modelPass(engine, tokens, { attention: options.attention, norms: options.norms }, { zeroBos: options.zeroBos, signal: ctx.signal });
  const { frozen, zeroBos } = pass;
  validateInterventions(engine.replacement, L, T, interventions);
  const { applied, final } = await applyInterventions(engine, pass, interventions, ctx.signal);
  const k = options.topK ?? 5;
  const lastBefore = frozen.logits.subarray((T - 1) * V, T * V);
  const lastAfter = final.logits.slice((T - 1) * V, T * V);

  // Feature activations after the intervention, against those before.
  const encodeAt = (inputs: Float32Array[]): Promise<ActiveFeatures> => {
    const f: FrozenForward = { ...frozen, inputs, mlpOut: frozen.mlpOut };
    return encodeFeatures(engine.encode, f, L, d, zeroBos);
  };
  const [before, after] = await Promise.all([encodeAt(frozen.inputs), encodeAt(final.tcIn)]);
  const intervened = new Set(applied.map((a) => `${a.layer}:${a.position}:${a.feature}`));
  const changed = diffFeatures(before, after).filter((c) => !intervened.has(`${c.layer}:${c.position}:${c.feature}`));

  const result: InterventionResult = {
    semantics: pass.semantics,
    tokens,
    before: topPredictions(bundle, lastBefore, k),
    after: topPredictions(bundle, lastAfter, k),
    applied,
    changed,
    tracked: trackTokens(bundle, lastBefore, lastAfter, options.track ?? []),
    logits: lastAfter,
  };
  if (options.generate && options.generate > 0) {
    const ids = tokens.map((t) => t.id);
    const baseline = await greedy(engine, ids, options.generate, first(lastBefore), async (seq) => {
      const c = await engine.forward.run(seq, { signal: ctx.signal });
      return c.logits.data;
    });
    const steered = await greedy(engine, ids, options.generate, first(lastAfter), async (seq) => {
      const p = await modelPass(engine, tokensFromIds(bundle, seq), pass.semantics, { zeroBos, signal: ctx.signal });
      return (await applyInterventions(engine, p, interventions, ctx.signal)).final.logits;
    });
    result.generated = { baseline, intervened: steered, baselineText: bundle.tokenizer.decode(baseline), intervenedText: bundle.tokenizer.decode(steered) };
  }
  return result;
}

/** A token named by its text (exactly, else with surrounding spaces trimmed; one token) or as #ID. */
export function resolveToken(bundle: ModelBundle, text: string): number {
  const m = /^#(\d+)$/.exec(text.trim());
  const V = bundle.spec.vocabSize;
  if (m && Number(m[1]) < V) return Number(m[1]);
  const exact: number[] = [], trimmed: number[] = [];
  for (let id = 0; id < V; id++) {
    const t = bundle.tokenizer.tokenText(id);
    if (t === text) exact.push(id);
    else if (t.trim() === text.trim()) trimmed.push(id);
  }
  const ids = exact.length ? exact : trimmed;
  if (ids.length === 1) return ids[0];
  if (!ids.length) throw new EngineError('INTERNAL', `"${text}" is not a token of the model's vocabulary.`, 'Type one token, as the model spells it (or #ID).');
  throw new EngineError('INTERNAL', `"${text}" names ${ids.length} tokens (${ids.slice(0, 5).map((i) => JSON.stringify(bundle.tokenizer.tokenText(i))).join(', ')}).`, 'Type the token exactly, spaces included, or #ID.');
}

/** Logit, probability and rank of each tracked token before and after. */
export function trackTokens(bundle: ModelBundle, before: Float32Array, after: Float32Array, ids: number[]): TrackedToken[] {
  const lse = (x: Float32Array) => {
    let m = -Infinity;
    for (let i = 0; i < x.length; i++) if (x[i] > m) m = x[i];
    let z = 0;
    for (let i = 0; i < x.length; i++) z += Math.exp(x[i] - m);
    return m + Math.log(z);
  };
  const rank = (x: Float32Array, id: number) => {
    let n = 1;
    for (let i = 0; i < x.length; i++) if (x[i] > x[id]) n++;
    return n;
  };
  const zb = lse(before), za = lse(after);
  return [...new Set(ids)].map((id) => {
    const probBefore = Math.exp(before[id] - zb), probAfter = Math.exp(after[id] - za);
    return {
      tokenId: id,
      token: bundle.tokenizer.tokenText(id),
      logitBefore: before[id],
      logitAfter: after[id],
      probBefore,
      probAfter,
      deltaLogit: after[id] - before[id],
      deltaProb: probAfter - probBefore,
      rankBefore: rank(before, id),
      rankAfter: rank(after, id),
    };
  });
}

function first(logits: Float32Array): number {
  return topK(logits, 1)[0];
}

/** Greedy continuation: `firstId` is the prediction after the prompt; then one step per token. */
async function greedy(engine: AttributionEngine, ids: number[], n: number, firstId: number, logitsOf: (seq: number[]) => Promise<Float32Array>): Promise<number[]> {
  const spec = engine.bundle.spec;
  const V = spec.vocabSize;
  const out = [firstId];
  while (out.length < n && ids.length + out.length < spec.maxPositions) {
    const all = [...ids, ...out];
    const logits = await logitsOf(all);
    out.push(first(logits.subarray((all.length - 1) * V, all.length * V)));
  }
  return out;
}

/** Features whose activation differs between two encodings (both sorted by layer, position, index). */
function diffFeatures(a: ActiveFeatures, b: ActiveFeatures): FeatureChange[] {
  const key = (f: ActiveFeatures, i: number) => `${f.layer[i]}:${f.pos[i]}:${f.index[i]}`;
  const before = new Map<string, number>();
  for (let i = 0; i < a.act.length; i++) before.set(key(a, i), i);
  const out: FeatureChange[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < b.act.length; i++) {
    const k = key(b, i);
    seen.add(k);
    const j = before.get(k);
    const prev = j === undefined ? 0 : a.act[j];
    if (Math.abs(b.act[i] - prev) > 1e-5 * Math.max(1, Math.abs(prev))) out.push({ layer: b.layer[i], position: b.pos[i], feature: b.index[i], before: prev, after: b.act[i] });
  }
  for (let j = 0; j < a.act.length; j++) {
    if (!seen.has(key(a, j))) out.push({ layer: a.layer[j], position: a.pos[j], feature: a.index[j], before: a.act[j], after: 0 });
  }
  return out.sort((x, y) => Math.abs(y.after - y.before) - Math.abs(x.after - x.before));
}
