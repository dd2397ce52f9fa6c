/**
 * The ground-truth scoreboard: how much of a compiled model's known circuit (circuit.json) the attribution
 * graphs built on a dictionary recover.
 *
 * For each prompt of the circuit, one run and one unpruned attribution through the engine session (as the
 * product makes them), pruned afterwards at each threshold setting by the same pure function the
 * product's pruning uses (pruneCsr, on the raw node order). Then:
 *
 * - Variable recovery: for each feature variable, the dictionary feature with the best F1 between "active
 *   at the variable's layer and role position" and "the variable is active", over the circuit's prompts
 *   (a CLT feature counts at its encoder layer, any layer ≤ the variable's, since it writes there), and
 *   the fraction of the prompts where that feature is active in which pruning keeps it.
 * - Nodes of a variable in one prompt: embedding and logit variables are their token's node; a feature
 *   variable is carried by the active features at its position whose decoder into its layer points along
 *   its direction (cosine ≥ 0.5), so a variable split over several features (feature splitting) still maps.
 * - Edge recovery: a ground-truth edge is in the raw graph when some pair of its endpoints' nodes has a
 *   positive direct effect (all compiled edges excite), and recovered when pruning keeps such an edge and
 *   both of its nodes. A missed edge is charged to the first step that lost it: the dictionary (an
 *   endpoint has no node), attribution (no positive raw edge, or the answer is not a target), or pruning.
 *   Recall = recovered / ground-truth edges; precision = ground-truth edges among the pruned graph's edges
 *   between non-error nodes; AUROC ranks every raw edge between non-error nodes by |weight| (ground-truth
 *   edges positive; a ground-truth edge missing from the raw graph ranks last).
 * - Replacement and completeness scores (circuit-tracer's definitions), averaged over prompts.
 * Edges through an attention pattern ("qk") are not edges of any attribution graph; they are counted apart.
 */
import type { RawAttribution } from '../attribution/attribute';
import type { AttributionEngine } from '../attribution/engine';
import { pruneCsr, type PruneResult } from '../attribution/prune';
import { decodeSpan } from '../attribution/replacement';
import { scoresOnCsr } from '../attribution/scores';
import { EngineError } from '../errors';
import type { ModelSession } from '../session';
import type { Circuit, GroundTruthPrompt, GroundTruthVariable } from './circuit';

export interface ThresholdSetting {
  node: number;
  edge: number;
}

/** The product's defaults (0.8 / 0.98) between a stricter and a looser setting. */
export const THRESHOLD_SETTINGS: ThresholdSetting[] = [
  { node: 0.6, edge: 0.9 },
  { node: 0.8, edge: 0.98 },
  { node: 0.95, edge: 0.995 },
];
export const DEFAULT_SETTING_INDEX = 1;

/** A decoder must point this close to a variable's direction for its feature to carry the variable. */
export const DIRECTION_COSINE = 0.5;
/** A variable counts as found by the dictionary when its best feature reaches this F1. */
export const FOUND_F1 = 0.5;

export interface VariableRecovery {
  id: string;
  layer: number;
  role: string;
  /** The best-F1 feature (encoder layer and index), if any feature is ever active there. */
  feature?: { layer: number; index: number };
  f1: number;
  /** Per threshold setting: fraction of the prompts with the feature active in which pruning keeps it. */
  survives: number[];
}

export interface EdgeLosses {
  dictionary: number;
  attribution: number;
  pruning: number;
}

export interface ThresholdRow {
  thresholds: ThresholdSetting;
  recovered: number;
  recall: number;
  /** Recovered edges among those on a ground-truth path to the answer's logit (see Scoreboard.edgesOnPath). */
  recoveredOnPath: number;
  recallOnPath: number;
  precision: number;
  lost: EdgeLosses;
  /** Mean over found variables of `survives` at this setting. */
  variablesSurvive: number;
  /** Mean pruned-graph size (non-error edges). */
  meanEdges: number;
}

