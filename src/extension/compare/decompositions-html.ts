/**
 * The Compare Decompositions page: the decomposition report (engine/decompositions/report.ts) of one
 * prompt, one row per dictionary of the model — transcoders, CLT, SAE, e2e SAE — with the same figures
 * and formatting as `circuit-inspector decompositions`, the graph each dictionary gives, and what every
 * column means. The best value of each column is marked (bold and a ★, never by colour alone).
 *
 * Static markup on the host: no script at all (CSP `default-src 'none'`, styles from the extension's own
 * stylesheet, colours only from --vscode-* variables, so it reads in every theme), every string escaped.
 * Pure (no 'vscode') so it is unit-tested.
 */
import { fmt3, fmtShare, kindLabel, type DecompositionReport, type DictionaryReport } from '../../shared/decomposition-report';
import { esc, staticPage, type CompareHtmlResources } from './compare-html';

export type DecompositionsHtmlResources = CompareHtmlResources;

interface Column {
  head: string;
  /** What the column measures (the header's tooltip and the legend). */
  means: string;
  value(d: DictionaryReport): number | undefined;
  text(d: DictionaryReport): string;
  /** Which way is better, for marking the best row; undefined: not ranked. */
  better?: 'low' | 'high';
}

const COLUMNS: Column[] = [
  { head: 'L0', means: 'active features per token (mean over layers and positions, BOS excluded)', value: (d) => d.l0, text: (d) => d.l0.toFixed(1) },
  { head: 'FVU', means: 'fraction of variance unexplained by the reconstruction', value: (d) => d.fvu, text: (d) => fmt3(d.fvu), better: 'low' },
  { head: 'CE clean', means: 'next-token cross-entropy of the model itself', value: (d) => d.ceClean, text: (d) => fmt3(d.ceClean) },
  { head: 'CE spliced', means: 'cross-entropy with the reconstruction spliced in at every layer the dictionary covers (BOS kept exact)', value: (d) => d.ceSpliced, text: (d) => fmt3(d.ceSpliced), better: 'low' },
  { head: 'KL spliced', means: 'KL divergence of the spliced model’s next-token distribution from the model’s', value: (d) => d.klSpliced, text: (d) => fmt3(d.klSpliced), better: 'low' },
  { head: 'replacement', means: 'graph replacement score: share of the answer’s influence that reaches the tokens through features rather than error nodes', value: (d) => d.graph?.replacement, text: (d) => fmt3(d.graph?.replacement), better: 'high' },
  { head: 'completeness', means: 'graph completeness score: share of the nodes’ inputs not from error nodes, weighted by influence', value: (d) => d.graph?.completeness, text: (d) => fmt3(d.graph?.completeness), better: 'high' },
  { head: 'features for 80 %', means: 'graph size: features needed for 80 % of the answer’s influence', value: (d) => d.graph?.featuresFor80, text: (d) => (d.graph ? d.graph.featuresFor80.toFixed(1) : '—') },
  {
    head: 'no effect',
    means: 'active features whose single ablation moves the answer’s logit by less than ε in the real model (structure the model does not use)',
    value: (d) => d.ablation.unusedShare,
    text: (d) => `${fmtShare(d.ablation.unusedShare)} of ${d.ablation.measured}`,
    better: 'low',
  },
];

function graphKind(d: DictionaryReport): string {
  if (d.graphSkipped) return `none (${d.graphSkipped})`;
  return d.kind === 'sae' ? 'SAE graph (attribution patching)' : 'transcoder graph';
}

/** Index of the best row per ranked column (ties: the first), ignoring rows without a value. */
function bestRows(r: DecompositionReport): Map<Column, number> {
  const best = new Map<Column, number>();
  for (const c of COLUMNS) {
    if (!c.better) continue;
    let at = -1, v = 0;
    r.dictionaries.forEach((d, i) => {
      const x = c.value(d);
      if (x === undefined || Number.isNaN(x)) return;
      if (at < 0 || (c.better === 'low' ? x < v : x > v)) [at, v] = [i, x];
    });
    if (at >= 0 && r.dictionaries.length > 1) best.set(c, at);
  }
  return best;
}

export function decompositionsHtml(res: DecompositionsHtmlResources, report: DecompositionReport): string {
  const best = bestRows(report);
  const eps = report.dictionaries[0]?.ablation.epsilon;
  const head = COLUMNS.map((c) => `<th class="num" title="${esc(c.means)}">${esc(c.head)}</th>`).join('');
  const rows = report.dictionaries
    .map((d, i) => {
      const cells = COLUMNS.map((c) => {
        const isBest = best.get(c) === i;
        return `<td class="num${isBest ? ' best' : ''}" data-col="${esc(c.head)}">${esc(c.text(d))}${isBest ? '<span class="star" title="best of the dictionaries"> ★</span>' : ''}</td>`;
      }).join('');
      return `<tr data-dictionary="${esc(d.name)}"><th scope="row">${esc(d.name)}</th><td data-col="kind">${esc(kindLabel(d))}</td><td data-col="graph">${esc(graphKind(d))}</td>${cells}</tr>`;
    })
    .join('\n');
  const perLayer = report.dictionaries
    .flatMap((d) => d.perLayer.map((l) => `<tr><th scope="row">${esc(d.name)}</th><td class="num">${l.layer}</td><td class="num">${esc(l.l0.toFixed(1))}</td><td class="num">${esc(fmt3(l.fvu))}</td><td class="num">${esc(fmt3(l.ceSpliced))}</td><td class="num">${esc(fmt3(l.klSpliced))}</td></tr>`))
    .join('\n');
  const legend = COLUMNS.map((c) => `<dt>${esc(c.head)}</dt><dd>${esc(c.means)}${c.better ? ` — ${c.better === 'low' ? 'lower' : 'higher'} is better` : ''}</dd>`).join('');
  const prompt = report.prompts.length === 1 ? `<p class="prompt" data-testid="decompositions-prompt">${esc(report.prompts[0])}</p>` : `<p class="muted">${report.prompts.length} prompts</p>`;
  const body = `
<h1>Decompositions of ${esc(report.model)}</h1>
${prompt}
<p class="muted">Every dictionary of the model measured the same way on this prompt (the figures of <code>circuit-inspector decompositions</code>). Transcoders and CLTs give transcoder graphs; residual-stream SAEs give SAE graphs (their features and error at the SAE’s site, attention and norms frozen, MLPs linearised at the prompt). ε = ${eps === undefined ? '—' : esc(String(eps))}.</p>
<div class="wrap"><table data-testid="decompositions-table">
<thead><tr><th>dictionary</th><th>kind</th><th>graph</th>${head}</tr></thead>
<tbody>
${rows}
</tbody>
</table></div>
<h2>Each layer spliced alone</h2>
<div class="wrap"><table>
<thead><tr><th>dictionary</th><th class="num">layer</th><th class="num">L0</th><th class="num">FVU</th><th class="num">CE spliced</th><th class="num">KL spliced</th></tr></thead>
<tbody>
${perLayer}
</tbody>
</table></div>
<h2>What the columns mean</h2>
<dl class="legend">${legend}</dl>`;
  return staticPage(res, body, 'decompositions-root');
}
