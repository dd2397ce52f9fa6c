/**
 * The typed messages between the extension host and the graph webview (the side-panel view and the
 * `*.graph.json` custom editor share them). Both sides import this file; esbuild bundles it twice.
 *
 * Style of microsoft/vscode-hexeditor: every message has a `type`; there is one union per direction;
 * a message that expects an answer carries a `requestId`, and its answer carries `inReplyTo` with the
 * same id. The webview opens with a `ready` request, answered by `init` with the initial state, so the
 * host never posts into a webview that has not loaded yet.
 *
 * Messages from the webview are validated with `parseFromWebview` before the host acts on them: the
 * webview renders graph files from strangers, so the host treats what it says as untrusted input.
 */

// ---------------------------------------------------------------------------------------------------
// Graph data: the validated graph file (src/shared/graph-schema.ts), the one graph type on the wire

import { GRAPH_LIMITS, type GraphFile } from './graph-schema';
export type { GraphFile };

// ---------------------------------------------------------------------------------------------------
// Feature data shown in cards and hovers

export interface FeatureRef {
  layer: number;
  feature: number;
}

export interface PredictionView {
  token: string;
  prob: number;
  logit?: number;
}

export interface ActivationExample {
  tokens: string[];
  values: number[];
}

export interface FeatureCard extends FeatureRef {
  label: string;
  examples: ActivationExample[];
  /** Promoted / suppressed tokens; `value` is the direct effect in logit units, `z` the same
   *  standardised across the layer's features (the ranking key when `logitsNote` says so). */
  topLogits: { token: string; value: number; z?: number }[];
  bottomLogits: { token: string; value: number; z?: number }[];
  /** How the logit lists were computed and ranked, in words. */
  logitsNote?: string;
  /** The label's score (F1, precision, recall, what it was scored against), when known. */
  evidence?: { f1: number; precision?: number; recall?: number; against?: string };
  /** Set when the label claims an output ("predicts X"): whether X is among the feature's effects. */
  claim?: { supported: boolean; message: string };
  /** From the feature dashboards, when built: fraction of corpus tokens it fires on, and the corpus size. */
  density?: number;
  corpusTokens?: number;
  /** An automatic description from the dashboards ("fires on: …; promotes: …"), marked as such. */
  automatic?: string;
  /** Neuronpedia's published explanation (and who wrote it) and examples, when the dashboards carry them. */
  published?: { label: string; by?: string; examples: ActivationExample[] };
}

/** A feature of the whole dictionary found by label text (from the feature dashboards). */
export interface FeatureSearchHitView extends FeatureRef {
  label: string;
  /** 'latent' | 'published' | 'automatic' | '' (no label). */
  labelSource: string;
  /** The label's F1 against what it was scored on; null when it has no score. */
  f1: number | null;
  /** Fraction of the dashboards' corpus tokens it fires on. */
  density: number;
}

/** Longest search text the host accepts from the viewer. */
export const MAX_FEATURE_QUERY = 200;

export type InterventionMode = 'ablate' | 'scale' | 'set';

export interface InterventionSpec extends FeatureRef {
  /** 'ablate' zeroes the feature, 'scale' multiplies its activation, 'set' sets it to `value`. */
  mode: InterventionMode;
  value?: number;
  /** Token positions to act on; absent = every position where the feature is active. */
  positions?: number[];
}

/** What an intervention holds fixed (src/engine/attribution/semantics.ts): named in every outcome. */
export interface InterventionSemanticsView {
  attention: 'frozen' | 'recomputed';
  norms: 'frozen' | 'recomputed';
}

/** A tracked token at the last position, before and after the intervention. */
export interface TrackedTokenView {
  tokenId: number;
  token: string;
  logitBefore: number;
  logitAfter: number;
  probBefore: number;
  probAfter: number;
  deltaLogit: number;
  deltaProb: number;
  rankBefore: number;
  rankAfter: number;
}

export interface InterventionOutcome {
  semantics: InterventionSemanticsView;
  before: PredictionView[];
  after: PredictionView[];
  /** The tokens asked to be tracked (the graph's targets and the user's), in the order asked. */
  tracked?: TrackedTokenView[];
  /** Greedy continuations without and with the intervention (applied at generated positions too). */
  generated?: { baseline: string; intervened: string };
}

