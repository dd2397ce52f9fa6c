/**
 * `circuit-inspector compare A.graph.json B.graph.json`: two saved graphs aligned (see
 * src/engine/compare/compare-graphs.ts): nodes only in A, only in B and in both, influence and edge
 * deltas, the features gained and lost. Works on any graph JSON the reader accepts, ours or
 * circuit-tracer's / Neuronpedia's.
 */
import { resolve } from 'node:path';
import { compareGraphs, type ComparedNode, type GraphComparison } from '../engine/compare/compare-graphs';
import { fromGraphFile, readGraphFile } from '../engine/graph-file';
import { intOption, parse, UsageError, type CliCommand } from './args';

const usage = `Usage: circuit-inspector compare A.graph.json B.graph.json [options]

  --align auto|feature|label   how features are matched: by (layer, position, index) for the same
                               dictionary, by (layer, position, label) across dictionaries (default auto)
  --top N                      gained / lost features and changed edges to list (default 10)
  --json                       print the whole comparison as JSON`;

function where(n: ComparedNode, c: GraphComparison): string {
  if (n.kind === 'logit') return '';
  const col = c.columns[n.column];
  if (!col) return '';
  const tok = col.tokenA !== undefined && col.tokenB !== undefined && col.tokenA !== col.tokenB ? `${JSON.stringify(col.tokenA)}→${JSON.stringify(col.tokenB)}` : JSON.stringify(col.tokenA ?? col.tokenB ?? '');
  return ` @${tok}`;
}

function nodeName(n: ComparedNode, c: GraphComparison): string {
  switch (n.kind) {
    case 'feature':
      return `L${n.layer}#${n.index}${n.label ? ` "${n.label}"` : ''}${where(n, c)}`;
    case 'error':
      return `Err L${n.layer}${where(n, c)}`;
    case 'embedding':
      return `Emb${where(n, c)}`;
    case 'logit':
      return n.label;
  }
}

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

export function formatComparison(c: GraphComparison, top: number): string {
  const s = c.summary;
  const out: string[] = [];
  out.push(`Aligned ${c.alignReason}.`);
  const subs = c.columns.filter((col) => col.a !== null && col.b !== null && !col.same);
  const gaps = c.columns.filter((col) => col.a === null || col.b === null);
  out.push(`Tokens: ${c.columns.length} columns, ${subs.length} substituted${subs.length ? ` (${subs.map((x) => `${JSON.stringify(x.tokenA)}→${JSON.stringify(x.tokenB)}`).join(', ')})` : ''}, ${gaps.length} unpaired.`);
  out.push(`Nodes: A ${s.nodesA}, B ${s.nodesB}; in both ${s.both}, only in A ${s.onlyA}, only in B ${s.onlyB}; feature Jaccard ${s.featureJaccard.toFixed(3)}, influence overlap ${s.influenceOverlap.toFixed(3)}.`);
  out.push(`Edges: A ${s.edgesA}, B ${s.edgesB}, matched ${s.edgesBoth}, largest matched change ${s.maxEdgeDelta.toPrecision(3)}.`);
  out.push(`Targets: ${c.targets.map((t) => `${JSON.stringify(t.token)} A ${t.probabilityA === undefined ? '—' : pct(t.probabilityA)} / B ${t.probabilityB === undefined ? '—' : pct(t.probabilityB)}`).join(', ')}`);
  if (s.identical) {
    out.push('The graphs are identical: no node or edge differs.');
    return out.join('\n');
  }
  const list = (title: string, ns: ComparedNode[]) => {
    if (!ns.length) return;
    out.push(title);
    for (const n of ns.slice(0, top)) {
      const a = n.a ? pct(n.a.influence) : '—';
      const b = n.b ? pct(n.b.influence) : '—';
      out.push(`  ${n.influenceDelta >= 0 ? '+' : ''}${pct(n.influenceDelta)}  ${nodeName(n, c)}  (A ${a}, B ${b}${n.status === 'both' ? '' : `, only in ${n.status === 'onlyA' ? 'A' : 'B'}`})`);
    }
  };
  list('Gained (influence share, B − A):', c.gained);
  list('Lost:', c.lost);
  return out.join('\n');
}

export const command: CliCommand = {
  summary: 'Align two graph files and print what differs (nodes, influence, edges, targets).',
  usage,
  async run(argv, io) {
    const a = parse(argv, { align: { type: 'string' }, top: { type: 'string' }, json: { type: 'boolean' } });
    if (a._.length !== 2) throw new UsageError(`give exactly two graph files, got ${a._.length}`);
    const align = a.align === undefined ? 'auto' : String(a.align);
    if (align !== 'auto' && align !== 'feature' && align !== 'label') throw new UsageError(`--align must be auto, feature or label, got ${JSON.stringify(a.align)}.`);
    const top = intOption(a.top, 'top', 1, 10);
    const ga = fromGraphFile(readGraphFile(resolve(a._[0])));
    const gb = fromGraphFile(readGraphFile(resolve(a._[1])));
    const c = compareGraphs(ga, gb, { alignBy: align, top });
    if (a.json) io.out(JSON.stringify(c, null, 2));
    else io.out(formatComparison(c, top));
    return 0;
  },
};
