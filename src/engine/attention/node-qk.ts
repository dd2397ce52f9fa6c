/**
 * QK attribution for a graph node: which head and which key to explain, and the answer in the shape
 * Neuronpedia's graph files use (`qk_tracing_results`: pairwise, query marginal, key marginal).
 *
 * The query is the node's own position (a logit's is the last one). Unless given, the head is the one
 * carrying most of the node's incoming cross-position edges (Σ |head loading| over them), and the key
 * is the source position that head brings the most from; a node with no such edge needs --head, and its
 * key is then the position the head attends to most.
 */
import type { RawAttribution } from '../attribution/raw';
import type { Replacement } from '../attribution/replacement';
import { EngineError } from '../errors';
import { nodeIdOf } from '../graph-file';
import type { ModelSpec } from '../model-spec';
import { headTargetOfRow, positionOfNode, sweepColumnOfNode } from './graph-heads';
import { headLoadings, sourceOfColumn, type HeadLoadingEdge } from './head-loadings';
import { FrozenLinearModel } from './linear-model';
import { QkTracer, visibleKeys, type QkAttribution } from './qk';
import { densePatterns } from '../attribution/frozen';

export interface NodeRef {
  kind: 'feature' | 'error' | 'logit' | 'embedding';
  layer: number;
  position: number;
  /** Feature index; token id for logits and embeddings. */
  index: number;
}

export interface NodeQkRequest {
  node: NodeRef;
  head?: { layer: number; head: number };
  key?: number;
  top?: number;
}

export interface NodeQk extends QkAttribution {
  /** How the head and key were chosen, in words. */
  chosen: string;
  /**
   * The heads carrying the node's incoming cross-position edges (all of them, pruned or not), by their
   * share of Σ |head loading| over those edges, largest first; empty when the head and key were both
   * given (nothing was split).
   */
  headRanking: { layer: number; head: number; share: number }[];
  /** Graph-file node id of the node explained. */
  nodeId: string;
  /** The same results in Neuronpedia's shape, contributors named by graph-file node id. */
  tracing: QkTracingResults;
  /** Graph-file node id of each source column (features, errors, tokens); the constant part is 'bias'. */
  idOf(column: number): string;
}

/**
 * A node from its graph-file id (LAYER_FEATURE_POS for a feature, LAYER_-1_POS for an error node,
 * NLAYERS+1_TOKEN_POS for a logit, E_TOKEN_POS for an embedding) or L3#370@8.
 */
export function nodeRefOfId(id: string, nLayers: number): NodeRef {
  const t = id.trim();
  let m = /^L(\d+)#(\d+)@(\d+)$/i.exec(t);
  if (m) return { kind: 'feature', layer: Number(m[1]), index: Number(m[2]), position: Number(m[3]) };
  m = /^(\d+)_(-?\d+)_(\d+)$/.exec(t);
  if (m) {
    const layer = Number(m[1]), idx = Number(m[2]), pos = Number(m[3]);
    if (layer === nLayers + 1) return { kind: 'logit', layer: nLayers, index: idx, position: pos };
    if (layer >= nLayers) throw new EngineError('ATTENTION_QUERY_INVALID', `Node ${JSON.stringify(id)}: layer ${layer} does not exist (features 0..${nLayers - 1}, logits ${nLayers + 1}).`, 'Pick a node of this model\'s graph.');
    return idx === -1 ? { kind: 'error', layer, index: -1, position: pos } : { kind: 'feature', layer, index: idx, position: pos };
  }
  m = /^E_(\d+)_(\d+)$/.exec(t);
  if (m) return { kind: 'embedding', layer: -1, index: Number(m[1]), position: Number(m[2]) };
  throw new EngineError('ATTENTION_QUERY_INVALID', `Node ${JSON.stringify(id.slice(0, 80))} is not a graph-file node id (e.g. 3_370_8, 2_-1_5, ${nLayers + 1}_42_9) or L3#370@8.`, 'Pick a feature, error or logit node of a graph made by Circuit Inspector.');
}