export interface LostEdge {
  prompt: string;
  source: string;
  target: string;
  step: keyof EdgeLosses;
  /** At the default setting. */
  why: string;
}

export interface Scoreboard {
  model: string;
  dictionary: string;
  dictionaryKind: string;
  prompts: number;
  /** Prompts whose answer is among the attribution targets. */
  answered: number;
  variables: VariableRecovery[];
  variablesFound: number;
  meanF1: number;
  /** Ground-truth edges an attribution graph can show, over all prompts. */
  edges: number;
  /** Edges through attention patterns (not representable in attribution graphs). */
  qkEdges: number;
  /**
   * Of `edges`, those whose target reaches the answer's logit through ground-truth edges other than qk
   * ones. The rest feed variables that act only through an attention pattern (induction's "previous token
   * was A"): such a variable has no influence on the logits in any attribution graph, so influence
   * pruning removes it by design.
   */
  edgesOnPath: number;
  auroc: number;
  replacement: number;
  completeness: number;
  rows: ThresholdRow[];
  /** The edges lost at the default setting (at most 50). */
  lostAtDefault: LostEdge[];
}

export interface ScoreOptions {
  settings?: ThresholdSetting[];
  /** Label for the dictionary in the table (default: its name). */
  dictionaryLabel?: string;
  onPrompt?(i: number, n: number): void;
}

interface PromptGraph {
  p: GroundTruthPrompt;
  raw: RawAttribution;
  /** variable id → raw node indices carrying it in this prompt (empty: none). */
  nodes: Map<string, number[]>;
  /** Why a variable has no node (for the loss report). */
  missing: Map<string, string>;
  pruned: PruneResult[];
}

function csrWeight(raw: RawAttribution, target: number, source: number): number {
  const a = raw.adjacency;
  for (let p = a.rowPtr[target]; p < a.rowPtr[target + 1]; p++) if (a.col[p] === source) return a.val[p];
  return 0;
}

function csrEntry(raw: RawAttribution, target: number, source: number): number {
  const a = raw.adjacency;
  for (let p = a.rowPtr[target]; p < a.rowPtr[target + 1]; p++) if (a.col[p] === source) return p;
  return -1;
}

/** Feature rows of a replacement layer's decoder into layer `into` (a CLT row spans layers i..L-1). */
function decoderInto(engine: AttributionEngine, layer: number, index: number, into: number): Float32Array | undefined {
  const r = engine.replacement;
  const k = into - layer;
  if (k < 0 || k >= decodeSpan(r, layer)) return undefined;
  const W = r.layers[layer].wDec;
  const d = engine.bundle.spec.dModel;
  const off = index * W.cols + k * d;
  return W.data.subarray(off, off + d);
}

function cosine(a: Float32Array, b: Float32Array): number {
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return aa > 0 && bb > 0 ? ab / Math.sqrt(aa * bb) : 0;
}

/** Mann–Whitney AUROC (ties count half). */
export function auroc(pos: number[], neg: number[]): number {
  if (!pos.length || !neg.length) return NaN;
  const all = [...pos.map((s) => ({ s, p: 1 })), ...neg.map((s) => ({ s, p: 0 }))].sort((a, b) => a.s - b.s);
  let rankSumPos = 0;
  for (let i = 0; i < all.length; ) {
    let j = i;
    while (j < all.length && all[j].s === all[i].s) j++;
    const rank = (i + 1 + j) / 2;
    for (let k = i; k < j; k++) if (all[k].p) rankSumPos += rank;
    i = j;
  }
  return (rankSumPos - (pos.length * (pos.length + 1)) / 2) / (pos.length * neg.length);
}

