/**
 * Verify what an attribution graph claims against the real model.
 *
 * The graph is a linear picture: attention patterns and norm scales frozen, MLPs replaced by transcoder
 * features plus error nodes. Its prediction for ablating a set of features is the linear propagation of
 * their removal along its edges: a feature losing activation a changes each downstream feature's (and
 * logit's) value by edge × (change / a), layer by layer. The measured effect is a real intervention
 * (./intervene.ts) under chosen semantics. Where the two differ in sign, or by more than a factor of two,
 * the effect runs through what the graph froze or left out (attention, normalisation, the MLPs'
 * nonlinearity beyond the transcoder), and the node is flagged.
 *
 * Effects are on each target logit's demeaned value (logit − mean over the vocabulary), the quantity
 * the graph's logit nodes stand for; with Gemma-2's final soft-cap, the logit before the cap (see
 * targetValues).
 *
 * Subgraph faithfulness: keep only a set of features (every other active feature ablated, layer by
 * layer as they are recomputed) with the error terms either kept (the MLP's residual beyond its
 * features stays) or ablated (each MLP replaced by the kept features' reconstruction plus the
 * transcoder's bias and skip), and report the fraction of each target's value it recovers:
 * (v_kept − v_none) / (v_model − v_none), where v_none keeps no feature in the same mode. Keeping every
 * active feature with errors kept is the model itself: 1.
 */
import type { AttributionEngine } from './engine';
import { addDecoder, applyInterventions, featureActivations, modelPass, type FeatureIntervention, type ModelPass } from './intervene';
import type { RawAttribution } from './attribute';
import { describeSemantics, type InterventionSemantics } from './semantics';
import type { FaithfulnessTargetView } from '../../shared/protocol';

export interface FeatureKey {
  layer: number;
  position: number;
  feature: number;
}

export interface TargetEffect {
  tokenId: number;
  token: string;
  /** The model's probability of the token (which targets matter for flags). */
  probability: number;
  /** The graph's linear prediction of the change in the demeaned logit. */
  predicted: number;
  /** The change measured in the model under the report's semantics. */
  measured: number;
  /** Measured differs in sign from predicted, or by more than `ratio`×, and is not below the floor. */
  flagged: boolean;
}

export interface GroupVerification {
  /** The features ablated together (one, for a node). */
  features: (FeatureKey & { activation: number; label?: string })[];
  effects: TargetEffect[];
  /** Flagged on any target whose probability is at least `flagMinProb`. */
  flagged: boolean;
}

export interface VerifyOptions {
  /** Disagreement factor that flags (default 2). */
  ratio?: number;
  /** Effects whose predicted and measured magnitudes are both below this are never flagged (default 0.1 logit). */
  floor?: number;
  /** Only targets at least this probable flag a node (default 0.05; the top target always does). */
  flagMinProb?: number;
  signal?: AbortSignal;
  /** Called after each group is measured (done of total), for a progress bar. */
  onProgress?: (done: number, total: number) => void;
}

export interface VerifyReport {
  semantics: InterventionSemantics;
  /** "attention …, norms …" */
  setting: string;
  groups: GroupVerification[];
  reason: string;
}

export const FLAG_REASON = 'effect runs through attention or normalisation (or the MLPs beyond the transcoder): the measured effect differs in sign or by more than 2× from the graph';

/** The flag rule, as a pure function so tests and the UI apply exactly the same one. */
export function contradicts(predicted: number, measured: number, ratio = 2, floor = 0.1): boolean {
  const ap = Math.abs(predicted), am = Math.abs(measured);
  if (ap < floor && am < floor) return false;
  if (Math.sign(predicted) !== Math.sign(measured)) return true;
  return am > ratio * ap || ap > ratio * am;
}

/** Index of each active feature (layer, position, index) in `raw.features`, and its graph node when selected. */
function featureLookup(raw: RawAttribution): { featureOf: Map<string, number>; nodeOf: Map<number, number> } {
  const f = raw.features;
  const featureOf = new Map<string, number>();
  for (let k = 0; k < f.act.length; k++) featureOf.set(`${f.layer[k]}:${f.pos[k]}:${f.index[k]}`, k);
  const nodeOf = new Map<number, number>();
  raw.selected.forEach((k, i) => nodeOf.set(k, i));
  return { featureOf, nodeOf };
}

/**
 * The graph's linear prediction of ablating `group` (graph node indices of features) on each target
 * logit's value: δ of an ablated feature is −activation; of every other feature, the sum over its
 * in-edges of weight × δ_source / activation_source, in layer order (edges only run to later layers).
 */
