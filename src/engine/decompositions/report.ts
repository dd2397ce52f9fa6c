/**
 * The decomposition report: one model, several dictionaries (transcoders, CLT, SAE, e2e SAE …), one
 * prompt set, the same measurements for each, so the decompositions compare like for like:
 * reconstruction (L0, FVU, spliced CE and KL — reconstruction.ts), the attribution graph's replacement
 * and completeness scores and the features needed for 80 % of the answer's influence (dictionaries
 * attribution supports), and the share of active features whose measured effect on the answer is
 * below ε (ablation-effects.ts). Optional task analyses of the embedded language (tasks.ts).
 */
import type { ModelBundle } from '../api';
import { attributeAny } from '../attribution/sae-graph';
import type { EngineOptions } from '../attribution/engine';
import type { Dictionary } from '../dictionaries/types';
import { throwIfCancelled } from '../errors';
import type { ForwardRunner } from '../forward';
import { ablationEffects } from './ablation-effects';
import { checkSpliceable, promptReconstruction, type PromptReconstruction } from './reconstruction';
import { analyseColourShape, analyseSquares } from './tasks';
import { fmt3, fmtShare, type DecompositionReport, type DictionaryReport } from '../../shared/decomposition-report';

export type { DecompositionReport, DictionaryReport };

export type DecompositionTask = 'square' | 'colour-shape';

export interface ReportOptions {
  /** |Δ answer logit| below this counts as "no measured effect" (default 0.01). */
  epsilon?: number;
  /** At most this many single-feature ablations per prompt and dictionary, largest activations first. */
  maxAblations?: number;
  tasks?: DecompositionTask[];
  runtime?: EngineOptions;
  signal?: AbortSignal;
  onProgress?(message: string, fraction: number): void;
}



const mean = (xs: number[]) => (xs.length ? xs.reduce((s, x) => s + x, 0) / xs.length : NaN);

/**
 * Why no attribution graphs can be built over this dictionary, if so: transcoders and CLTs give transcoder
 * graphs, one residual-stream SAE gives an SAE graph (attribution/sae-graph.ts); several SAE layers do not.
 */
function graphSupport(dict: Dictionary): string | undefined {
  return dict.kind === 'sae' && dict.layers.length !== 1 ? 'SAE graphs need a single residual-stream SAE layer' : undefined;
}

export async function decompositionReport(runner: ForwardRunner, bundle: ModelBundle, dictionaries: Dictionary[], prompts: string[], opts: ReportOptions = {}): Promise<DecompositionReport> {
  const epsilon = opts.epsilon ?? 0.01;
  const out: DictionaryReport[] = [];
  const steps = dictionaries.length * prompts.length;
  let step = 0;
  for (const dict of dictionaries) {
    checkSpliceable(dict);
    const recs: PromptReconstruction[] = [];
    let measured = 0;
    let unused = 0;
    const rep: number[] = [];
    const comp: number[] = [];
    const f80: number[] = [];
    const skip = graphSupport(dict);
    for (const prompt of prompts) {
      throwIfCancelled(opts.signal);
      opts.onProgress?.(`${dict.name}: ${prompt}`, step++ / steps);
      const ids = bundle.tokenizer.encode(prompt).map((t) => t.id);
      recs.push(await promptReconstruction(runner, bundle, dict, ids));
      const ab = await ablationEffects(runner, bundle, dict, ids, opts.maxAblations);
      measured += ab.effects.length;
      unused += ab.effects.filter((e) => Math.abs(e.effect) < epsilon).length;
      if (!skip) {
        const g = await attributeAny(bundle, dict, prompt, { prune: false, runtime: opts.runtime }, { signal: opts.signal });
        if (g.scores) {
          rep.push(g.scores.replacement);
          comp.push(g.scores.completeness);
        }
        f80.push(g.nodes.filter((n) => n.kind === 'feature' && (n.cumulativeInfluence ?? 1) <= 0.8).length);
      }
    }
    const r: DictionaryReport = {
      name: dict.name,
      kind: dict.kind,
      layers: dict.layers,
      l0: mean(recs.map((x) => mean(x.layers.map((l) => l.l0)))),
      fvu: mean(recs.map((x) => mean(x.layers.map((l) => l.fvu)))),
      perLayer: dict.layers.map((layer, i) => ({
        layer,
        l0: mean(recs.map((x) => x.layers[i].l0)),
        fvu: mean(recs.map((x) => x.layers[i].fvu)),
        ceSpliced: mean(recs.map((x) => x.layers[i].ceSpliced)),
        klSpliced: mean(recs.map((x) => x.layers[i].klSpliced)),
      })),
      ceClean: mean(recs.map((x) => x.ceClean)),
      ceSpliced: mean(recs.map((x) => x.ceSpliced)),
      klSpliced: mean(recs.map((x) => x.klSpliced)),
      ablation: { measured, unused, unusedShare: measured ? unused / measured : NaN, epsilon },
    };
    if (skip) r.graphSkipped = skip;
    else r.graph = { replacement: mean(rep), completeness: mean(comp), featuresFor80: mean(f80) };
    for (const task of opts.tasks ?? []) {
      throwIfCancelled(opts.signal);
      opts.onProgress?.(`${dict.name}: ${task}`, step / steps);
      if (task === 'square') r.square = await analyseSquares(runner, bundle, dict);
      else r.colourShape = await analyseColourShape(runner, bundle, dict, !skip, opts.runtime);
    }
    out.push(r);
  }
  opts.onProgress?.('done', 1);
  return { model: bundle.spec.name, prompts, dictionaries: out };
}