/** What the panel may add to an intervention: the setting, tokens to track, tokens to generate. */
export interface InterveneOptionsView {
  semantics?: InterventionSemanticsView;
  /** Token ids to track (the graph's target logits). */
  trackIds?: number[];
  /** Tokens the user typed to track (each must be one token of the vocabulary). */
  track?: string[];
  /** Generate this many tokens with and without the intervention (0–64). */
  generate?: number;
}

/** A feature at a position, as verify names it. */
export interface FeatureAt extends FeatureRef {
  position: number;
}

/** The graph's predicted effect of an ablation next to the measured one, per target logit. */
export interface VerifyGroupView {
  features: (FeatureAt & { activation: number; label?: string })[];
  effects: { tokenId: number; token: string; probability: number; predicted: number; measured: number; flagged: boolean }[];
  flagged: boolean;
}

/** One target logit's value with only a subgraph's features kept (demeaned logits). */
export interface FaithfulnessTargetView {
  tokenId: number;
  token: string;
  probability: number;
  model: number;
  none: number;
  kept: number;
  /** (kept − none) / (model − none): the fraction of the target the subgraph recovers. */
  recovered: number;
}

/** Subgraph faithfulness: keep only the subgraph's features, errors kept or ablated (both reported). */
export interface FaithfulnessView {
  setting: string;
  /** Features kept / active features of the prompt. */
  kept: number;
  active: number;
  errorsKept: FaithfulnessTargetView[];
  errorsAblated: FaithfulnessTargetView[];
}

export interface VerifyView {
  semantics: InterventionSemanticsView;
  setting: string;
  reason: string;
  groups: VerifyGroupView[];
  /** Present when a subgraph to keep was given. */
  faithfulness?: FaithfulnessView;
}

/** What a verify request asks for, besides the groups. */
export interface VerifyOptionsView {
  semantics?: InterventionSemanticsView;
  /** Also report the faithfulness of keeping only these features. */
  keep?: FeatureAt[];
}

/** One source of a QK attribution: its graph-file node id ('bias' for the constant part), a name, its term. */
export interface QkSourceView {
  id: string;
  label: string;
  value: number;
}

/**
 * Why a head attends from a node's position to a key (src/engine/attention/qk.ts): the head's pre-softmax
 * score split into query-side × key-side source pairs, query-only and key-only terms and bias × bias.
 */
export interface QkView {
  nodeId: string;
  layer: number;
  head: number;
  /** The key/value head the query head reads (grouped-query attention). */
  kvHead: number;
  query: number;
  key: number;
  queryToken: string;
  keyToken: string;
  /** How the head and key were chosen, in words. */
  chosen: string;
  /** 1/√head_dim, or Gemma-2's query_pre_attn_scalar^-½. */
  scale: number;
  /** scale · q·k before any soft-cap: what the terms sum to. */
  scorePre: number;
  /** What the softmax sees (after Gemma-2's soft-cap). */
  score: number;
  softcap?: number;
  /** score / scorePre (soft-capped models). */
  capFactor?: number;
  /** The head's attention weight from query to key. */
  pattern: number;
  terms: { pairwise: number; queryOnly: number; keyOnly: number; biasBias: number };
  pairs: { query: Omit<QkSourceView, 'value'>; key: Omit<QkSourceView, 'value'>; value: number }[];
  /** Query-side sources against the whole key; key-side sources against the whole query. */
  queryMarginal: QkSourceView[];
  keyMarginal: QkSourceView[];
  /** Heads carrying the node's cross-position edges, by share of Σ |head loading| (the head picker's list). */
  heads: { layer: number; head: number; share: number }[];
}

/** What the panel shows: the graph plus where it came from. */
export interface GraphPayload {
  graph: GraphFile;
  /** Display name of the prompt file (or of the graph file). */
  title: string;
  /** Whether steering is possible: a model is loaded and the prompt is known. */
  canIntervene: boolean;
  /** 'analysis' = a live analysis of an open prompt; 'file' = a saved graph opened in the editor. */
  source: 'analysis' | 'file';
  /** The saved graph links back to this prompt file (shown as a link in the toolbar). */
  promptLink?: string;
  /** Feature labels scoring below this F1 read "unlabelled (best guess: …)" (setting labels.minF1). */
  labelMinF1?: number;
  /**
   * The worker keeps this analysis' unpruned attribution: the threshold control re-prunes it (looser or
   * tighter) through a `prune` request instead of only hiding nodes.
   */
  canPrune?: boolean;
  /** The prompt can be traced: the node card offers QK attribution (`requestQk`). */
  canTraceQk?: boolean;
}