export function predictedEffects(raw: RawAttribution, group: number[]): Float64Array {
  const a = raw.adjacency;
  const nF = raw.layout.nFeatures;
  const act = Float64Array.from(raw.selected, (k) => raw.features.act[k]);
  const layer = Int32Array.from(raw.selected, (k) => raw.features.layer[k]);
  const delta = new Float64Array(nF);
  const fixed = new Uint8Array(nF);
  for (const i of group) {
    delta[i] = -act[i];
    fixed[i] = 1;
  }
  const rowEffect = (row: number) => {
    let s = 0;
    for (let e = a.rowPtr[row]; e < a.rowPtr[row + 1]; e++) {
      const c = a.col[e];
      if (c < nF && delta[c] !== 0) s += (a.val[e] * delta[c]) / act[c];
    }
    return s;
  };
  const order = Array.from({ length: nF }, (_, i) => i).sort((x, y) => layer[x] - layer[y]);
  for (const i of order) if (!fixed[i]) delta[i] = rowEffect(i);
  const logitStart = a.nNodes - raw.layout.nLogits;
  return Float64Array.from({ length: raw.layout.nLogits }, (_, j) => rowEffect(logitStart + j));
}

/**
 * Demeaned value of each target at the last position of [T, V] (or [V]) logits. With a final soft-cap
 * (Gemma-2: logits = cap·tanh(z / cap)) the value is taken before the cap, z = cap·atanh(logit / cap):
 * the graph's logit nodes are the unembedding's demeaned readout of the residual (circuit-tracer leaves
 * the cap out of attribution), and near the cap tanh shrinks every change several-fold, which would
 * read as a contradiction that has nothing to do with attention or normalisation.
 */
export function targetValues(logits: Float32Array, V: number, targetIds: number[], cap?: number): Float64Array {
  const last = logits.subarray(logits.length - V);
  const row = cap ? Float64Array.from(last, (y) => cap * Math.atanh(Math.max(-1 + 1e-7, Math.min(1 - 1e-7, y / cap)))) : last;
  let mean = 0;
  for (let i = 0; i < V; i++) mean += row[i];
  mean /= V;
  return Float64Array.from(targetIds, (id) => row[id] - mean);
}

/**
 * Verifies groups of features (each ablated together) of an attribution: predicted next to measured
 * on every target logit, under `semantics`.
 */
export async function verifyGroups(
  engine: AttributionEngine,
  raw: RawAttribution,
  groups: FeatureKey[][],
  semantics: Partial<InterventionSemantics>,
  opts: VerifyOptions & { label?: (k: FeatureKey) => string | undefined } = {},
): Promise<VerifyReport> {
  const { bundle } = engine;
  const V = bundle.spec.vocabSize;
  const ratio = opts.ratio ?? 2, floor = opts.floor ?? 0.1, minProb = opts.flagMinProb ?? 0.05;
  const { featureOf, nodeOf } = featureLookup(raw);
  const pass = await modelPass(engine, raw.tokens, semantics, { signal: opts.signal });
  const targetIds = raw.targets.map((t) => t.tokenId);
  const cap = bundle.spec.finalSoftcap;
  const base = targetValues(pass.frozen.logits, V, targetIds, cap);
  const out: GroupVerification[] = [];
  for (const group of groups) {
    const nodes: number[] = [];
    const features: GroupVerification['features'] = [];
    for (const key of group) {
      const k = featureOf.get(`${key.layer}:${key.position}:${key.feature}`);
      const node = k === undefined ? undefined : nodeOf.get(k);
      if (k === undefined || node === undefined) throw new Error(`L${key.layer}#${key.feature} at position ${key.position} is not an active feature of this graph.`);
      nodes.push(node);
      features.push({ ...key, activation: raw.features.act[k], label: opts.label?.(key) });
    }
    const predicted = predictedEffects(raw, nodes);
    const ivs: FeatureIntervention[] = group.map((g) => ({ layer: g.layer, feature: g.feature, positions: [g.position], mode: 'ablate' }));
    const { final } = await applyInterventions(engine, pass, ivs, opts.signal);
    const after = targetValues(final.logits, V, targetIds, cap);
    const effects = raw.targets.map((t, j) => {
      const measured = after[j] - base[j];
      return { tokenId: t.tokenId, token: bundle.tokenizer.tokenText(t.tokenId), probability: t.probability, predicted: predicted[j], measured, flagged: contradicts(predicted[j], measured, ratio, floor) };
    });
    const flagged = effects.some((e, j) => e.flagged && (j === 0 || e.probability >= minProb));
    out.push({ features, effects, flagged });
    opts.onProgress?.(out.length, groups.length);
  }
  return { semantics: pass.semantics, setting: describeSemantics(pass.semantics), groups: out, reason: FLAG_REASON.replace('2×', `${ratio}×`) };
}

/** The graph's feature nodes, most influential first (influence on the targets, as pruning ranks them). */
export function topFeatureNodes(raw: RawAttribution, influence: Float64Array, n: number): FeatureKey[] {
  const f = raw.features;
  return Array.from({ length: raw.layout.nFeatures }, (_, i) => i)
    .sort((x, y) => influence[y] - influence[x] || x - y)
    .slice(0, n)
    .map((i) => {
      const k = raw.selected[i];
      return { layer: f.layer[k], position: f.pos[k], feature: f.index[k] };
    });
}

/** One target logit's demeaned value with the model, no feature, and only the subgraph kept: the protocol's shape. */
export type FaithfulnessTarget = FaithfulnessTargetView;