const f3 = fmt3;
const pct = fmtShare;

/** The report as Markdown tables (README and the CLI print this). */
export function formatReport(r: DecompositionReport): string {
  const lines: string[] = [];
  lines.push(`Model ${r.model}, ${r.prompts.length} prompt${r.prompts.length === 1 ? '' : 's'}.`);
  lines.push('');
  lines.push('| dictionary | kind | L0 | FVU | CE clean | CE spliced | KL spliced | replacement | completeness | features for 80 % | no effect (\\|Δ\\| < ε) |');
  lines.push('|---|---|---|---|---|---|---|---|---|---|---|');
  for (const d of r.dictionaries) {
    lines.push(`| ${d.name} | ${d.kind} | ${d.l0.toFixed(1)} | ${f3(d.fvu)} | ${f3(d.ceClean)} | ${f3(d.ceSpliced)} | ${f3(d.klSpliced)} | ${f3(d.graph?.replacement)} | ${f3(d.graph?.completeness)} | ${d.graph ? d.graph.featuresFor80.toFixed(1) : '—'} | ${pct(d.ablation.unusedShare)} of ${d.ablation.measured} (ε ${d.ablation.epsilon}) |`);
  }
  lines.push('', 'Per layer (each layer spliced alone, the others exact):', '');
  lines.push('| dictionary | layer | L0 | FVU | CE spliced | KL spliced |');
  lines.push('|---|---|---|---|---|---|');
  for (const d of r.dictionaries) for (const l of d.perLayer) lines.push(`| ${d.name} | ${l.layer} | ${l.l0.toFixed(1)} | ${f3(l.fvu)} | ${f3(l.ceSpliced)} | ${f3(l.klSpliced)} |`);
  const skipped = r.dictionaries.filter((d) => d.graphSkipped);
  for (const d of skipped) lines.push(`\n${d.name}: ${d.graphSkipped}.`);
  if (r.dictionaries.some((d) => d.square)) {
    lines.push('', 'x² ("n squared equals", n = 0 … 30, features at the last position):', '');
    lines.push('| dictionary | features | one n only | contiguous n (always on) | scattered | per n | tiling of 0 … 30 |');
    lines.push('|---|---|---|---|---|---|---|');
    for (const d of r.dictionaries) {
      const s = d.square;
      if (s) lines.push(`| ${d.name} | ${s.features} | ${s.singleN} | ${s.contiguous} (${s.always}) | ${s.scattered} | ${s.perN.toFixed(1)} | ${s.tiling.features} features cover ${s.tiling.covers} / ${s.tiling.of} |`);
    }
  }
  if (r.dictionaries.some((d) => d.colourShape)) {
    lines.push('', 'colour × shape (features at the shape token over all 25 colour-shape pairs, by two-way ANOVA):', '');
    lines.push('| dictionary | colour-atomic | shape-atomic | conjunction | constant | answer influence: colour / shape / conjunction |');
    lines.push('|---|---|---|---|---|---|');
    for (const d of r.dictionaries) {
      const c = d.colourShape;
      if (!c) continue;
      const inf = c.influenceShare ? `${pct(c.influenceShare.colour)} / ${pct(c.influenceShare.shape)} / ${pct(c.influenceShare.conjunction)}` : '—';
      lines.push(`| ${d.name} | ${c.classes.colour} | ${c.classes.shape} | ${c.classes.conjunction} | ${c.constant} | ${inf} |`);
    }
  }
  return lines.join('\n');
}
