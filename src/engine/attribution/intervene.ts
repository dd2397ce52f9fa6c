/**
 * Feature interventions (circuit-tracer's feature_intervention): set, scale or ablate transcoder
 * features at chosen positions and see what the model predicts instead.
 *
 * Semantics follow circuit-tracer: layer by layer in ascending order, an intervened feature's current
 * activation is recomputed from the (already intervened) forward pass, and the MLP output at its
 * position receives (new − current activation) × its decoder vector (a CLT feature: into every layer
 * it writes). With `freezeAttention` (the default, as in circuit-tracer) the attention patterns stay
 * those of the original prompt, so the effect travels only through the residual stream, norms and
 * MLPs; without it, attention is recomputed (through the forward graph's mlp_out_delta).
 *
 * Generation (greedy) continues from the intervened prompt with attention recomputed for the new
 * tokens; the intervention's MLP deltas stay at the prompt positions.
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
import { FrozenAttentionRunner } from './frozen-forward';
import { decodeSpan } from './replacement';

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

export interface InterveneOptions {
  /** Keep the prompt's attention patterns (default true, as circuit-tracer). */
  freezeAttention?: boolean;
  /** Predictions reported at the last position (default 5). */
  topK?: number;
  /** Greedily generate this many tokens after the intervened prompt (and without the intervention). */
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

export interface InterventionResult {
  tokens: TokenInfo[];
  before: Prediction[];
  after: Prediction[];
  applied: AppliedIntervention[];
  /** Features whose activation changed (not counting the intervened ones), largest change first. */
  changed: FeatureChange[];
  /** [vocab] logits at the last position after the intervention. */
  logits: Float32Array;
  generated?: { baseline: number[]; intervened: number[]; baselineText: string; intervenedText: string };
}

const frozenRunners = new WeakMap<AttributionEngine, Promise<FrozenAttentionRunner>>();