/** A QK source's name for people, from its graph-file id: the feature's label, or what it is. */
export function describeQkSource(id: string, tokens: string[], featureLabel: (layer: number, index: number) => string | undefined): string {
  if (id === 'bias') return 'biases';
  let m = /^E_(\d+)_(\d+)$/.exec(id);
  if (m) return `Emb ${JSON.stringify(tokens[Number(m[2])])}@${m[2]}`;
  m = /^(\d+)_(-?\d+)_(\d+)$/.exec(id);
  if (!m) return id;
  const [l, f, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (f === -1) return `Err L${l} ${JSON.stringify(tokens[p])}@${p}`;
  const label = featureLabel(l, f);
  return `L${l}#${f}@${p}${label ? ` "${label}"` : ''}`;
}

/** The adjacency row of a node, or -1 if it has none (embeddings). */
function rowOfNode(raw: RawAttribution, n: NodeRef): number {
  const { layout, features: f } = raw;
  const T = raw.frozen.T;
  if (n.kind === 'feature') {
    for (let i = 0; i < layout.nFeatures; i++) {
      const k = raw.selected[i];
      if (f.layer[k] === n.layer && f.pos[k] === n.position && f.index[k] === n.index) return i;
    }
    throw new EngineError('ATTENTION_QUERY_INVALID', `Feature L${n.layer}#${n.index} is not active at position ${n.position} in this prompt.`, 'Pick a feature node of the graph.');
  }
  if (n.kind === 'error') return layout.nFeatures + n.layer * T + n.position;
  if (n.kind === 'logit') {
    const j = raw.targets.findIndex((t) => t.tokenId === n.index && t.minusId === undefined);
    if (j < 0) throw new EngineError('ATTENTION_QUERY_INVALID', `Token ${n.index} is not one of the graph's target logits.`, 'Pick a logit node of the graph.');
    return raw.adjacency.nNodes - layout.nLogits + j;
  }
  return -1;
}

/** Graph-file id of a source given by its sweep column (features, errors, tokens). */
export function sourceNodeId(m: FrozenLinearModel, col: number): string {
  const s = sourceOfColumn(m, col);
  const f = m.parts.features;
  if (s.kind === 'feature') return nodeIdOf({ kind: 'feature', layer: s.layer, position: s.position, index: f.index[col] }, m.L);
  if (s.kind === 'error') return nodeIdOf({ kind: 'error', layer: s.layer, position: s.position, index: -1 }, m.L);
  return nodeIdOf({ kind: 'embedding', layer: -1, position: s.position, index: m.parts.frozen.ids[s.position] }, m.L);
}

export function qkForNode(spec: ModelSpec, r: Replacement, raw: RawAttribution, zeroBos: boolean, req: NodeQkRequest): NodeQk {
  const m = new FrozenLinearModel({ spec, replacement: r, frozen: raw.frozen, features: raw.features, zeroBos });
  const n = req.node;
  if (n.kind === 'embedding') throw new EngineError('ATTENTION_QUERY_INVALID', 'A token embedding reads no attention.', 'Pick a feature, error or logit node.');
  const T = raw.frozen.T;
  const query = n.kind === 'logit' ? T - 1 : n.position;
  const maxLayer = n.kind === 'logit' ? spec.nLayers - 1 : n.layer;
  const row = rowOfNode(raw, n);
  let head = req.head;
  let key = req.key;
  let chosen = '';
  let headRanking: NodeQk['headRanking'] = [];
  if (head && head.layer > maxLayer) {
    throw new EngineError('ATTENTION_QUERY_INVALID', `Head L${head.layer}.H${head.head} comes after this node (layer ${n.layer}): it cannot affect it.`, `Pick a head at layer ${maxLayer} or below.`);
  }
  if (!head || key === undefined) {
    // The node's incoming cross-position edges, split into heads.
    const target = headTargetOfRow(spec, r, raw, row);
    const a = raw.adjacency;
    const edges: HeadLoadingEdge[] = [];
    if (target) {
      for (let p = a.rowPtr[row]; p < a.rowPtr[row + 1]; p++) {
        if (positionOfNode(raw, a.col[p]) !== query) edges.push({ source: sweepColumnOfNode(raw, a.col[p]), target: 0 });
      }
    }
    if (edges.length) {
      const res = headLoadings(m, [target!], edges);
      const byHead = new Float64Array(spec.nLayers * res.nHeads);
      res.perHead.forEach((ph) => ph.forEach((v, i) => (byHead[i] += Math.abs(v))));
      const total = byHead.reduce((s, v) => s + v, 0);
      headRanking = Array.from(byHead.keys())
        .filter((i) => byHead[i] > 0 && byHead[i] >= 1e-3 * total)
        .sort((x, y) => byHead[y] - byHead[x] || x - y)
        .map((i) => ({ layer: Math.floor(i / res.nHeads), head: i % res.nHeads, share: byHead[i] / total }));
      if (!head) {
        let best = 0;
        byHead.forEach((v, i) => v > byHead[best] && (best = i));
        head = { layer: Math.floor(best / res.nHeads), head: best % res.nHeads };
        chosen = `head L${head.layer}.H${head.head} carries the most of this node's cross-position edges (${(byHead[best] / byHead.reduce((s, v) => s + v, 0) * 100).toFixed(0)} % of Σ|head loading|)`;
      }
      if (key === undefined) {
        const byPos = new Float64Array(T);
        const hi = head.layer * res.nHeads + head.head;
        edges.forEach((e, i) => (byPos[sourceOfColumn(m, e.source).position] += Math.abs(res.perHead[i][hi])));
        let bestK = -1;
        byPos.forEach((v, k) => v > 0 && (bestK < 0 || v > byPos[bestK]) && (bestK = k));
        if (bestK >= 0) {
          key = bestK;
          chosen += `${chosen ? '; ' : ''}key position ${key} is where that head brings the most of them from`;
        }
      }
    }
    if (!head) throw new EngineError('ATTENTION_QUERY_INVALID', 'This node has no cross-position edges, so no head carries one.', 'Pass --head LAYER.HEAD to choose one.');
    if (key === undefined) {
      const P = densePatterns(raw.frozen, 'QK attribution')[head.layer];
      const keys = visibleKeys(spec.blocks[head.layer].attn, query);
      key = keys.reduce((b, k) => (P[(head!.head * T + query) * T + k] > P[(head!.head * T + query) * T + b] ? k : b), keys[0]);
      chosen += `${chosen ? '; ' : ''}key position ${key} is where the head attends most`;
    }
  }
  const res = new QkTracer(m).trace({ layer: head.layer, head: head.head, query, key }, { top: req.top });
  const nodeId = nodeIdOf({ kind: n.kind, layer: n.kind === 'logit' ? spec.nLayers : n.layer, position: query, index: n.index }, spec.nLayers);
  return { ...res, chosen: chosen || 'head and key as given', headRanking, nodeId, tracing: toQkTracingResults(m, res), idOf: (c: number) => (c < 0 ? 'bias' : sourceNodeId(m, c)) };
}

/** Neuronpedia's `qk_tracing_results` for a node (contributor ids are graph-file node ids). */
export interface QkTracingResults {
  pair_wise_contributors: [string, string, number][];
  top_q_marginal_contributors: [string, number][];
  top_k_marginal_contributors: [string, number][];
}

export function toQkTracingResults(m: FrozenLinearModel, r: QkAttribution): QkTracingResults {
  const id = (c: number) => sourceNodeId(m, c);
  return {
    pair_wise_contributors: r.pairs.map((p) => [id(p.query), id(p.key), p.value]),
    top_q_marginal_contributors: r.queryMarginal.map((c) => [id(c.column), c.value]),
    top_k_marginal_contributors: r.keyMarginal.map((c) => [id(c.column), c.value]),
  };
}
