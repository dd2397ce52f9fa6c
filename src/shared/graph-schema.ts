/**
 * The one graph schema: the graph JSON of circuit-tracer's `create_graph_files` and Neuronpedia's
 * attribution-graph frontend, and every rule about it that more than one program needs — node kinds,
 * `feature_type` ↔ kind, node-id formats, clerps, token display. The engine (graph-file.ts reads and
 * writes files with it), the worker, the extension and the webview import this module; it is pure (no
 * Node, no DOM, no vscode).
 *
 * Format facts (circuit-tracer frontend/graph_models.py and Neuronpedia's graph-schema.json):
 * - node ids: feature `{layer}_{feature}_{pos}`, error `{layer}_-1_{pos}` (older files: `0_{layer}_{pos}`),
 *   embedding `E_{tokenId}_{pos}`, logit `{nLayers+1}_{tokenId}_{pos}` (ours: `{nLayers+1}_{a}-{b}_{pos}`
 *   for a difference target "a − b");
 * - `layer` is a string: "E" for embeddings, the block index, nLayers + 1 for logits;
 * - `feature_type`: "embedding", "cross layer transcoder" (also for per-layer transcoders),
 *   "mlp reconstruction error", "logit";
 * - a logit's clerp is `Output "tok" (p=0.123)`, an embedding's `Emb: "tok"`;
 * - `influence` is the cumulative influence score used for pruning (kept when ≤ threshold).
 */

// ---------------------------------------------------------------------------------------------------
// Size limits

/**
 * The largest graph any part of Circuit Inspector reads: the engine's graph-file reader and the panel
 * stop at the same numbers, so a file the CLI accepts is one the panel can show (it stays responsive up
 * to here: links beyond each node's strongest are drawn on demand, see webview/scene.ts).
 */
export const GRAPH_LIMITS = { nodes: 100_000, links: 1_000_000 } as const;

/** The largest magnitude float32 holds: a weight or activation beyond it would read back as Infinity. */
export const FLOAT32_MAX = 3.4028234663852886e38;

// ---------------------------------------------------------------------------------------------------
// Node kinds

export type NodeKind = 'embedding' | 'feature' | 'error' | 'logit';

/** The `feature_type` we write for each kind (circuit-tracer writes "cross layer transcoder" for PLTs too). */
export const FEATURE_TYPE: Readonly<Record<NodeKind, string>> = {
  embedding: 'embedding',
  feature: 'cross layer transcoder',
  error: 'mlp reconstruction error',
  logit: 'logit',
};

/**
 * The kind a `feature_type` (and, when known, the `layer` field) names. Case-insensitive and lenient, as
 * files from other generators vary: *embed* types are embeddings, *error* types errors, *logit* types
 * logits, *transcoder* / *feature* types features; a type that names none of these is an embedding on
 * layer "E" and a feature elsewhere. (A transcoder node on layer "E" stays a feature, so the file's
 * validation can name the bad layer.)
 */
export function kindOfFeatureType(featureType: string, layer?: string): NodeKind {
  const t = featureType.toLowerCase();
  if (t.includes('embed')) return 'embedding';
  // Bias nodes (Neuronpedia's newer writer) are, like error nodes, input-free constants at a layer and position.
  if (t.includes('error') || t === 'bias' || t.includes('bias node')) return 'error';
  if (t.includes('logit')) return 'logit';
  if (t.includes('transcoder') || t.includes('feature')) return 'feature';
  return layer === 'E' ? 'embedding' : 'feature';
}

/**
 * What an input-free node stands for, from its feature_type and id: newer writers split the error into
 * an attention part (`{layer}_error_attn_{pos}`, Lorsa reconstruction error) and an MLP part, and add
 * bias nodes. The label names which one, since a bare "Error L3" would not tell them apart.
 */
export function constantNodeLabel(featureType: string, nodeId: string, layer: number): string {
  const t = `${featureType} ${nodeId}`.toLowerCase();
  if (/\bbias\b|_bias_/.test(t)) return `Bias L${layer}`;
  if (/attn|lorsa|attention/.test(t)) return `Attn error L${layer}`;
  if (/mlp|transcoder/.test(t)) return `MLP error L${layer}`;
  return `Error L${layer}`;
}

