/**
 * Pure operations on an AttributionGraph (which may come from a graph file, in any node order):
 * influence on the target logits, pruning, and the replacement / completeness scores. They reorder
 * the nodes into circuit-tracer's layout (features, errors, embeddings, logits), run the sparse
 * computations, and map the answers back.
 */
import { influenceOnCsr } from './influence';
import { pruneCsr, type NodeLayout } from './prune';
import { scoresOnCsr, type GraphScores } from './scores';
import { csrFromCoo, type Csr } from './sparse';
import type { AttributionGraph, AttributionNodeKind } from './types';
import { selectEdgeHeads } from '../attention/graph-heads';

const ORDER: Record<AttributionNodeKind, number> = { feature: 0, error: 1, embedding: 2, logit: 3 };

interface Canonical {
  csr: Csr;
  layout: NodeLayout;
  logitWeights: Float64Array;
  /** canonical index → graph node index */
  toGraph: Int32Array;
  /** graph node index → canonical index */
  toCanon: Int32Array;
}

function canonical(g: AttributionGraph): Canonical {
  const n = g.nodes.length;
  const toGraph = Int32Array.from(Array.from({ length: n }, (_, i) => i).sort((a, b) => ORDER[g.nodes[a].kind] - ORDER[g.nodes[b].kind] || a - b));
  const toCanon = new Int32Array(n);
  toGraph.forEach((gi, ci) => (toCanon[gi] = ci));
  const count = (k: AttributionNodeKind) => g.nodes.reduce((a, x) => a + (x.kind === k ? 1 : 0), 0);
  const layout: NodeLayout = { nFeatures: count('feature'), nErrors: count('error'), nTokens: count('embedding'), nLogits: count('logit') };
  const { source, target, weight } = g.edges;
  const csr = csrFromCoo(n, Int32Array.from(target, (t) => toCanon[t]), Int32Array.from(source, (s) => toCanon[s]), weight);
  const logitWeights = new Float64Array(n);
  if (g.targets.length) for (const t of g.targets) logitWeights[toCanon[t.node]] = t.probability;
  else g.nodes.forEach((x, i) => x.kind === 'logit' && (logitWeights[toCanon[i]] = x.tokenProb ?? 0));
  return { csr, layout, logitWeights, toGraph, toCanon };
}

/** Each node's influence on the target logits (probability-weighted rows of (I − Â)⁻¹ − I), in graph order. */
export function computeInfluence(g: AttributionGraph): Float64Array {
  const c = canonical(g);
  const inf = influenceOnCsr(c.csr, c.logitWeights);
  const out = new Float64Array(g.nodes.length);
  c.toGraph.forEach((gi, ci) => (out[gi] = inf[ci]));
  return out;
}

/** circuit-tracer's replacement and completeness scores of the graph as it stands. */
export function graphScores(g: AttributionGraph): GraphScores {
  const c = canonical(g);
  return scoresOnCsr(c.csr, c.layout, c.logitWeights);
}

/**
 * The graph pruned to `nodeThreshold` of node influence and `edgeThreshold` of edge influence
 * (circuit-tracer's prune_graph), with each kept node's influence and cumulative score updated. Pure:
 * the input graph is not modified.
 */
export function pruneGraph(g: AttributionGraph, thresholds: { nodeThreshold?: number; edgeThreshold?: number } = {}): AttributionGraph {
  const nodeThreshold = thresholds.nodeThreshold ?? g.thresholds.node;
  const edgeThreshold = thresholds.edgeThreshold ?? g.thresholds.edge;
  const c = canonical(g);
  const pr = pruneCsr(c.csr, c.layout, c.logitWeights, nodeThreshold, edgeThreshold);
  const newId = new Int32Array(g.nodes.length).fill(-1);
  const keepGraph = new Uint8Array(g.nodes.length);
  c.toGraph.forEach((gi, ci) => (keepGraph[gi] = pr.nodeMask[ci]));
  const nodes = [];
  for (let i = 0; i < g.nodes.length; i++) {
    if (!keepGraph[i]) continue;
    newId[i] = nodes.length;
    const ci = c.toCanon[i];
    nodes.push({ ...g.nodes[i], influence: pr.influence[ci], cumulativeInfluence: pr.cumulative[ci] });
  }
  const src: number[] = [], dst: number[] = [], w: number[] = [];
  // Head loadings follow their edges: the original index of each kept edge.
  const n = g.nodes.length;
  const edgeIndex = g.edgeHeads ? new Map<number, number>() : undefined;
  if (edgeIndex) g.edges.source.forEach((s, e) => edgeIndex.set(s * n + g.edges.target[e], e));
  const from: number[] = [];
  const { csr } = c;
  for (let r = 0; r < csr.nNodes; r++) {
    for (let p = csr.rowPtr[r]; p < csr.rowPtr[r + 1]; p++) {
      if (!pr.edgeMask[p]) continue;
      src.push(newId[c.toGraph[csr.col[p]]]);
      dst.push(newId[c.toGraph[r]]);
      w.push(csr.val[p]);
      if (edgeIndex) from.push(edgeIndex.get(c.toGraph[csr.col[p]] * n + c.toGraph[r]) ?? -1);
    }
  }
  const { edgeHeads: heads, ...rest } = g;
  return {
    ...rest,
    ...(heads ? { edgeHeads: selectEdgeHeads(heads, from) } : {}),
    nodes,
    edges: { source: Int32Array.from(src), target: Int32Array.from(dst), weight: Float32Array.from(w) },
    targets: g.targets.filter((t) => newId[t.node] >= 0).map((t) => ({ ...t, node: newId[t.node] })),
    thresholds: { node: nodeThreshold, edge: edgeThreshold },
  };
}