/** Scores the session's primary dictionary on its model against `circuit`. */
export async function scoreCircuit(session: ModelSession, circuit: Circuit, o: ScoreOptions = {}): Promise<Scoreboard> {
  const { bundle } = session;
  const dictionary = session.requireDictionary('The ground-truth scoreboard');
  const spec = bundle.spec;
  if (circuit.dModel !== spec.dModel || circuit.nLayers !== spec.nLayers) {
    throw new EngineError('DICTIONARY_MISMATCH', `circuit.json describes d_model ${circuit.dModel}, ${circuit.nLayers} layers; the model has ${spec.dModel}, ${spec.nLayers}.`, 'Use the circuit.json that came with this model.');
  }
  const settings = o.settings ?? THRESHOLD_SETTINGS;
  const engine = await session.engineFor(dictionary);
  const isClt = engine.replacement.kind === 'clt';
  const vocab = (t: string): number => {
    const toks = bundle.tokenizer.encode(t).filter((x) => !x.special);
    if (toks.length !== 1) throw new EngineError('CONFIG_INVALID', `circuit.json token ${JSON.stringify(t)} is not one token of ${spec.name}.`);
    return toks[0].id;
  };
  const featureVars = [...circuit.variables.values()].filter((v) => v.kind === 'feature');

  // One unpruned attribution per prompt, pruned at every setting.
  const graphs: PromptGraph[] = [];
  let replacement = 0, completeness = 0;
  for (const [i, p] of circuit.prompts.entries()) {
    o.onPrompt?.(i, circuit.prompts.length);
    const raw = await session.attribute(await session.run(p.prompt));
    if (raw.tokens.length - 1 < Math.max(...Object.values(p.positions))) {
      throw new EngineError('CONFIG_INVALID', `circuit.json prompt ${JSON.stringify(p.prompt)} has positions past its ${raw.tokens.length} tokens.`);
    }
    const s = scoresOnCsr(raw.adjacency, raw.layout, raw.logitWeights);
    replacement += s.replacement;
    completeness += s.completeness;
    const pruned = settings.map((t) => pruneCsr(raw.adjacency, raw.layout, raw.logitWeights, t.node, t.edge));
    graphs.push({ p, raw, nodes: new Map(), missing: new Map(), pruned });
  }

  // Node index helpers over the raw layout: features, errors (L × T), tokens, logits.
  const featureNodesAt = (raw: RawAttribution, pos: number, maxLayer: number, exact: boolean): number[] => {
    const out: number[] = [];
    for (let k = 0; k < raw.layout.nFeatures; k++) {
      const f = raw.selected[k];
      const l = raw.features.layer[f];
      if (raw.features.pos[f] === pos && (exact ? l === maxLayer : l <= maxLayer)) out.push(k);
    }
    return out;
  };

  // Map every active variable of every prompt to its nodes.
  for (const g of graphs) {
    const { raw, p } = g;
    const T = raw.frozen.T;
    const tokStart = raw.layout.nFeatures + raw.layout.nErrors;
    const logitStart = tokStart + raw.layout.nTokens;
    for (const [id, pos] of p.active) {
      const v = circuit.variables.get(id)!;
      if (v.kind === 'embedding') {
        if (pos >= T || raw.frozen.ids[pos] !== vocab(v.token!)) throw new EngineError('CONFIG_INVALID', `circuit.json: ${id} is not the token at position ${pos} of ${JSON.stringify(p.prompt)}.`);
        g.nodes.set(id, [tokStart + pos]);
      } else if (v.kind === 'logit') {
        const tid = vocab(v.token!);
        const j = raw.targets.findIndex((t) => t.tokenId === tid);
        g.nodes.set(id, j >= 0 ? [logitStart + j] : []);
        if (j < 0) g.missing.set(id, 'attribution: the answer is not a target logit');
      } else {
        const cands = featureNodesAt(raw, pos, v.layer!, !isClt);
        const carry = cands.filter((k) => {
          const f = raw.selected[k];
          const dec = decoderInto(engine, raw.features.layer[f], raw.features.index[f], v.layer!);
          return dec !== undefined && cosine(dec, v.direction!) >= DIRECTION_COSINE;
        });
        g.nodes.set(id, carry);
        if (!carry.length) g.missing.set(id, `dictionary: no active feature at layer ${v.layer} position ${pos} writes ${id}'s direction (${cands.length} active there)`);
      }
    }
  }

  // Variable recovery: best-F1 feature per variable.
  const variables: VariableRecovery[] = featureVars.map((v) => {
    const truth = graphs.map((g) => g.p.active.has(v.id));
    const onBy = new Map<string, boolean[]>();
    graphs.forEach((g, i) => {
      const pos = g.p.positions[v.role!];
      for (const k of featureNodesAt(g.raw, pos, v.layer!, !isClt)) {
        const f = g.raw.selected[k];
        const key = `${g.raw.features.layer[f]}:${g.raw.features.index[f]}`;
        let arr = onBy.get(key);
        if (!arr) onBy.set(key, (arr = new Array<boolean>(graphs.length).fill(false)));
        arr[i] = true;
      }
    });
    let best: string | undefined, bestF1 = 0;
    const nTrue = truth.filter(Boolean).length;
    for (const [key, on] of [...onBy].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
      let tp = 0, nOn = 0;
      on.forEach((x, i) => {
        if (x) nOn++;
        if (x && truth[i]) tp++;
      });
      const f1 = tp ? (2 * tp) / (nOn + nTrue) : 0;
      if (f1 > bestF1) [best, bestF1] = [key, f1];
    }
    const feature = best ? { layer: Number(best.split(':')[0]), index: Number(best.split(':')[1]) } : undefined;
    const survives = settings.map((_, s) => {
      let n = 0, kept = 0;
      for (const g of graphs) {
        if (!feature || !g.p.active.has(v.id)) continue;
        const pos = g.p.positions[v.role!];
        const k = featureNodesAt(g.raw, pos, v.layer!, !isClt).find((k) => g.raw.features.layer[g.raw.selected[k]] === feature.layer && g.raw.features.index[g.raw.selected[k]] === feature.index);
        if (k === undefined) continue;
        n++;
        if (g.pruned[s].nodeMask[k]) kept++;
      }
      return n ? kept / n : 0;
    });
    return { id: v.id, layer: v.layer!, role: v.role!, feature, f1: bestF1, survives };
  });

  // Edges.
  let nEdges = 0, qk = 0;
  const posScores: number[] = [], negScores: number[] = [];
  let nOnPath = 0;
  const rows: ThresholdRow[] = settings.map((t) => ({ thresholds: t, recovered: 0, recall: 0, recoveredOnPath: 0, recallOnPath: 0, precision: 0, lost: { dictionary: 0, attribution: 0, pruning: 0 }, variablesSurvive: 0, meanEdges: 0 }));
  const tp = settings.map(() => 0), predicted = settings.map(() => 0);
  const lostAtDefault: LostEdge[] = [];
  const def = Math.min(DEFAULT_SETTING_INDEX, settings.length - 1);
  for (const g of graphs) {
    const { raw } = g;
    const a = raw.adjacency;
    const errStart = raw.layout.nFeatures, tokStart = errStart + raw.layout.nErrors;
    const isError = (i: number) => i >= errStart && i < tokStart;
    const gtEntries = new Set<number>();
    // Variables with a ground-truth path (no qk edges) to a logit variable.
    const reaches = new Set([...g.p.active.keys()].filter((id) => circuit.variables.get(id)!.kind === 'logit'));
    for (let changed = true; changed; ) {
      changed = false;
      for (const e of g.p.edges) {
        if (e.via !== 'qk' && reaches.has(e.target) && !reaches.has(e.source)) {
          reaches.add(e.source);
          changed = true;
        }
      }
    }
    for (const e of g.p.edges) {
      if (e.via === 'qk') {
        qk++;
        continue;
      }
      nEdges++;
      const onPath = reaches.has(e.target);
      if (onPath) nOnPath++;
      const S = g.nodes.get(e.source) ?? [], Tn = g.nodes.get(e.target) ?? [];
      const lose = (step: keyof EdgeLosses, why: string, s: number) => {
        rows[s].lost[step]++;
        if (s === def && lostAtDefault.length < 50) lostAtDefault.push({ prompt: g.p.prompt, source: e.source, target: e.target, step, why });
      };
      if (!S.length || !Tn.length) {
        const miss = g.missing.get(!S.length ? e.source : e.target) ?? 'dictionary: no node';
        const step = miss.startsWith('attribution') ? 'attribution' : 'dictionary';
        settings.forEach((_, s) => lose(step, miss, s));
        posScores.push(0);
        continue;
      }
      let bestW = 0;
      const entries: number[] = [];
      for (const s of S) {
        for (const t of Tn) {
          const w = csrWeight(raw, t, s);
          if (w > 0) entries.push(csrEntry(raw, t, s));
          bestW = Math.max(bestW, w);
        }
      }
      entries.forEach((p) => gtEntries.add(p));
      if (!entries.length) {
        settings.forEach((_, s) => lose('attribution', `attribution: no positive direct effect between their ${S.length} × ${Tn.length} nodes`, s));
        posScores.push(0);
        continue;
      }
      settings.forEach((_, s) => {
        const pr = g.pruned[s];
        const rowOf = (p: number) => {
          let lo = 0, hi = a.nNodes;
          while (hi - lo > 1) {
            const mid = (lo + hi) >> 1;
            if (a.rowPtr[mid] <= p) lo = mid;
            else hi = mid;
          }
          return lo;
        };
        const kept = entries.some((p) => pr.edgeMask[p] && pr.nodeMask[a.col[p]] && pr.nodeMask[rowOf(p)]);
        if (kept) {
          rows[s].recovered++;
          if (onPath) rows[s].recoveredOnPath++;
        }
        else lose('pruning', `pruning: ${entries.length} raw edge(s), none kept (source node kept: ${S.some((x) => pr.nodeMask[x])}, target node kept: ${Tn.some((x) => pr.nodeMask[x])})`, s);
      });
    }
    // AUROC over raw edges between non-error nodes; precision over pruned ones.
    for (let r = 0; r < a.nNodes; r++) {
      if (isError(r)) continue;
      for (let p = a.rowPtr[r]; p < a.rowPtr[r + 1]; p++) {
        const c = a.col[p];
        if (isError(c) || a.val[p] === 0) continue;
        const w = Math.abs(a.val[p]);
        if (gtEntries.has(p)) posScores.push(w);
        else negScores.push(w);
        settings.forEach((_, s) => {
          if (!g.pruned[s].edgeMask[p]) return;
          predicted[s]++;
          if (gtEntries.has(p)) tp[s]++;
        });
      }
    }
  }
  rows.forEach((row, s) => {
    row.recall = nEdges ? row.recovered / nEdges : 0;
    row.recallOnPath = nOnPath ? row.recoveredOnPath / nOnPath : 0;
    row.precision = predicted[s] ? tp[s] / predicted[s] : 0;
    row.meanEdges = predicted[s] / graphs.length;
    const found = variables.filter((v) => v.f1 >= FOUND_F1);
    row.variablesSurvive = found.length ? found.reduce((x, v) => x + v.survives[s], 0) / found.length : 0;
  });
  const answered = graphs.filter((g) => [...g.p.active].some(([id]) => circuit.variables.get(id)!.kind === 'logit' && (g.nodes.get(id) ?? []).length > 0)).length;
  return {
    model: circuit.model,
    dictionary: o.dictionaryLabel ?? dictionary.name,
    dictionaryKind: engine.replacement.kind,
    prompts: graphs.length,
    answered,
    variables,
    variablesFound: variables.filter((v) => v.f1 >= FOUND_F1).length,
    meanF1: variables.length ? variables.reduce((x, v) => x + v.f1, 0) / variables.length : 0,
    edges: nEdges,
    qkEdges: qk,
    edgesOnPath: nOnPath,
    auroc: auroc(posScores, negScores),
    replacement: replacement / graphs.length,
    completeness: completeness / graphs.length,
    rows,
    lostAtDefault,
  };
}

export type { GroundTruthVariable };
