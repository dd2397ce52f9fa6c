/**
 * The `groundtruth` bench section: the recovery scoreboard of the compiled ground-truth models
 * (models/compiled/, tools/compile) — for each model × dictionary × threshold setting, edge recall and
 * precision against circuit.json, the variables found, AUROC of edge weights, replacement and
 * completeness. Measured, never asserted here (test/unit/groundtruth holds the floors).
 */
import { join } from 'node:path';
import { DEFAULT_SETTING_INDEX, findCompiledModels, scoreCompiled } from '../src/engine/groundtruth/index';
import type { BenchRow, SectionContext } from './table';

export async function benchGroundTruth(ctx: SectionContext): Promise<BenchRow[]> {
  const models = findCompiledModels(join(ctx.root, 'models', 'compiled'));
  if (!models.length) return [{ section: 'groundtruth', name: 'skipped', value: 0, unit: '', note: 'models/compiled is not built (tools/compile/compile.py)' }];
  const rows: BenchRow[] = [];
  for (const m of models) {
    for (const d of m.dictionaries) {
      const t0 = performance.now();
      const b = await scoreCompiled(m.dir, d.dir, d.name, { runtime: { provider: 'cpu', threads: ctx.threads ?? 1 } });
      const secs = (performance.now() - t0) / 1000;
      const what = `${m.name} × ${d.name}`;
      b.rows.forEach((r, i) => {
        const setting = `node ${r.thresholds.node} / edge ${r.thresholds.edge}${i === DEFAULT_SETTING_INDEX ? ' (default)' : ''}`;
        rows.push({
          section: 'groundtruth',
          name: `${what}: edge recall, ${setting}`,
          value: 100 * r.recall,
          unit: '%',
          provider: 'cpu',
          note: `${r.recovered}/${b.edges} edges; precision ${(100 * r.precision).toFixed(1)} %; lost dictionary/attribution/pruning ${r.lost.dictionary}/${r.lost.attribution}/${r.lost.pruning}; found variables kept ${(100 * r.variablesSurvive).toFixed(0)} %`,
        });
      });
      rows.push({ section: 'groundtruth', name: `${what}: variables found (best feature F1 ≥ 0.5)`, value: b.variablesFound, unit: `of ${b.variables.length}`, note: `mean best F1 ${b.meanF1.toFixed(3)}` });
      rows.push({ section: 'groundtruth', name: `${what}: AUROC of absolute edge weight for ground-truth edges`, value: b.auroc, unit: '', note: `replacement ${b.replacement.toFixed(3)}, completeness ${b.completeness.toFixed(3)}; ${b.prompts} prompts scored in ${secs.toFixed(1)} s` });
    }
  }
  return rows;
}
