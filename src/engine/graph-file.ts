/**
 * The graph JSON of circuit-tracer's `create_graph_files` and Neuronpedia's attribution-graph frontend:
 * typed, validated on read, validated again on write, and converted to / from the engine's
 * AttributionGraph.
 *
 * A graph file may come from a stranger, so parsing never trusts it:
 * - sizes are bounded before and after JSON.parse (bytes, nodes, links, tokens, string lengths);
 * - every value we keep is copied field by field into objects we create, so keys such as `__proto__`
 *   or `constructor` in the file stay inert data (we never Object.assign raw data, and we read only
 *   own properties);
 * - every error names the path into the JSON that is wrong, e.g. `nodes[12].ctx_idx`;
 * - labels stay plain strings; whoever renders them sets textContent (the webview never parses them).
 *
 * Format facts (node ids, feature types, clerps) live in src/shared/graph-schema.ts with the types.
 * Our own fields live in `metadata.circuit_inspector`, plus `metadata.prompt_file` (the prompt file,
 * relative to the graph file's folder), which the extension reads to link a saved graph back.
 */
import { closeSync, readSync, writeFileSync } from 'node:fs';
import { EngineError } from './errors';
import { shortF32 } from './short-float';
import { openRegularFile } from './user-files';
import type { AttributionGraph, AttributionNode, GraphToken, Supernode, TargetLogit } from './attribution/types';
import {
  FLOAT32_MAX,
  FEATURE_TYPE,
  GRAPH_SCHEMA_VERSION,
  displayToken,
  GRAPH_LIMITS,
  jsNodeIdOf,
  kindOfFeatureType,
  logitClerp,
  nodeIdOf,
  parseDifferenceLogitId,
  parseEmbeddingNodeId,
  parseFeatureNodeId,
  parseLogitClerp,
  type CircuitInspectorMetadata,
  type GraphFile,
  type GraphFileFeatureDetails,
  type GraphFileLink,
  type GraphFileMetadata,
  type GraphFileNode,
  type GraphFileQParams,
  type JsonValue,
  MAX_LINK_HEADS,
} from '../shared/graph-schema';
import type { EdgeHeads } from './attention/graph-heads';

export type { CircuitInspectorMetadata, GraphFile, GraphFileFeatureDetails, GraphFileLink, GraphFileMetadata, GraphFileNode, GraphFileQParams, JsonValue };
export { GRAPH_SCHEMA_VERSION, displayToken, kindOfFeatureType, nodeIdOf };
import type { LabelEvidence } from './dictionaries/types';

export interface GraphFileLimits {
  /** Largest file accepted, in bytes (UTF-8). */
  maxBytes: number;
  maxNodes: number;
  maxLinks: number;
  maxTokens: number;
  /** Longest label / token / id string. The prompt may be as long as maxBytes allows. */
  maxStringChars: number;
  /** Told about what was read in a way the file did not spell out (legacy id collisions resolved). */
  onWarning?: (message: string) => void;
}

export const DEFAULT_GRAPH_FILE_LIMITS: GraphFileLimits = {
  maxBytes: 512 * 1024 * 1024,
  maxNodes: GRAPH_LIMITS.nodes,
  maxLinks: GRAPH_LIMITS.links,
  maxTokens: 200_000,
  maxStringChars: 65_536,
};

// ---------------------------------------------------------------------------------------------------
// Validation helpers

type Raw = Record<string, unknown>;

function fail(path: string, why: string): never {
  throw new EngineError(
    'GRAPH_FILE_INVALID',
    `Invalid graph file: ${path ? `${path} ` : ''}${why}.`,
    'The file is not a circuit-tracer / Neuronpedia graph JSON, or it was damaged. Re-export it, or fix the named field.',
  );
}

function isObj(x: unknown): x is Raw {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** Own property only: a key inherited from Object.prototype (constructor, toString…) is absent. */
function own(o: Raw, key: string): unknown {
  return Object.prototype.hasOwnProperty.call(o, key) ? o[key] : undefined;
}

function describe(x: unknown): string {
  if (x === undefined) return 'missing';
  if (x === null) return 'null';
  if (Array.isArray(x)) return 'an array';
  if (typeof x === 'string') return `the string ${JSON.stringify(x.length > 40 ? `${x.slice(0, 40)}…` : x)}`;
  return typeof x === 'object' ? 'an object' : `${typeof x} ${String(x)}`;
}

function str(x: unknown, path: string, max: number, dflt?: string): string {
  if (x === undefined && dflt !== undefined) return dflt;
  if (typeof x !== 'string') fail(path, `must be a string, not ${describe(x)}`);
  if (x.length > max) fail(path, `is ${x.length} characters long; the limit is ${max}`);
  return x;
}

function int(x: unknown, path: string, min: number, dflt?: number): number {
  if (x === undefined && dflt !== undefined) return dflt;
  if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < min) fail(path, `must be an integer ≥ ${min}, not ${describe(x)}`);
  return x;
}

function finite(x: unknown, path: string): number {
  if (typeof x !== 'number' || !Number.isFinite(x)) fail(path, `must be a finite number, not ${describe(x)}`);
  // Weights, activations and influences are held as float32: a larger magnitude would become Infinity.
  if (Math.abs(x) > FLOAT32_MAX) fail(path, `is ${x}, beyond the float32 range (±3.4e38)`);
  return x;
}

function finiteOrNull(x: unknown, path: string): number | null {
  return x === undefined || x === null ? null : finite(x, path);
}

function arr(x: unknown, path: string, max: number, what: string): unknown[] {
  if (!Array.isArray(x)) fail(path, `must be an array, not ${describe(x)}`);
  if (x.length > max) fail(path, `has ${x.length} ${what}; the limit is ${max}`);
  return x;
}

function obj(x: unknown, path: string): Raw {
  if (!isObj(x)) fail(path, `must be an object, not ${describe(x)}`);
  return x;
}