export interface ViewerInitState {
  payload?: GraphPayload;
  /** Shown instead of a graph (e.g. an unreadable graph file): the panel is never blank. */
  message?: string;
}

// ---------------------------------------------------------------------------------------------------
// Messages

export type ExportFormat = 'png' | 'svg' | 'json';

export type ToWebview =
  | { type: 'init'; inReplyTo: number; state: ViewerInitState }
  | { type: 'setGraph'; payload: GraphPayload }
  | { type: 'showMessage'; message: string }
  | { type: 'focusNode'; feature: FeatureRef; position?: number }
  | { type: 'busy'; busy: boolean; label?: string }
  /** Progress of a long request (verify), by its request id. */
  | ProgressEvent
  | { type: 'featureCard'; inReplyTo: number; card?: FeatureCard; error?: string }
  | { type: 'interventionResult'; inReplyTo: number; outcome?: InterventionOutcome; error?: string }
  | { type: 'verifyResult'; inReplyTo: number; report?: VerifyView; error?: string }
  | { type: 'exportDone'; inReplyTo: number; path?: string; error?: string }
  | { type: 'pruned'; inReplyTo: number; graph?: GraphFile; error?: string }
  | { type: 'featureSearch'; inReplyTo: number; hits?: FeatureSearchHitView[]; error?: string }
  | { type: 'qkResult'; inReplyTo: number; qk?: QkView; error?: string };

/** Progress of a request still running; the webview's channel hands it to that request's listener. */
export interface ProgressEvent {
  type: 'progress';
  forRequest: number;
  stage: string;
  fraction?: number;
}

export type FromWebview =
  | { type: 'ready'; requestId: number }
  | { type: 'focusFeature'; feature: FeatureRef; nodeId: string }
  | { type: 'requestFeatureCard'; requestId: number; feature: FeatureRef }
  /** Every feature of the dictionary whose label, description or top tokens match (the dashboards). */
  | { type: 'searchFeatures'; requestId: number; query: string }
  | { type: 'intervene'; requestId: number; interventions: InterventionSpec[]; options?: InterveneOptionsView }
  /** Each group (a node, or a selection ablated together) verified against the model. */
  | { type: 'verify'; requestId: number; groups: FeatureAt[][]; semantics?: InterventionSemanticsView; keep?: FeatureAt[] }
  /** Cancels a running request (its reply then carries the cancellation as an error). */
  | { type: 'cancel'; forRequest: number }
  | { type: 'export'; requestId: number; format: ExportFormat; data: string }
  /** Re-prune the shown analysis at this node threshold (cumulative influence, in (0, 1]). */
  | { type: 'prune'; requestId: number; nodeThreshold: number }
  /** QK attribution of a node (graph-file id) for a head (default: the engine's choice). */
  | { type: 'requestQk'; requestId: number; nodeId: string; head?: { layer: number; head: number } }
  | { type: 'openPrompt' }
  /** The empty panel's Analyze button: run Analyze Prompt on the active editor. */
  | { type: 'analyze' }
  /** Pins and supernodes changed: the host keeps them so Save Graph writes them into qParams. */
  | { type: 'viewState'; pinnedIds: string[]; supernodes: string[][] }
  | { type: 'log'; level: 'info' | 'error'; message: string };

export type FromWebviewType = FromWebview['type'];

// ---------------------------------------------------------------------------------------------------
// Requests, replies and handler tables: the compiler checks that every message has a handler

/** Messages from the webview that expect an answer, and the answers. */
export type Request = Extract<FromWebview, { requestId: number }>;
export type Reply = Extract<ToWebview, { inReplyTo: number }>;
/** Messages from the host that are not answers (nor a request's progress): the webview's handler table covers exactly these. */
export type HostEvent = Exclude<ToWebview, Reply | ProgressEvent>;

