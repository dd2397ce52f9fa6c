/**
 * The strongest paths into a node of a (pruned) attribution graph, for summaries: a path's score is
 * the product, along its edges, of each edge's share of its target's total |incoming weight| (the
 * row-normalised |A| that influence uses), so a path scores high when every step carries most of what
 * its target receives. Found by a beam search backwards from the target; the graph is a DAG.
 */
import type { AttributionGraph } from './types';

export interface GraphPath {
  score: number;
  /** Node indices from the path's source to the target. */
  nodes: number[];
}

export function topPaths(g: AttributionGraph, target: number, k = 5, beam = 64): GraphPath[] {
  const n = g.nodes.length;
  const incoming: { src: number; w: number }[][] = Array.from({ length: n }, () => []);
  const inSum = new Float64Array(n);
  for (let e = 0; e < g.edges.weight.length; e++) {
    const w = Math.abs(g.edges.weight[e]);
    incoming[g.edges.target[e]].push({ src: g.edges.source[e], w });
    inSum[g.edges.target[e]] += w;
  }
  const done: GraphPath[] = [];
  let frontier: GraphPath[] = [{ score: 1, nodes: [target] }];
  for (let depth = 0; depth <= g.nLayers + 2 && frontier.length; depth++) {
    const next: GraphPath[] = [];
    for (const p of frontier) {
      const head = p.nodes[0];
      if (!incoming[head].length) {
        if (p.nodes.length > 1) done.push(p);
        continue;
      }
      for (const { src, w } of incoming[head]) next.push({ score: (p.score * w) / inSum[head], nodes: [src, ...p.nodes] });
    }
    frontier = next.sort((a, b) => b.score - a.score).slice(0, beam);
  }
  done.push(...frontier.filter((p) => p.nodes.length > 1));
  return done.sort((a, b) => b.score - a.score).slice(0, k);
}