const DANGEROUS_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** A deep copy of free-form JSON with prototype-affecting keys dropped and depth / size bounded. */
function inertJson(x: unknown, path: string, limits: GraphFileLimits, depth = 0): JsonValue {
  if (depth > 16) fail(path, 'is nested too deeply');
  if (x === null || typeof x === 'boolean') return x;
  if (typeof x === 'number') return finite(x, path);
  if (typeof x === 'string') return str(x, path, limits.maxStringChars);
  if (Array.isArray(x)) {
    if (x.length > 10_000) fail(path, `has ${x.length} items; the limit is 10000`);
    return x.map((v, i) => inertJson(v, `${path}[${i}]`, limits, depth + 1));
  }
  if (isObj(x)) return inertObject(x, path, limits, depth);
  fail(path, `is not JSON data (${describe(x)})`);
}

function inertObject(x: Raw, path: string, limits: GraphFileLimits, depth = 0): { [key: string]: JsonValue } {
  const out: { [key: string]: JsonValue } = {};
  const keys = Object.keys(x);
  if (keys.length > 1000) fail(path, `has ${keys.length} keys; the limit is 1000`);
  for (const k of keys) {
    if (DANGEROUS_KEYS.has(k)) continue;
    out[k] = inertJson(x[k], `${path}.${k}`, limits, depth + 1);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Validation of a parsed JSON value

function validateMetadata(raw: unknown, limits: GraphFileLimits): GraphFileMetadata {
  const m = obj(raw, 'metadata');
  const S = limits.maxStringChars;
  const tokens = arr(own(m, 'prompt_tokens'), 'metadata.prompt_tokens', limits.maxTokens, 'tokens').map((t, i) =>
    str(t, `metadata.prompt_tokens[${i}]`, S),
  );
  const schemaVersion = int(own(m, 'schema_version') ?? GRAPH_SCHEMA_VERSION, 'metadata.schema_version', 1);
  if (schemaVersion > GRAPH_SCHEMA_VERSION) {
    fail('metadata.schema_version', `is ${schemaVersion}, newer than the version ${GRAPH_SCHEMA_VERSION} this Circuit Inspector reads; update the extension`);
  }
  const nodeThreshold = finiteOrNull(own(m, 'node_threshold'), 'metadata.node_threshold');
  if (nodeThreshold !== null && (nodeThreshold < 0 || nodeThreshold > 1)) fail('metadata.node_threshold', `must lie in [0, 1], not ${nodeThreshold}`);
  const out: GraphFileMetadata = {
    slug: str(own(m, 'slug'), 'metadata.slug', S, ''),
    scan: str(own(m, 'scan'), 'metadata.scan', S, ''),
    transcoder_list: arr(own(m, 'transcoder_list') ?? [], 'metadata.transcoder_list', 10_000, 'entries').map((t, i) =>
      str(t, `metadata.transcoder_list[${i}]`, S),
    ),
    prompt_tokens: tokens,
    prompt: str(own(m, 'prompt'), 'metadata.prompt', limits.maxBytes, tokens.join('')),
    schema_version: schemaVersion,
  };
  if (nodeThreshold !== null) out.node_threshold = nodeThreshold;
  const promptFile = own(m, 'prompt_file');
  if (promptFile !== undefined && promptFile !== null) out.prompt_file = str(promptFile, 'metadata.prompt_file', 4096);
  const fd = own(m, 'feature_details');
  if (fd !== undefined && fd !== null) {
    const f = obj(fd, 'metadata.feature_details');
    const d: GraphFileFeatureDetails = {};
    const base = own(f, 'feature_json_base_url');
    if (base !== undefined) d.feature_json_base_url = str(base, 'metadata.feature_details.feature_json_base_url', 4096);
    const set = own(f, 'neuronpedia_source_set');
    if (set !== undefined) d.neuronpedia_source_set = str(set, 'metadata.feature_details.neuronpedia_source_set', S);
    out.feature_details = d;
  }
  const info = own(m, 'info');
  if (info !== undefined && info !== null) out.info = inertObject(obj(info, 'metadata.info'), 'metadata.info', limits);
  const gen = own(m, 'generation_settings');
  if (gen !== undefined && gen !== null) out.generation_settings = inertObject(obj(gen, 'metadata.generation_settings'), 'metadata.generation_settings', limits);
  const pr = own(m, 'pruning_settings');
  if (pr !== undefined && pr !== null) {
    const p = obj(pr, 'metadata.pruning_settings');
    const ps: GraphFileMetadata['pruning_settings'] = {};
    for (const k of ['node_threshold', 'edge_threshold'] as const) {
      const v = own(p, k);
      if (v === undefined || v === null) continue;
      const t = finite(v, `metadata.pruning_settings.${k}`);
      if (t < 0 || t > 1) fail(`metadata.pruning_settings.${k}`, `must lie in [0, 1], not ${t}`);
      ps[k] = t;
    }
    out.pruning_settings = ps;
  }
  const ci = own(m, 'circuit_inspector');
  if (ci !== undefined && ci !== null) out.circuit_inspector = validateOwnMetadata(ci, tokens.length, limits);
  return out;
}

function validateOwnMetadata(raw: unknown, nTokens: number, limits: GraphFileLimits): CircuitInspectorMetadata {
  const P = 'metadata.circuit_inspector';
  const c = obj(raw, P);
  const out: CircuitInspectorMetadata = {};
  for (const k of ['model', 'model_path', 'dictionary'] as const) {
    const v = own(c, k);
    if (v !== undefined && v !== null) out[k] = str(v, `${P}.${k}`, 4096);
  }
  const nl = own(c, 'n_layers');
  if (nl !== undefined && nl !== null) out.n_layers = int(nl, `${P}.n_layers`, 0);
  const ids = own(c, 'token_ids');
  if (ids !== undefined && ids !== null) {
    const a = arr(ids, `${P}.token_ids`, limits.maxTokens, 'ids');
    if (a.length !== nTokens) fail(`${P}.token_ids`, `has ${a.length} ids but metadata.prompt_tokens has ${nTokens} tokens`);
    out.token_ids = a.map((v, i) => int(v, `${P}.token_ids[${i}]`, -1));
  }
  const sc = own(c, 'scores');
  if (sc !== undefined && sc !== null) {
    const s = obj(sc, `${P}.scores`);
    out.scores = {
      replacement: finite(own(s, 'replacement'), `${P}.scores.replacement`),
      completeness: finite(own(s, 'completeness'), `${P}.scores.completeness`),
    };
  }
  return out;
}

function validateQParams(raw: unknown, limits: GraphFileLimits): GraphFileQParams {
  if (raw === undefined || raw === null) return { pinnedIds: [], supernodes: [], linkType: 'both', clickedId: '', sg_pos: '' };
  const q = obj(raw, 'qParams');
  const S = limits.maxStringChars;
  const pinned = own(q, 'pinnedIds');
  const supernodes = own(q, 'supernodes');
  return {
    pinnedIds: arr(pinned ?? [], 'qParams.pinnedIds', limits.maxNodes, 'ids').map((v, i) => str(v, `qParams.pinnedIds[${i}]`, S)),
    supernodes: arr(supernodes ?? [], 'qParams.supernodes', 10_000, 'supernodes').map((sn, i) => {
      const a = arr(sn, `qParams.supernodes[${i}]`, limits.maxNodes, 'entries');
      if (a.length === 0) fail(`qParams.supernodes[${i}]`, 'must start with a label');
      return a.map((v, j) => str(v, `qParams.supernodes[${i}][${j}]`, S));
    }),
    linkType: str(own(q, 'linkType'), 'qParams.linkType', 64, 'both'),
    clickedId: str(own(q, 'clickedId'), 'qParams.clickedId', S, ''),
    sg_pos: str(own(q, 'sg_pos'), 'qParams.sg_pos', S, ''),
  };
}

function validateNode(raw: unknown, i: number, nTokens: number, limits: GraphFileLimits): GraphFileNode {
  const P = `nodes[${i}]`;
  const n = obj(raw, P);
  const S = limits.maxStringChars;
  const nodeId = str(own(n, 'node_id'), `${P}.node_id`, 256);
  if (nodeId.length === 0) fail(`${P}.node_id`, 'must not be empty');
  const featureType = str(own(n, 'feature_type'), `${P}.feature_type`, 128);
  const rawLayer = own(n, 'layer');
  let layer: string;
  if (typeof rawLayer === 'number') layer = String(int(rawLayer, `${P}.layer`, 0));
  else layer = str(rawLayer, `${P}.layer`, 32);
  const kind = kindOfFeatureType(featureType, layer);
  if ((kind === 'feature' || kind === 'error') && !/^\d{1,6}$/.test(layer)) {
    fail(`${P}.layer`, `must be a layer number for a ${featureType} node, not ${describe(rawLayer)}`);
  }
  const ctx = int(own(n, 'ctx_idx'), `${P}.ctx_idx`, 0);
  if (ctx >= nTokens) fail(`${P}.ctx_idx`, `is ${ctx} but the prompt has only ${nTokens} tokens`);
  const feature = own(n, 'feature');
  const tokenProb = own(n, 'token_prob');
  const tp = tokenProb === undefined || tokenProb === null ? 0 : finite(tokenProb, `${P}.token_prob`);
  if (tp < 0 || tp > 1) fail(`${P}.token_prob`, `must lie in [0, 1], not ${tp}`);
  const target = own(n, 'is_target_logit');
  if (target !== undefined && typeof target !== 'boolean') fail(`${P}.is_target_logit`, `must be true or false, not ${describe(target)}`);
  return {
    node_id: nodeId,
    feature: feature === undefined || feature === null ? null : int(feature, `${P}.feature`, -Number.MAX_SAFE_INTEGER),
    layer,
    ctx_idx: ctx,
    feature_type: featureType,
    token_prob: tp,
    is_target_logit: target === true,
    run_idx: int(own(n, 'run_idx') ?? 0, `${P}.run_idx`, 0),
    reverse_ctx_idx: int(own(n, 'reverse_ctx_idx') ?? 0, `${P}.reverse_ctx_idx`, 0),
    jsNodeId: str(own(n, 'jsNodeId'), `${P}.jsNodeId`, 256, nodeId),
    clerp: str(own(n, 'clerp') ?? '', `${P}.clerp`, S),
    influence: finiteOrNull(own(n, 'influence'), `${P}.influence`),
    activation: finiteOrNull(own(n, 'activation'), `${P}.activation`),
    ...labelEvidenceFields(n, P),
  };
}

/** The optional label-evidence fields of a node, checked: scores in [0, 1], short strings. */
function labelEvidenceFields(n: Record<string, unknown>, P: string): Partial<GraphFileNode> {
  const out: Partial<GraphFileNode> = {};
  for (const k of ['label_f1', 'label_precision', 'label_recall'] as const) {
    const v = own(n, k);
    if (v === undefined || v === null) continue;
    const x = finite(v, `${P}.${k}`);
    if (x < 0 || x > 1) fail(`${P}.${k}`, `must lie in [0, 1], not ${x}`);
    out[k] = x;
  }
  for (const k of ['label_latent', 'label_scored_against'] as const) {
    const v = own(n, k);
    if (v === undefined || v === null) continue;
    out[k] = str(v, `${P}.${k}`, 1024);
  }
  return out;
}

/**
 * Two nodes sharing an id is refused, except for the one collision real files have: circuit-tracer's
 * older error ids `0_{layer}_{pos}` equal the id of the layer-0 feature whose index is that layer
 * (Neuronpedia's featured "gemma-dollar" graph has "0_2_1" twice). The pair is told apart by
 * `feature_type` and `layer`; returns [feature index, error index], or undefined for any other repeat.
 */
function legacyErrorCollision(a: GraphFileNode, b: GraphFileNode, ia: number, ib: number): [number, number] | undefined {
  const kindA = kindOfFeatureType(a.feature_type, a.layer);
  const kindB = kindOfFeatureType(b.feature_type, b.layer);
  const pick: [GraphFileNode, GraphFileNode, number, number] | undefined =
    kindA === 'feature' && kindB === 'error' ? [a, b, ia, ib] : kindA === 'error' && kindB === 'feature' ? [b, a, ib, ia] : undefined;
  if (!pick) return undefined;
  const [f, e, fi, ei] = pick;
  const m = /^0_(\d+)_(\d+)$/.exec(e.node_id);
  if (!m || f.layer !== '0' || e.layer !== m[1] || String(e.ctx_idx) !== m[2] || f.ctx_idx !== e.ctx_idx) return undefined;
  return [fi, ei];
}

/**
 * Validates a parsed JSON value as a graph file and returns a fresh, typed copy holding only the
 * fields of the format (unknown fields are dropped; free-form `info` / `generation_settings` are kept
 * as inert JSON). Throws GRAPH_FILE_INVALID naming the first wrong field.
 */
export function validateGraphFile(raw: unknown, limits: Partial<GraphFileLimits> = {}): GraphFile {
  const L: GraphFileLimits = { ...DEFAULT_GRAPH_FILE_LIMITS, ...limits };
  const root = obj(raw, '(top level)');
  if (!['metadata', 'nodes', 'links'].some((k) => own(root, k) !== undefined)) {
    const keys = Object.keys(root).slice(0, 8).map((k) => JSON.stringify(k.slice(0, 40)));
    fail('', `is JSON but not an attribution graph: it has no "metadata", "nodes" or "links"${keys.length ? ` (its keys: ${keys.join(', ')}${Object.keys(root).length > 8 ? ', …' : ''})` : ''}`);
  }
  const metadata = validateMetadata(own(root, 'metadata'), L);
  const qParams = validateQParams(own(root, 'qParams'), L);
  // Counts are checked before any element, so an absurd file fails fast.
  const rawNodes = arr(own(root, 'nodes'), 'nodes', L.maxNodes, 'nodes');
  const rawLinks = arr(own(root, 'links'), 'links', L.maxLinks, 'links');
  const nTokens = metadata.prompt_tokens.length;
  const index = new Map<string, number>();
  /** Ids two nodes share by circuit-tracer's older error-id scheme: id → [feature node, error node]. */
  const collisions = new Map<string, [number, number]>();
  const nodes: GraphFileNode[] = [];
  for (let i = 0; i < rawNodes.length; i++) {
    const node = validateNode(rawNodes[i], i, nTokens, L);
    nodes.push(node);
    const prev = index.get(node.node_id);
    if (prev === undefined) {
      index.set(node.node_id, i);
      continue;
    }
    const pair = legacyErrorCollision(nodes[prev], node, prev, i);
    if (!pair || collisions.has(node.node_id)) fail(`nodes[${i}].node_id`, `"${node.node_id}" repeats the id of nodes[${prev}]`);
    collisions.set(node.node_id, pair);
  }
  // The error node of each collision gets circuit-tracer's current, unambiguous error id.
  for (const [id, [, e]] of collisions) {
    const fresh = `${nodes[e].layer}_-1_${nodes[e].ctx_idx}`;
    if (index.has(fresh)) fail(`nodes[${e}].node_id`, `"${id}" repeats the id of another node, and "${fresh}" is taken too`);
    nodes[e] = { ...nodes[e], node_id: fresh, jsNodeId: nodes[e].jsNodeId === id ? fresh : nodes[e].jsNodeId };
    index.set(fresh, e);
  }
  const layerRank = (k: number): number => {
    const n = nodes[k];
    const kind = kindOfFeatureType(n.feature_type, n.layer);
    return kind === 'embedding' ? -1 : kind === 'logit' ? Number.POSITIVE_INFINITY : Number(n.layer);
  };
  const pairSeen = new Map<string, number>();
  let guessed = 0;
  /** The node a link end names: a collided id resolves by layer order (errors have no inputs). */
  const resolveEnd = (id: string, other: number | undefined, asSource: boolean, otherId: string): number | undefined => {
    const pair = collisions.get(id);
    if (!pair) return index.get(id);
    const [f, e] = pair;
    if (!asSource) return f;
    const feasible = other === undefined ? [f, e] : [f, e].filter((k) => layerRank(k) < layerRank(other));
    if (feasible.length === 1) return feasible[0];
    // Both could be the source: the same link listed twice is one from each, in file order.
    const key = `${id}\u0000${otherId}`;
    const n = pairSeen.get(key) ?? 0;
    pairSeen.set(key, n + 1);
    if (n === 0) guessed++;
    return feasible[Math.min(n, feasible.length - 1)] ?? f;
  };
  const seen = new Set<number>();
  const nNodes = nodes.length;
  const links: GraphFileLink[] = new Array(rawLinks.length);
  // The hot loop of large files: paths for messages are built only on failure.
  for (let i = 0; i < rawLinks.length; i++) {
    const l = rawLinks[i];
    if (!isObj(l)) fail(`links[${i}]`, `must be an object, not ${describe(l)}`);
    const source = own(l, 'source');
    const target = own(l, 'target');
    const weight = own(l, 'weight');
    const t = typeof target === 'string' ? resolveEnd(target, undefined, false, '') : undefined;
    const s = typeof source === 'string' ? resolveEnd(source, t, true, typeof target === 'string' ? target : '') : undefined;
    if (s === undefined) fail(`links[${i}].source`, typeof source === 'string' ? `"${source.slice(0, 256)}" is not the node_id of any node` : `must be a string, not ${describe(source)}`);
    if (t === undefined) fail(`links[${i}].target`, typeof target === 'string' ? `"${target.slice(0, 256)}" is not the node_id of any node` : `must be a string, not ${describe(target)}`);
    if (typeof weight !== 'number' || !Number.isFinite(weight)) fail(`links[${i}].weight`, `must be a finite number, not ${describe(weight)}`);
    if (Math.abs(weight) > FLOAT32_MAX) fail(`links[${i}].weight`, `is ${weight}, beyond the float32 range (±3.4e38)`);
    const key = s * nNodes + t;
    if (seen.has(key)) fail(`links[${i}]`, `repeats the link ${source as string} → ${target as string}`);
    seen.add(key);
    links[i] = collisions.size ? { source: nodes[s].node_id, target: nodes[t].node_id, weight } : { source: source as string, target: target as string, weight };
    const heads = own(l, 'heads');
    if (heads !== undefined) links[i].heads = validateHeads(heads, i);
  }
  if (collisions.size) {
    const ids = [...collisions.keys()].map((id) => `"${id}"`).join(', ');
    L.onWarning?.(
      `${collisions.size} node id${collisions.size === 1 ? '' : 's'} (${ids}) name both a layer-0 feature and an error node, as circuit-tracer's older ` +
        `error ids (0_{layer}_{pos}) did; the error nodes were renamed {layer}_-1_{pos} and their links assigned by layer order` +
        (guessed ? ` (${guessed} link${guessed === 1 ? '' : 's'} could belong to either and went to the feature)` : ''),
    );
  }
  return { metadata, qParams, nodes, links };
}

/** Line and column of a character offset, for JSON syntax errors. */
function lineCol(text: string, pos: number): string {
  let line = 1;
  let last = -1;
  for (let i = 0; i < pos && i < text.length; i++) if (text.charCodeAt(i) === 10) { line++; last = i; }
  return `line ${line}, column ${pos - last}`;
}

/**
 * Parses and validates graph JSON text (or UTF-8 bytes). Throws GRAPH_FILE_INVALID with the path into
 * the JSON that is wrong; never returns a partially checked object.
 */
export function parseGraphFile(input: string | Uint8Array, opts: Partial<GraphFileLimits> = {}): GraphFile {
  const L: GraphFileLimits = { ...DEFAULT_GRAPH_FILE_LIMITS, ...opts };
  let text: string;
  if (typeof input === 'string') {
    // A UTF-16 length above the byte limit is over it in UTF-8 too (each code unit is ≥ 1 byte).
    if (input.length > L.maxBytes) fail('', `is ${input.length} characters long; the limit is ${L.maxBytes} bytes`);
    const bytes = Buffer.byteLength(input, 'utf8');
    if (bytes > L.maxBytes) fail('', `is ${bytes} bytes long; the limit is ${L.maxBytes}`);
    text = input;
  } else {
    if (input.byteLength > L.maxBytes) fail('', `is ${input.byteLength} bytes long; the limit is ${L.maxBytes}`);
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(input);
    } catch {
      fail('', 'is not UTF-8 text');
    }
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    const msg = (e as Error).message;
    const nonFinite = /[:[,]\s*-?(NaN|Infinity)\b/.exec(text);
    if (nonFinite) {
      fail('', `is not valid JSON at ${lineCol(text, nonFinite.index + nonFinite[0].indexOf(nonFinite[1]))}: it contains ${nonFinite[1]}, which JSON does not allow (a NaN or infinite weight or activation upstream?)`);
    }
    const m = /position (\d+)/.exec(msg);
    const where = m ? ` at ${lineCol(text, Number(m[1]))}` : '';
    fail('', `is not valid JSON${where} (${msg.slice(0, 200)})`);
  }
  return validateGraphFile(raw, L);
}

/** Reads and parses a graph file, refusing files over the byte limit before reading them. */
export function readGraphFile(path: string, opts: Partial<GraphFileLimits> = {}): GraphFile {
  const L: GraphFileLimits = { ...DEFAULT_GRAPH_FILE_LIMITS, ...opts };
  // A regular file only (a folder, FIFO or device is refused with its path), opened without blocking.
  const { fd, size } = openRegularFile(path, 'The graph file', 'GRAPH_FILE_INVALID', 'Open a graph JSON file.');
  let buf: Buffer;
  try {
    if (size > L.maxBytes) fail('', `${path} is ${size} bytes long; the limit is ${L.maxBytes}`);
    buf = Buffer.alloc(size);
    let done = 0;
    while (done < size) {
      const n = readSync(fd, buf, done, Math.min(size - done, 1 << 30), done);
      if (n <= 0) break;
      done += n;
    }
    if (done !== size) fail('', `${path} could not be read completely`);
  } finally {
    closeSync(fd);
  }
  return parseGraphFile(buf, L);
}

/**
 * Writes graph JSON: validated first (so we never write a file we would refuse to read), then
 * streamed as one node / link per line, which keeps files with millions of links diffable and avoids
 * building one object tree per link for JSON.stringify.
 */
export function serializeGraphFile(graph: GraphFile, limits: Partial<GraphFileLimits> = {}): string {
  const g = validateGraphFile(graph, limits);
  const parts: string[] = [];
  parts.push('{\n"metadata": ', JSON.stringify(g.metadata, null, 1), ',\n"qParams": ', JSON.stringify(g.qParams), ',\n"nodes": [');
  for (let i = 0; i < g.nodes.length; i++) parts.push(i ? ',\n' : '\n', JSON.stringify(g.nodes[i]));
  parts.push('\n],\n"links": [');
  // JSON.stringify over chunks of links is several times faster than building each line by hand;
  // the replace puts one link per line (ids are JSON-escaped, so '},{"source"' only occurs between links).
  const CHUNK = 10_000;
  for (let i = 0; i < g.links.length; i += CHUNK) {
    const text = JSON.stringify(g.links.slice(i, i + CHUNK));
    parts.push(i ? ',\n' : '\n', text.slice(1, -1).replaceAll('},{"source"', '},\n{"source"'));
  }
  parts.push('\n]\n}\n');
  return parts.join('');
}

export function writeGraphFile(path: string, graph: GraphFile): void {
  writeFileSync(path, serializeGraphFile(graph), 'utf8');
}

// ---------------------------------------------------------------------------------------------------
// Conversion to and from the in-memory AttributionGraph

/** circuit-tracer's `feature` number of a feature node: the Cantor pairing of (layer, index). */
function cantor(x: number, y: number): number {
  return ((x + y) * (x + y + 1)) / 2 + y;
}

function slugify(s: string): string {
  const slug = s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 48).replace(/-+$/, '');
  return slug || 'graph';
}

export interface ToGraphFileOptions {
  slug?: string;
  /** Neuronpedia's model id; defaults to the model name. */
  scan?: string;
  generatorVersion?: string;
}

function evidenceToFile(e: LabelEvidence | undefined): Partial<GraphFileNode> {
  if (!e) return {};
  const out: Partial<GraphFileNode> = { label_f1: e.f1 };
  if (e.precision !== undefined) out.label_precision = e.precision;
  if (e.recall !== undefined) out.label_recall = e.recall;
  if (e.latent !== undefined) out.label_latent = e.latent;
  if (e.against !== undefined) out.label_scored_against = e.against;
  return out;
}

function evidenceFromFile(f: GraphFileNode, f1: number): LabelEvidence {
  const e: LabelEvidence = { f1 };
  if (f.label_precision !== undefined) e.precision = f.label_precision;
  if (f.label_recall !== undefined) e.recall = f.label_recall;
  if (f.label_latent !== undefined) e.latent = f.label_latent;
  if (f.label_scored_against !== undefined) e.against = f.label_scored_against;
  return e;
}

/** An AttributionGraph as graph-file data (call serializeGraphFile to get the text). */
export function toGraphFile(graph: AttributionGraph, opts: ToGraphFileOptions = {}): GraphFile {
  const { nLayers } = graph;
  const ids = graph.nodes.map((n) => nodeIdOf(n, nLayers));
  const firstTarget = graph.targets.length ? graph.targets[0].node : -1;
  const nodes: GraphFileNode[] = graph.nodes.map((n, i) => {
    let feature: number;
    if (n.kind === 'feature') feature = cantor(n.layer, n.index);
    else if (n.kind === 'error') feature = -1;
    else if (n.kind === 'embedding') feature = n.position;
    else feature = n.index;
    const isLogit = n.kind === 'logit';
    const p = n.tokenProb ?? 0;
    return {
      node_id: ids[i],
      feature,
      layer: n.kind === 'embedding' ? 'E' : isLogit ? String(nLayers + 1) : String(n.layer),
      ctx_idx: n.position,
      feature_type: FEATURE_TYPE[n.kind],
      token_prob: isLogit ? p : 0,
      is_target_logit: i === firstTarget,
      run_idx: 0,
      reverse_ctx_idx: 0,
      jsNodeId: jsNodeIdOf(n),
      clerp: isLogit && n.token !== undefined ? logitClerp(displayToken(n.token), p) : n.label,
      influence: n.cumulativeInfluence ?? null,
      activation: n.kind === 'feature' || (n.kind === 'error' && n.activation !== 0) ? n.activation : null,
      ...evidenceToFile(n.labelEvidence),
    };
  });
  const { source, target, weight } = graph.edges;
  const links: GraphFileLink[] = new Array(weight.length);
  for (let e = 0; e < weight.length; e++) links[e] = { source: ids[source[e]], target: ids[target[e]], weight: shortF32(weight[e]) };
  const eh = graph.edgeHeads;
  if (eh) {
    for (let e = 0; e < weight.length; e++) {
      if (eh.offsets[e + 1] === eh.offsets[e]) continue;
      const h: [number, number, number][] = [];
      for (let k = eh.offsets[e]; k < eh.offsets[e + 1]; k++) h.push([eh.layer[k], eh.head[k], shortF32(eh.weight[k])]);
      links[e].heads = h;
    }
  }

  const ci: CircuitInspectorMetadata = { model: graph.modelName, n_layers: nLayers };
  if (graph.source?.modelPath !== undefined) ci.model_path = graph.source.modelPath;
  if (graph.source?.dictionary !== undefined) ci.dictionary = graph.source.dictionary;
  if (graph.tokens.some((t) => t.id >= 0)) ci.token_ids = graph.tokens.map((t) => t.id);
  if (graph.scores) ci.scores = { replacement: graph.scores.replacement, completeness: graph.scores.completeness };

  const info: { [key: string]: JsonValue } = {
    generator: { name: 'circuit-inspector', ...(opts.generatorVersion ? { version: opts.generatorVersion } : {}) },
  };
  if (graph.source?.createdMs !== undefined) info.create_time_ms = graph.source.createdMs;
  if (graph.method !== undefined) info.method = graph.method;
  const metadata: GraphFileMetadata = {
    slug: opts.slug ?? slugify(graph.prompt),
    scan: opts.scan ?? graph.modelName,
    transcoder_list: [],
    prompt_tokens: graph.tokens.map((t) => displayToken(t.text)),
    prompt: graph.prompt,
    node_threshold: graph.thresholds.node,
    schema_version: GRAPH_SCHEMA_VERSION,
    info,
    pruning_settings: { node_threshold: graph.thresholds.node, edge_threshold: graph.thresholds.edge },
    circuit_inspector: ci,
  };
  if (graph.source?.promptFile !== undefined) metadata.prompt_file = graph.source.promptFile;
  const s = graph.settings;
  if (s) {
    const gs: { [key: string]: JsonValue } = {};
    if (s.maxNLogits !== undefined) gs.max_n_logits = s.maxNLogits;
    if (s.desiredLogitProb !== undefined) gs.desired_logit_prob = s.desiredLogitProb;
    if (s.batchSize !== undefined) gs.batch_size = s.batchSize;
    if (s.maxFeatureNodes !== undefined) gs.max_feature_nodes = s.maxFeatureNodes;
    metadata.generation_settings = gs;
  }
  const v = graph.view;
  return {
    metadata,
    qParams: {
      pinnedIds: v ? [...v.pinnedIds] : [],
      supernodes: v ? v.supernodes.map((sn) => [sn.label, ...sn.nodeIds]) : [],
      linkType: v?.linkType ?? 'both',
      clickedId: v?.clickedId ?? '',
      sg_pos: '',
    },
    nodes,
    links,
  };
}

function numOr<T>(v: JsonValue | undefined, dflt: T): number | T {
  return typeof v === 'number' ? v : dflt;
}

/**
 * A validated graph file as an AttributionGraph. Node ids of other generators (e.g. older
 * circuit-tracer error ids `0_{layer}_{pos}`) are mapped to ours, and pinned / supernode ids with them.
 */
/** A link's `heads` field: at most MAX_LINK_HEADS [layer, head, part] triples of a layer ≥ 0, a head ≥ 0 and a finite part. */
function validateHeads(x: unknown, i: number): [number, number, number][] {
  const path = `links[${i}].heads`;
  if (!Array.isArray(x)) fail(path, `must be an array, not ${describe(x)}`);
  if (x.length > MAX_LINK_HEADS) fail(path, `lists ${x.length} heads; at most ${MAX_LINK_HEADS} are read`);
  return x.map((h, k) => {
    if (!Array.isArray(h) || h.length !== 3) fail(`${path}[${k}]`, `must be [layer, head, part], not ${describe(h)}`);
    const [l, hd, w] = h as unknown[];
    if (!Number.isInteger(l) || (l as number) < 0 || !Number.isInteger(hd) || (hd as number) < 0) fail(`${path}[${k}]`, 'layer and head must be integers ≥ 0');
    if (typeof w !== 'number' || !Number.isFinite(w)) fail(`${path}[${k}]`, `the part must be a finite number, not ${describe(w)}`);
    return [l as number, hd as number, w];
  });
}

/** The graph's head loadings from the links' `heads` fields (undefined when no link has any). */
function edgeHeadsFromLinks(links: GraphFileLink[]): EdgeHeads | undefined {
  if (!links.some((l) => l.heads?.length)) return undefined;
  const offsets = new Int32Array(links.length + 1);
  links.forEach((l, e) => (offsets[e + 1] = offsets[e] + (l.heads?.length ?? 0)));
  const n = offsets[links.length];
  const out: EdgeHeads = { offsets, layer: new Int32Array(n), head: new Int32Array(n), weight: new Float32Array(n) };
  links.forEach((l, e) => l.heads?.forEach(([layer, head, w], k) => {
    out.layer[offsets[e] + k] = layer;
    out.head[offsets[e] + k] = head;
    out.weight[offsets[e] + k] = w;
  }));
  return out;
}

/** The [layer, head, part] triples of several links summed per (layer, head); undefined when none has any. */
function sumLinkHeads(links: GraphFileLink[]): [number, number, number][] | undefined {
  const sum = new Map<string, [number, number, number]>();
  for (const l of links) for (const [layer, head, w] of l.heads ?? []) {
    const k = `${layer}.${head}`;
    const e = sum.get(k);
    if (e) e[2] += w;
    else sum.set(k, [layer, head, w]);
  }
  return sum.size ? [...sum.values()].sort((a, b) => Math.abs(b[2]) - Math.abs(a[2])).slice(0, MAX_LINK_HEADS) : undefined;
}

export function fromGraphFile(file: GraphFile, opts: { onWarning?: (message: string) => void } = {}): AttributionGraph {
  const md = file.metadata;
  const ci = md.circuit_inspector ?? {};
  // circuit-tracer writes logits at layer nLayers + 1; features and errors at 0 … nLayers − 1.
  let nLayers = ci.n_layers ?? -1;
  if (nLayers < 0) {
    let fromLogits = -1;
    let fromBlocks = 0;
    for (const n of file.nodes) {
      const kind = kindOfFeatureType(n.feature_type, n.layer);
      if (kind === 'logit' && /^\d+$/.test(n.layer)) fromLogits = Math.max(fromLogits, Number(n.layer) - 1);
      if (kind === 'feature' || kind === 'error') fromBlocks = Math.max(fromBlocks, Number(n.layer) + 1);
    }
    nLayers = Math.max(fromLogits, fromBlocks);
  }

  const tokenIds: number[] = ci.token_ids ? [...ci.token_ids] : md.prompt_tokens.map(() => -1);
  const nodes: AttributionNode[] = [];
  const canonical = new Map<string, string>();
  const byCanonical = new Map<string, number>();
  /** File node index → graph node index (merged input-free nodes share one). */
  const at: number[] = new Array(file.nodes.length);
  const merged: string[] = [];
  for (let i = 0; i < file.nodes.length; i++) {
    const f = file.nodes[i];
    const kind = kindOfFeatureType(f.feature_type, f.layer);
    const pos = f.ctx_idx;
    let layer: number;
    let index: number;
    let minus: number | undefined;
    if (kind === 'embedding') {
      layer = -1;
      const m = parseEmbeddingNodeId(f.node_id);
      index = m && m.position === pos ? m.tokenId : tokenIds[pos];
      if (index >= 0 && tokenIds[pos] < 0) tokenIds[pos] = index;
    } else if (kind === 'logit') {
      layer = nLayers;
      index = f.feature !== null && f.feature >= 0 ? f.feature : -1;
      const diff = parseDifferenceLogitId(f.node_id);
      if (diff && diff.position === pos) minus = diff.minusIndex;
    } else {
      layer = Number(f.layer);
      if (kind === 'error') index = -1;
      else {
        const m = parseFeatureNodeId(f.node_id);
        if (m && m.layer === layer && m.position === pos) index = m.index;
        else if (f.feature !== null && f.feature >= 0) index = f.feature;
        else fail(`nodes[${i}]`, `is a feature node whose feature index cannot be read from node_id "${f.node_id}" or feature`);
      }
    }
    const node: AttributionNode = { kind, layer, position: pos, index, activation: f.activation ?? 0, label: f.clerp };
    if (kind === 'feature' && f.label_f1 !== undefined) node.labelEvidence = evidenceFromFile(f, f.label_f1);
    if (f.influence !== null) node.cumulativeInfluence = f.influence;
    if (kind === 'logit') {
      if (minus !== undefined) node.minusIndex = minus;
      node.tokenProb = f.token_prob;
      const m = parseLogitClerp(f.clerp);
      if (m) node.token = m.token;
    }
    const id = nodeIdOf(node, nLayers);
    const prev = byCanonical.get(id);
    if (prev !== undefined) {
      // Input-free nodes at one layer and position (an attention and an MLP error, a bias) are one
      // constant source in this graph model: they merge, their links summed.
      if (kind !== 'error') fail(`nodes[${i}]`, `describes the same ${kind} node as nodes[${prev}] (${id})`);
      merged.push(f.node_id);
      canonical.set(f.node_id, id);
      at[i] = prev;
      continue;
    }
    byCanonical.set(id, nodes.length);
    canonical.set(f.node_id, id);
    at[i] = nodes.length;
    nodes.push(node);
  }

  const nodeIndex = new Map<string, number>();
  file.nodes.forEach((f, i) => nodeIndex.set(f.node_id, at[i]));
  const edgeOf = new Map<number, number>();
  const froms: number[] = [];
  const dst: number[] = [];
  const wts: number[] = [];
  const linkOfEdge: GraphFileLink[][] = [];
  for (let e = 0; e < file.links.length; e++) {
    const l = file.links[e];
    const s = nodeIndex.get(l.source);
    const t = nodeIndex.get(l.target);
    if (s === undefined || t === undefined) fail(`links[${e}]`, `connects ${l.source} → ${l.target}, which are not both nodes`);
    const key = s * nodes.length + t;
    const k = edgeOf.get(key);
    if (k !== undefined) {
      wts[k] += l.weight;
      linkOfEdge[k].push(l);
      continue;
    }
    edgeOf.set(key, froms.length);
    linkOfEdge.push([l]);
    froms.push(s);
    dst.push(t);
    wts.push(l.weight);
  }
  const edges = { source: Int32Array.from(froms), target: Int32Array.from(dst), weight: Float32Array.from(wts) };
  // Head loadings of merged links are summed per (layer, head) too.
  const edgeHeads = edgeHeadsFromLinks(linkOfEdge.map((ls, k) => (ls.length === 1 ? ls[0] : { source: '', target: '', weight: wts[k], heads: sumLinkHeads(ls) })));
  if (merged.length) opts.onWarning?.(`${merged.length} input-free node${merged.length === 1 ? '' : 's'} (${merged.slice(0, 4).map((m) => `"${m}"`).join(', ')}${merged.length > 4 ? ', …' : ''}) share a layer and position with another error or bias node and were merged into it, their links summed`);

  const targets: TargetLogit[] = [];
  nodes.forEach((n, i) => {
    if (n.kind !== 'logit') return;
    const t: TargetLogit = { node: i, tokenId: n.index, token: n.token ?? n.label, probability: n.tokenProb ?? 0 };
    if (n.minusIndex !== undefined) t.minusTokenId = n.minusIndex;
    targets.push(t);
  });
  targets.sort((a, b) => b.probability - a.probability);

  const tokens: GraphToken[] = md.prompt_tokens.map((text, i) => ({ id: tokenIds[i], text }));
  const gs = md.generation_settings;
  const settings: AttributionGraph['settings'] = gs
    ? {
        maxNLogits: numOr(gs.max_n_logits, undefined),
        desiredLogitProb: numOr(gs.desired_logit_prob, undefined),
        batchSize: numOr(gs.batch_size, undefined),
        maxFeatureNodes: numOr(gs.max_feature_nodes, undefined),
      }
    : undefined;
  if (settings) for (const k of Object.keys(settings) as (keyof typeof settings)[]) if (settings[k] === undefined) delete settings[k];

  const mapId = (id: string) => canonical.get(id) ?? id;
  const supernodes: Supernode[] = file.qParams.supernodes.map(([label, ...ids]) => ({ label, nodeIds: ids.map(mapId) }));
  const graph: AttributionGraph = {
    prompt: md.prompt,
    tokens,
    modelName: ci.model ?? md.scan,
    nLayers,
    nodes,
    edges,
    ...(edgeHeads ? { edgeHeads } : {}),
    targets,
    thresholds: {
      node: md.node_threshold ?? md.pruning_settings?.node_threshold ?? 0.8,
      edge: md.pruning_settings?.edge_threshold ?? 0.98,
    },
    view: {
      pinnedIds: file.qParams.pinnedIds.map(mapId),
      supernodes,
      linkType: file.qParams.linkType,
      ...(file.qParams.clickedId ? { clickedId: mapId(file.qParams.clickedId) } : {}),
    },
  };
  if (ci.scores) graph.scores = { ...ci.scores };
  if (settings) graph.settings = settings;
  const src: NonNullable<AttributionGraph['source']> = {};
  if (ci.model_path !== undefined) src.modelPath = ci.model_path;
  if (ci.dictionary !== undefined) src.dictionary = ci.dictionary;
  if (md.prompt_file !== undefined) src.promptFile = md.prompt_file;
  const created = md.info?.create_time_ms;
  if (typeof created === 'number') src.createdMs = created;
  if (Object.keys(src).length) graph.source = src;
  const method = md.info?.method;
  if (typeof method === 'string') graph.method = method;
  return graph;
}
