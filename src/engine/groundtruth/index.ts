/**
 * Ground truth by construction: the compiled models of models/compiled/ (tools/compile), their
 * circuit.json, and the scoreboard of how much of each circuit the attribution graphs recover.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { EngineOptions } from '../attribution/engine';
import { ModelSession } from '../session';
import { loadCircuit } from './circuit';
import { DEFAULT_SETTING_INDEX, scoreCircuit, type Scoreboard, type ScoreOptions } from './scoreboard';

export * from './circuit';
export * from './scoreboard';

/** The dictionary folders a compiled model may carry, in table order. */
export const GROUND_TRUTH_DICTIONARIES = ['transcoders', 'clt'] as const;

export interface CompiledModel {
  name: string;
  dir: string;
  dictionaries: { name: string; dir: string }[];
}

/** Every subfolder of `root` with a circuit.json, and its dictionaries. */
export function findCompiledModels(root: string): CompiledModel[] {
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .sort()
    .map((name) => ({ name, dir: join(root, name) }))
    .filter((m) => statSync(m.dir).isDirectory() && existsSync(join(m.dir, 'circuit.json')))
    .map((m) => ({ ...m, dictionaries: GROUND_TRUTH_DICTIONARIES.filter((d) => existsSync(join(m.dir, d, 'config.yaml'))).map((d) => ({ name: d, dir: join(m.dir, d) })) }));
}

/** Scores one compiled model with one of its dictionaries (a session opened and closed for it). */
export async function scoreCompiled(modelDir: string, dictDir: string, label: string, o: ScoreOptions & { runtime?: EngineOptions } = {}): Promise<Scoreboard> {
  const session = await ModelSession.open({ model: modelDir, dictionaries: [dictDir], runtime: o.runtime });
  try {
    return await scoreCircuit(session, loadCircuit(modelDir), { ...o, dictionaryLabel: label });
  } finally {
    await session.dispose();
  }
}

const pct = (x: number) => (Number.isFinite(x) ? `${(100 * x).toFixed(1)} %` : '–');
const f3 = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : '–');

/** The scoreboard as a Markdown table: one row per model × dictionary × threshold setting. */
export function formatScoreboard(boards: Scoreboard[]): string {
  const lines = [
    '| model | dictionary | variables found (F1 ≥ 0.5) | mean F1 | node / edge threshold | edges recovered | recall | recall, edges on a path to the answer | precision | lost: dictionary / attribution / pruning | found variables kept | AUROC | replacement | completeness |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const b of boards) {
    b.rows.forEach((r, i) => {
      const mark = i === DEFAULT_SETTING_INDEX ? ' (default)' : '';
      lines.push(`| ${b.model} | ${b.dictionary} | ${b.variablesFound}/${b.variables.length} | ${f3(b.meanF1)} | ${r.thresholds.node} / ${r.thresholds.edge}${mark} | ${r.recovered}/${b.edges}${b.qkEdges ? ` (+${b.qkEdges} qk)` : ''} | ${pct(r.recall)} | ${pct(r.recallOnPath)} (${r.recoveredOnPath}/${b.edgesOnPath}) | ${pct(r.precision)} | ${r.lost.dictionary} / ${r.lost.attribution} / ${r.lost.pruning} | ${pct(r.variablesSurvive)} | ${f3(b.auroc)} | ${f3(b.replacement)} | ${f3(b.completeness)} |`);
    });
  }
  return lines.join('\n');
}