// ---------------------------------------------------------------------------------------------------
// Node ids

export interface NodeIdParts {
  kind: NodeKind;
  /** Block index of a feature / error; -1 for an embedding; nLayers for a logit. */
  layer: number;
  position: number;
  /** Feature index, token id (embedding, logit), or -1 (error). */
  index: number;
  /** A difference target's subtracted token id. */
  minusIndex?: number;
}

/** The graph-file node id of a node (circuit-tracer's convention); stable across save / load. */
export function nodeIdOf(node: NodeIdParts, nLayers: number): string {
  switch (node.kind) {
    case 'embedding':
      return `E_${node.index}_${node.position}`;
    case 'feature':
      return `${node.layer}_${node.index}_${node.position}`;
    case 'error':
      return `${node.layer}_-1_${node.position}`;
    case 'logit':
      // A difference target gets its own id, so "A" and "A − B" can both be targets.
      return node.minusIndex === undefined ? `${nLayers + 1}_${node.index}_${node.position}` : `${nLayers + 1}_${node.index}-${node.minusIndex}_${node.position}`;
  }
}

/** Neuronpedia's `jsNodeId` of a node. */
export function jsNodeIdOf(node: NodeIdParts): string {
  switch (node.kind) {
    case 'embedding':
      return `E_${node.index}-${node.position}`;
    case 'feature':
      return `${node.layer}_${node.index}-0`;
    case 'error':
      return `${node.layer}_-1-${node.position}`;
    case 'logit':
      return node.minusIndex === undefined ? `L_${node.index}-${node.position}` : `L_${node.index}-${node.minusIndex}-${node.position}`;
  }
}

/** `{layer}_{feature}_{pos}` → its three numbers (a feature node's id), else undefined. */
export function parseFeatureNodeId(id: string): { layer: number; index: number; position: number } | undefined {
  const m = /^(\d+)_(\d+)_(\d+)$/.exec(id);
  return m ? { layer: Number(m[1]), index: Number(m[2]), position: Number(m[3]) } : undefined;
}

/** `E_{tokenId}_{pos}` → token id and position, else undefined. */
export function parseEmbeddingNodeId(id: string): { tokenId: number; position: number } | undefined {
  const m = /^E_(-?\d+)_(\d+)$/.exec(id);
  return m ? { tokenId: Number(m[1]), position: Number(m[2]) } : undefined;
}

/** `{nLayers+1}_{a}-{b}_{pos}` (a difference target) → a, b and the position, else undefined. */
export function parseDifferenceLogitId(id: string): { tokenId: number; minusIndex: number; position: number } | undefined {
  const m = /^\d+_(\d+)-(\d+)_(\d+)$/.exec(id);
  return m ? { tokenId: Number(m[1]), minusIndex: Number(m[2]), position: Number(m[3]) } : undefined;
}

// ---------------------------------------------------------------------------------------------------
// Tokens and clerps

/** circuit-tracer's display form of a token (newline, tab, carriage return made visible): what files hold. */
export function displayToken(token: string): string {
  return token.replace(/\n/g, '⏎').replace(/\t/g, '→').replace(/\r/g, '↵');
}

/**
 * A token as a short label under a node or in a list: its display form, with other control characters
 * escaped as JSON would, ∅ for the empty string, and a token of spaces alone written as ␣ per space
 * (blank, it would read as a missing label: Gemma's " " before an answer digit is such a token).
 */