function frozenRunner(engine: AttributionEngine): Promise<FrozenAttentionRunner> {
  let r = frozenRunners.get(engine);
  if (!r) {
    r = FrozenAttentionRunner.create(engine.bundle, engine.replacement, 'intervention', engine.options);
    frozenRunners.set(engine, r);
  }
  return r;
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
  const { bundle, replacement: r } = engine;
  const spec = bundle.spec;
  const L = spec.nLayers, d = spec.dModel, V = spec.vocabSize;
  const tokens = typeof prompt === 'string' ? encodePrompt(bundle, prompt) : tokensFromIds(bundle, prompt);
  const T = tokens.length;
  const zeroBos = options.zeroBos ?? (tokens[0].special || tokens[0].id === spec.bosTokenId);
  for (const iv of interventions) {
    const F = r.layers[iv.layer]?.wEnc.rows;
    if (F === undefined) throw new EngineError('DICTIONARY_MISMATCH', `Layer ${iv.layer} does not exist (the model has ${L} layers).`, 'Pick a layer shown in the graph.');
    if (!Number.isInteger(iv.feature) || iv.feature < 0 || iv.feature >= F) throw new EngineError('DICTIONARY_MISMATCH', `Feature ${iv.feature} does not exist at layer ${iv.layer} (0..${F - 1}).`, 'Pick a feature shown in the graph.');
    for (const p of iv.positions ?? []) if (!Number.isInteger(p) || p < 0 || p >= T) throw new EngineError('PROMPT_TOO_LONG', `Position ${p} is outside the prompt (0..${T - 1}).`, 'Pick a token of the prompt.');
    if (iv.mode !== 'ablate' && !Number.isFinite(iv.value)) throw new EngineError('INTERNAL', `A '${iv.mode}' intervention needs a finite value.`);
  }
  const cache = await engine.forward.runTokens(tokens, { signal: ctx.signal });
  const frozen = freezeForward(spec, cache, r.inputHook);
  const runner = options.freezeAttention === false ? undefined : await frozenRunner(engine);
  const delta = new Float32Array(L * T * d);
  const inputHook = (l: number) => (r.inputHook === 'resid_mid' ? hooks.residMid(l) : hooks.mlpIn(l));
  const pass = async (): Promise<{ logits: Float32Array; tcIn: Float32Array[] }> => {
    throwIfCancelled(ctx.signal);
    if (runner) return runner.run(frozen, delta);
    const c = await engine.forward.runTokens(tokens, { mlpOutDelta: delta, signal: ctx.signal });
    return { logits: c.logits.data, tcIn: Array.from({ length: L }, (_, l) => c.hooks.get(inputHook(l))!.data) };
  };

  const applied: AppliedIntervention[] = [];
  const layers = [...new Set(interventions.map((i) => i.layer))].sort((a, b) => a - b);
  for (const l of layers) {
    const x = (await pass()).tcIn[l];
    const t = r.layers[l];
    const span = decodeSpan(r, l);
    for (const iv of interventions.filter((i) => i.layer === l)) {
      const f = iv.feature;
      const acts = new Float64Array(T);
      for (let p = 0; p < T; p++) {
        let pre = t.bEnc[f];
        for (let i = 0; i < d; i++) pre += x[p * d + i] * t.wEnc.data[f * d + i];
        acts[p] = r.activation === 'relu' ? Math.max(0, pre) : pre > t.threshold![f] ? pre : 0;
      }
      const positions = iv.positions ?? Array.from({ length: T }, (_, p) => p).filter((p) => acts[p] !== 0 && !(zeroBos && p === 0));
      for (const p of positions) {
        const now = acts[p];
        const next = iv.mode === 'ablate' ? 0 : iv.mode === 'scale' ? now * iv.value! : iv.value!;
        applied.push({ layer: l, position: p, feature: f, before: now, after: next });
        for (let k = 0; k < span; k++) {
          const off = ((l + k) * T + p) * d;
          const w = f * span * d + k * d;
          for (let i = 0; i < d; i++) delta[off + i] += (next - now) * t.wDec.data[w + i];
        }
      }
    }
  }
  const final = await pass();
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
    tokens,
    before: topPredictions(bundle, lastBefore, k),
    after: topPredictions(bundle, lastAfter, k),
    applied,
    changed,
    logits: lastAfter,
  };
  if (options.generate && options.generate > 0) {
    const ids = tokens.map((t) => t.id);
    const baseline = await greedy(engine, ids, options.generate, undefined, first(lastBefore), ctx.signal);
    const intervened2 = await greedy(engine, ids, options.generate, delta, first(lastAfter), ctx.signal);
    result.generated = { baseline, intervened: intervened2, baselineText: bundle.tokenizer.decode(baseline), intervenedText: bundle.tokenizer.decode(intervened2) };
  }
  return result;
}

function first(logits: Float32Array): number {
  return topK(logits, 1)[0];
}

/** Greedy continuation: `firstId` is the prediction after the prompt; then one forward pass per token. */
async function greedy(engine: AttributionEngine, ids: number[], n: number, delta: Float32Array | undefined, firstId: number, signal?: AbortSignal): Promise<number[]> {
  const spec = engine.bundle.spec;
  const L = spec.nLayers, d = spec.dModel, T = ids.length, V = spec.vocabSize;
  const out = [firstId];
  while (out.length < n && T + out.length < spec.maxPositions) {
    const all = [...ids, ...out];
    const Tn = all.length;
    let dl: Float32Array | undefined;
    if (delta) {
      dl = new Float32Array(L * Tn * d);
      for (let l = 0; l < L; l++) dl.set(delta.subarray(l * T * d, (l + 1) * T * d), l * Tn * d);
    }
    const c = await engine.forward.run(all, { mlpOutDelta: dl, signal });
    out.push(first(c.logits.data.subarray((Tn - 1) * V, Tn * V)));
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
