/**
 * A node's QK attribution as the node card shows it (src/shared/protocol.ts QkView): every source named
 * by its graph-file id and a label, the numbers exactly those of `circuit-inspector qk --json`.
 */
import type { QkSourceView, QkView } from '../../shared/protocol';
import { describeQkSource, type NodeQk } from './node-qk';

export function qkView(r: NodeQk, tokens: string[], featureLabel: (layer: number, index: number) => string | undefined): QkView {
  const name = (column: number) => {
    const id = r.idOf(column);
    return { id, label: describeQkSource(id, tokens, featureLabel) };
  };
  const src = (column: number, value: number): QkSourceView => ({ ...name(column), value });
  return {
    nodeId: r.nodeId,
    layer: r.layer,
    head: r.head,
    kvHead: r.kvHead,
    query: r.query,
    key: r.key,
    queryToken: tokens[r.query] ?? '',
    keyToken: tokens[r.key] ?? '',
    chosen: r.chosen,
    scale: r.scale,
    scorePre: r.scorePre,
    score: r.score,
    ...(r.softcap !== undefined ? { softcap: r.softcap, capFactor: r.capFactor } : {}),
    pattern: r.pattern,
    terms: { ...r.terms },
    pairs: r.pairs.map((p) => ({ query: name(p.query), key: name(p.key), value: p.value })),
    queryMarginal: r.queryMarginal.map((c) => src(c.column, c.value)),
    keyMarginal: r.keyMarginal.map((c) => src(c.column, c.value)),
    heads: r.headRanking.map((h) => ({ ...h })),
  };
}