export interface Faithfulness {
  semantics: InterventionSemantics;
  setting: string;
  /** Features kept / active features (BOS position excluded when zeroed). */
  kept: number;
  active: number;
  errorsKept: FaithfulnessTarget[];
  errorsAblated: FaithfulnessTarget[];
}

/**
 * Runs the model keeping only `keep` among the active features, errors kept or ablated; returns the
 * last-position logits. Layer by layer: each layer's features are recomputed from its current input.
 */
async function keepOnly(engine: AttributionEngine, pass: ModelPass, keep: Set<string>, errors: 'kept' | 'ablated', signal?: AbortSignal): Promise<Float32Array> {
  const r = engine.replacement;
  const spec = engine.bundle.spec;
  const L = spec.nLayers, d = spec.dModel, T = pass.tokens.length;
  const delta = new Float32Array(L * T * d);
  // recon[l]: the kept features' reconstruction written into layer l so far (CLT features write forward).
  const recon = new Float32Array(L * T * d);
  for (let l = 0; l < L; l++) {
    const out = await pass.run(delta, signal);
    const x = out.tcIn[l];
    const t = r.layers[l];
    const F = t.wEnc.rows;
    for (let f = 0; f < F; f++) {
      const acts = featureActivations(r, l, f, x, T);
      for (let p = 0; p < T; p++) {
        if (acts[p] === 0) continue;
        const atBos = pass.zeroBos && p === 0;
        if (errors === 'kept') {
          if (!atBos && !keep.has(`${l}:${p}:${f}`)) addDecoder(r, delta, T, l, f, p, -acts[p]);
        } else if (atBos || keep.has(`${l}:${p}:${f}`)) {
          addDecoder(r, recon, T, l, f, p, acts[p]);
        }
      }
    }
    if (errors === 'ablated') {
      // The MLP's output becomes the kept reconstruction + b_dec + skip; BOS keeps the model's output
      // when zeroed (the graph treats that position as a constant).
      const real = out.mlpOut[l];
      for (let p = 0; p < T; p++) {
        if (pass.zeroBos && p === 0) continue;
        for (let i = 0; i < d; i++) {
          let want = recon[(l * T + p) * d + i] + t.bDec[i];
          if (t.wSkip) for (let j = 0; j < d; j++) want += x[p * d + j] * t.wSkip.data[j * d + i];
          const off = (l * T + p) * d + i;
          delta[off] = want - (real[p * d + i] - delta[off]);
        }
      }
    }
  }
  const final = await pass.run(delta, signal);
  return final.logits;
}

export async function subgraphFaithfulness(
  engine: AttributionEngine,
  raw: RawAttribution,
  keep: FeatureKey[],
  semantics: Partial<InterventionSemantics>,
  opts: { signal?: AbortSignal; onProgress?: (done: number, total: number) => void } = {},
): Promise<Faithfulness> {
  const { bundle } = engine;
  const V = bundle.spec.vocabSize;
  const pass = await modelPass(engine, raw.tokens, semantics, { signal: opts.signal });
  const ids = raw.targets.map((t) => t.tokenId);
  const cap = bundle.spec.finalSoftcap;
  const model = targetValues(pass.frozen.logits, V, ids, cap);
  const keys = new Set(keep.map((k) => `${k.layer}:${k.position}:${k.feature}`));
  const f = raw.features;
  let active = 0, kept = 0;
  for (let k = 0; k < f.act.length; k++) {
    active++;
    if (keys.has(`${f.layer[k]}:${f.pos[k]}:${f.index[k]}`)) kept++;
  }
  // Four runs: no feature / the subgraph kept, errors kept / ablated.
  let runs = 0;
  const counted = async (p: Promise<Float32Array>) => {
    const r = await p;
    opts.onProgress?.(++runs, 4);
    return r;
  };
  const mode = async (errors: 'kept' | 'ablated'): Promise<FaithfulnessTarget[]> => {
    const none = targetValues(await counted(keepOnly(engine, pass, new Set(), errors, opts.signal)), V, ids, cap);
    const withKept = targetValues(await counted(keepOnly(engine, pass, keys, errors, opts.signal)), V, ids, cap);
    return raw.targets.map((t, j) => ({
      tokenId: t.tokenId,
      token: bundle.tokenizer.tokenText(t.tokenId),
      probability: t.probability,
      model: model[j],
      none: none[j],
      kept: withKept[j],
      recovered: (withKept[j] - none[j]) / (model[j] - none[j]),
    }));
  };
  return { semantics: pass.semantics, setting: describeSemantics(pass.semantics), kept, active, errorsKept: await mode('kept'), errorsAblated: await mode('ablated') };
}

/** Every active feature of an attribution (the full graph, before pruning). */
export function allFeatures(raw: RawAttribution): FeatureKey[] {
  const f = raw.features;
  return Array.from({ length: f.act.length }, (_, k) => ({ layer: f.layer[k], position: f.pos[k], feature: f.index[k] }));
}