export function tokenLabel(token: string): string {
  const s = JSON.stringify(displayToken(token)).slice(1, -1).replace(/\\"/g, '"');
  return !s ? '∅' : /^ +$/.test(s) ? '␣'.repeat(s.length) : s;
}

/** A logit node's clerp, `Output "tok" (p=0.123)`. */
export function logitClerp(token: string, p: number): string {
  return `Output "${token}" (p=${p.toFixed(3)})`;
}

/** The token and probability of a logit clerp, else undefined. */
export function parseLogitClerp(clerp: string): { token: string; p?: number } | undefined {
  const m = /^Output\s*"([\s\S]*)"\s*\(p=([^)]*)\)$/.exec(clerp);
  if (!m) return undefined;
  const p = Number(m[2]);
  return Number.isFinite(p) && m[2].trim() !== '' ? { token: m[1], p } : { token: m[1] };
}

/** An embedding node's clerp, `Emb: "tok"`. */
export function embeddingClerp(token: string): string {
  return `Emb: "${token}"`;
}

/** The token of an embedding clerp, else undefined. */
export function parseEmbeddingClerp(clerp: string): string | undefined {
  const m = /^Emb:\s*"([\s\S]*)"$/.exec(clerp);
  return m ? m[1] : undefined;
}

export const GRAPH_SCHEMA_VERSION = 1;

// ---------------------------------------------------------------------------------------------------
// Types of the file: what src/engine/graph-file.ts returns after validation, what the worker sends, what
// the webview draws. The protocol re-exports GraphFile; there is no looser twin.

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

export type GraphFileFeatureDetails = {
  feature_json_base_url?: string;
  neuronpedia_source_set?: string;
};

/** Circuit Inspector's own metadata (a namespaced key other readers ignore). */
export type CircuitInspectorMetadata = {
  model?: string;
  model_path?: string;
  dictionary?: string;
  n_layers?: number;
  /** One token id per prompt token. */
  token_ids?: number[];
  scores?: { replacement: number; completeness: number };
};

export type GraphFileMetadata = {
  slug: string;
  scan: string;
  transcoder_list: string[];
  prompt_tokens: string[];
  prompt: string;
  /** Absent when the file has none (circuit-tracer writes null, which reads as absent). */
  node_threshold?: number;
  schema_version: number;
  /** The prompt file, relative to the graph file's folder (written by Circuit Inspector). */
  prompt_file?: string;
  feature_details?: GraphFileFeatureDetails;
  /** Neuronpedia's free-form info (title, description, creator, generator…), kept as inert JSON. */
  info?: { [key: string]: JsonValue };
  generation_settings?: { [key: string]: JsonValue };
  pruning_settings?: { node_threshold?: number; edge_threshold?: number };
  circuit_inspector?: CircuitInspectorMetadata;
};

export type GraphFileQParams = {
  pinnedIds: string[];
  /** Each is [label, nodeId, nodeId, …]. */
  supernodes: string[][];
  linkType: string;
  clickedId: string;
  sg_pos: string;
};

export type GraphFileNode = {
  node_id: string;
  feature: number | null;
  layer: string;
  ctx_idx: number;
  feature_type: string;
  token_prob: number;
  is_target_logit: boolean;
  run_idx: number;
  reverse_ctx_idx: number;
  jsNodeId: string;
  clerp: string;
  influence: number | null;
  activation: number | null;
  /**
   * Circuit Inspector's label evidence for feature nodes (optional; other readers ignore them): the
   * label's F1, precision and recall, the latent it names and what it was scored against.
   */
  label_f1?: number;
  label_precision?: number;
  label_recall?: number;
  label_latent?: string;
  label_scored_against?: string;
};

export type GraphFileLink = {
  source: string;
  target: string;
  weight: number;
  /**
   * Circuit Inspector's head loadings (optional; other readers ignore the field): for an edge between
   * two positions, the attention heads that carry it, as [layer, head, part] with the largest |part|
   * first. Parts are in the edge's units; over all heads they sum to `weight` (the heads not listed
   * carry weight − Σ parts). See src/engine/attention/head-loadings.ts for the definition.
   */
  heads?: [number, number, number][];
};

/** Most heads a link may list (files from elsewhere are bounded by this). */
export const MAX_LINK_HEADS = 16;

export type GraphFile = {
  metadata: GraphFileMetadata;
  qParams: GraphFileQParams;
  nodes: GraphFileNode[];
  links: GraphFileLink[];
};

