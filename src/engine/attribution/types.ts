/**
 * The in-memory attribution graph: what attribution produces, what the editor draws and what graph
 * files (src/engine/graph-file.ts) convert to and from.
 *
 * Plain data only (arrays, typed arrays, strings, numbers), so a graph crosses a worker boundary by
 * structured clone without losing anything, and nothing in it can run code.
 *
 * Conventions:
 * - `layer`: embeddings are -1; features and error nodes carry their block index (a CLT feature carries
 *   the layer it reads from); logits carry `nLayers`. (Graph files write "E" and nLayers + 1, as
 *   circuit-tracer does; the conversion maps them.)
 * - An edge source → target means "the source's direct effect on the target": weight = source
 *   activation × (source decoder · J · target encoder), so a target's pre-activation is the sum of its
 *   incoming weights (plus biases).
 * - Edges are parallel typed arrays (sparse COO) of indices into `nodes`, so graphs with millions of
 *   edges neither allocate one object per edge nor a dense n × n matrix.
 */
import type { NodeKind } from '../../shared/graph-schema';
import type { LabelEvidence } from '../dictionaries/types';
import type { EdgeHeads } from '../attention/graph-heads';

export type AttributionNodeKind = NodeKind;

export interface AttributionNode {
  kind: AttributionNodeKind;
  /** -1 for embeddings, the block index for features / errors, nLayers for logits. */
  layer: number;
  /** Token position (0-based; the BOS token, when there is one, is position 0). */
  position: number;
  /** Feature index for features; token id for embeddings and logits (-1 if unknown); -1 for errors. */
  index: number;
  /** Feature activation; for error nodes the norm of the error vector when known; 0 otherwise. */
  activation: number;
  /** The node's influence on the target logits (probability-weighted row of (I − A)⁻¹), when computed. */
  influence?: number;
  /**
   * circuit-tracer's cumulative influence score in [0, 1] (the `influence` field of graph files): nodes
   * sorted by influence, this is the running fraction up to and including this node, so the node is
   * kept by pruning at node threshold t when cumulativeInfluence ≤ t.
   */
  cumulativeInfluence?: number;
  /** Human label (a feature's explanation, `Emb: "tok"`, `Output "tok" (p=0.123)`…). Plain text. */
  label: string;
  /** Feature nodes: the label's score (F1, precision, recall, what it was scored against), when known. */
  labelEvidence?: LabelEvidence;
  /** Logit nodes: the token's probability under the model. */
  tokenProb?: number;
  /** Logit nodes: the token's text. */
  token?: string;
  /** Logit nodes of a custom difference target (logit[index] − logit[minusIndex]): the subtracted token id. */
  minusIndex?: number;
}

export interface AttributionEdges {
  /** Index into `nodes` of each edge's source. */
  source: Int32Array;
  /** Index into `nodes` of each edge's target. */
  target: Int32Array;
  weight: Float32Array;
}

export interface GraphToken {
  /** Token id, or -1 when unknown (a graph file from elsewhere that names only strings). */
  id: number;
  /** The token's text as shown (circuit-tracer writes "⏎" for newlines). */
  text: string;
}

export interface TargetLogit {
  /** Index into `nodes` of the logit node. */
  node: number;
  tokenId: number;
  /** For a difference target (logit[tokenId] − logit[minusTokenId]). */
  minusTokenId?: number;
  token: string;
  probability: number;
}

export interface Supernode {
  label: string;
  /** Graph-file node ids (see graph-file.ts `nodeIdOf`). */
  nodeIds: string[];
}

export interface AttributionGraph {
  prompt: string;
  tokens: GraphToken[];
  /** Short model name (config's _name_or_path or the folder name). */
  modelName: string;
  nLayers: number;
  nodes: AttributionNode[];
  edges: AttributionEdges;
  /**
   * Head loadings (attention/head-loadings.ts): for each edge between two positions, the attention heads
   * that carry it, largest |contribution| first; edge e owns entries offsets[e] … offsets[e + 1].
   */
  edgeHeads?: EdgeHeads;
  /** The logits attribution started from, most probable first. */
  targets: TargetLogit[];
  /** How the graph was computed, when not a transcoder graph (e.g. sae-graph.ts SAE_GRAPH_METHOD). */
  method?: string;
  /** Replacement and completeness scores (circuit-tracer's definitions), when computed. */
  scores?: { replacement: number; completeness: number };
  /** Pruning thresholds the graph was (or is to be) pruned with: cumulative node / edge influence. */
  thresholds: { node: number; edge: number };
  /** Settings attribution ran with, shown to the user and written to graph files. */
  settings?: {
    maxNLogits?: number;
    desiredLogitProb?: number;
    batchSize?: number;
    maxFeatureNodes?: number;
  };
  /** Where it came from, for the graph file's links back. */
  source?: {
    /** The model folder. */
    modelPath?: string;
    /** The dictionary (transcoders / CLT / SAE) folder or name. */
    dictionary?: string;
    /** The prompt file, relative to the graph file's folder when saved. */
    promptFile?: string;
    /** Milliseconds since the epoch. */
    createdMs?: number;
  };
  /** Saved viewer state: pinned nodes, supernodes, the clicked node (graph-file node ids). */
  view?: {
    pinnedIds: string[];
    supernodes: Supernode[];
    clickedId?: string;
    linkType?: string;
  };
}