/** Which reply answers which request. */
export const REPLY_TO = {
  ready: 'init',
  requestFeatureCard: 'featureCard',
  searchFeatures: 'featureSearch',
  intervene: 'interventionResult',
  export: 'exportDone',
  prune: 'pruned',
  verify: 'verifyResult',
  requestQk: 'qkResult',
} as const satisfies Record<Request['type'], Reply['type']>;

export type ReplyTo<T extends Request['type']> = Extract<Reply, { type: (typeof REPLY_TO)[T] }>;

/**
 * A handler per message type. Host and webview declare their tables `satisfies MessageHandlers<…>`, so a
 * message type added to a union without a handler fails `tsc` (test/unit/extension/protocol-types.test.ts).
 */
export type MessageHandlers<M extends { type: string }, R = void> = { [T in M['type']]: (m: Extract<M, { type: T }>) => R };

/** Calls the handler of a message's type. */
export function dispatchMessage<M extends { type: string }, R>(handlers: MessageHandlers<M, R>, m: M): R {
  return (handlers[m.type as M['type']] as (m: M) => R)(m);
}

// ---------------------------------------------------------------------------------------------------
// Validation of what the webview says (it renders untrusted files, so the host checks every field)

const MAX_EXPORT_BYTES = 64 * 1024 * 1024;

function isObj(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}
function isInt(x: unknown): x is number {
  return typeof x === 'number' && Number.isInteger(x);
}
function isFeatureRef(x: unknown): x is FeatureRef {
  return isObj(x) && isInt(x.layer) && x.layer >= 0 && isInt(x.feature) && x.feature >= 0;
}
function isIntervention(x: unknown): x is InterventionSpec {
  if (!isObj(x) || !isFeatureRef(x)) return false;
  const r: Record<string, unknown> = x;
  if (r.mode !== 'ablate' && r.mode !== 'scale' && r.mode !== 'set') return false;
  if (r.mode !== 'ablate' && !(typeof r.value === 'number' && Number.isFinite(r.value))) return false;
  if (r.positions !== undefined && !(Array.isArray(r.positions) && r.positions.every((p) => isInt(p) && p >= 0))) return false;
  return true;
}

function isFeatureAt(x: unknown): x is FeatureAt {
  return isFeatureRef(x) && isInt((x as unknown as Record<string, unknown>).position) && ((x as unknown as Record<string, unknown>).position as number) >= 0;
}

function isSemantics(x: unknown): x is InterventionSemanticsView {
  const f = (v: unknown) => v === 'frozen' || v === 'recomputed';
  return isObj(x) && f(x.attention) && f(x.norms);
}

function interveneOptions(x: unknown): InterveneOptionsView | undefined {
  if (!isObj(x)) return undefined;
  const out: InterveneOptionsView = {};
  if (x.semantics !== undefined) {
    if (!isSemantics(x.semantics)) return undefined;
    out.semantics = { attention: x.semantics.attention, norms: x.semantics.norms };
  }
  if (x.trackIds !== undefined) {
    if (!Array.isArray(x.trackIds) || x.trackIds.length > 64 || !x.trackIds.every((i) => isInt(i) && i >= 0)) return undefined;
    out.trackIds = x.trackIds as number[];
  }
  if (x.track !== undefined) {
    if (!Array.isArray(x.track) || x.track.length > 64 || !x.track.every((t) => typeof t === 'string' && t.length > 0 && t.length <= 200)) return undefined;
    out.track = x.track as string[];
  }
  if (x.generate !== undefined) {
    if (!isInt(x.generate) || x.generate < 0 || x.generate > 64) return undefined;
    out.generate = x.generate;
  }
  return out;
}

/** Returns the message when it is well formed, otherwise undefined (and the host ignores it). */
export function parseFromWebview(raw: unknown): FromWebview | undefined {
  if (!isObj(raw) || typeof raw.type !== 'string') return undefined;
  const m = raw;
  switch (m.type as FromWebviewType) {
    case 'ready':
      return isInt(m.requestId) ? { type: 'ready', requestId: m.requestId } : undefined;
    case 'focusFeature':
      return isFeatureRef(m.feature) && typeof m.nodeId === 'string'
        ? { type: 'focusFeature', feature: { layer: m.feature.layer, feature: m.feature.feature }, nodeId: m.nodeId }
        : undefined;
    case 'requestFeatureCard':
      return isInt(m.requestId) && isFeatureRef(m.feature)
        ? { type: 'requestFeatureCard', requestId: m.requestId, feature: { layer: m.feature.layer, feature: m.feature.feature } }
        : undefined;
    case 'searchFeatures':
      return isInt(m.requestId) && typeof m.query === 'string' && m.query.length <= MAX_FEATURE_QUERY
        ? { type: 'searchFeatures', requestId: m.requestId, query: m.query }
        : undefined;
    case 'intervene': {
      if (!(isInt(m.requestId) && Array.isArray(m.interventions) && m.interventions.length > 0 && m.interventions.length <= 256 && m.interventions.every(isIntervention))) return undefined;
      const options = m.options === undefined ? undefined : interveneOptions(m.options);
      if (m.options !== undefined && !options) return undefined;
      return { type: 'intervene', requestId: m.requestId, interventions: m.interventions as InterventionSpec[], ...(options ? { options } : {}) };
    }
    case 'verify': {
      const groups = m.groups;
      if (!isInt(m.requestId) || !Array.isArray(groups) || !groups.length || groups.length > 64) return undefined;
      if (!groups.every((g) => Array.isArray(g) && g.length > 0 && g.length <= 256 && g.every(isFeatureAt))) return undefined;
      if (m.semantics !== undefined && !isSemantics(m.semantics)) return undefined;
      const keep = m.keep;
      if (keep !== undefined && !(Array.isArray(keep) && keep.length <= GRAPH_LIMITS.nodes && keep.every(isFeatureAt))) return undefined;
      const at = (f: FeatureAt) => ({ layer: f.layer, feature: f.feature, position: f.position });
      const clean = (groups as FeatureAt[][]).map((g) => g.map(at));
      const semantics = m.semantics ? { semantics: { attention: m.semantics.attention, norms: m.semantics.norms } } : {};
      return { type: 'verify', requestId: m.requestId, groups: clean, ...semantics, ...(keep ? { keep: (keep as FeatureAt[]).map(at) } : {}) };
    }
    case 'cancel':
      return isInt(m.forRequest) ? { type: 'cancel', forRequest: m.forRequest } : undefined;
    case 'export':
      return isInt(m.requestId) && (m.format === 'png' || m.format === 'svg' || m.format === 'json') &&
        typeof m.data === 'string' && m.data.length <= MAX_EXPORT_BYTES
        ? { type: 'export', requestId: m.requestId, format: m.format, data: m.data }
        : undefined;
    case 'openPrompt':
      return { type: 'openPrompt' };
    case 'analyze':
      return { type: 'analyze' };
    case 'viewState': {
      const ids = (x: unknown) => Array.isArray(x) && x.length <= GRAPH_LIMITS.nodes && x.every((v) => typeof v === 'string' && v.length <= 300);
      return ids(m.pinnedIds) && Array.isArray(m.supernodes) && m.supernodes.length <= 10_000 && m.supernodes.every((g) => ids(g) && (g as string[]).length >= 1)
        ? { type: 'viewState', pinnedIds: [...(m.pinnedIds as string[])], supernodes: (m.supernodes as string[][]).map((g) => [...g]) }
        : undefined;
    }
    case 'prune':
      return isInt(m.requestId) && typeof m.nodeThreshold === 'number' && m.nodeThreshold > 0 && m.nodeThreshold <= 1
        ? { type: 'prune', requestId: m.requestId, nodeThreshold: m.nodeThreshold }
        : undefined;
    case 'requestQk': {
      if (!isInt(m.requestId) || typeof m.nodeId !== 'string' || !m.nodeId.length || m.nodeId.length > 300) return undefined;
      if (m.head === undefined) return { type: 'requestQk', requestId: m.requestId, nodeId: m.nodeId };
      const h = m.head;
      return isObj(h) && isInt(h.layer) && h.layer >= 0 && isInt(h.head) && h.head >= 0
        ? { type: 'requestQk', requestId: m.requestId, nodeId: m.nodeId, head: { layer: h.layer, head: h.head } }
        : undefined;
    }
    case 'log':
      return (m.level === 'info' || m.level === 'error') && typeof m.message === 'string'
        ? { type: 'log', level: m.level, message: m.message.slice(0, 4000) }
        : undefined;
    default:
      return undefined;
  }
}
