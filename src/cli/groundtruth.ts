/**
 * `circuit-inspector groundtruth`: the recovery scoreboard of the compiled ground-truth models
 * (models/compiled/, built by tools/compile/compile.py): for each model × dictionary × threshold
 * setting, how many of circuit.json's variables the dictionary finds, how many of its edges the pruned
 * graphs keep (and which step lost the rest), AUROC of edge weights, replacement and completeness.
 */
import { join, resolve } from 'node:path';
import { EngineError } from '../engine/errors';
import { findCompiledModels, formatScoreboard, scoreCompiled, type Scoreboard } from '../engine/groundtruth/index';
import { intOption, packageRoot, parseFlags, providerOption, RUNTIME_FLAGS, UsageError, type CliCommand, runtimeUsage } from './args';
import { existsSync } from 'node:fs';

const usage = `Usage: circuit-inspector groundtruth [--models DIR] [--only NAME,…] [--dictionaries transcoders,clt] [--json]

  --models DIR             folder of compiled models (default: the package's models/compiled)
  --only LIST              only these models (folder names)
  --dictionaries LIST      only these dictionaries (transcoders, clt)
  --lost                   also list the ground-truth edges lost at the default thresholds
  --json                   print the scoreboards as JSON
${runtimeUsage(27)}`;

export function compiledModelsDir(): string {
  let root = packageRoot();
  if (!existsSync(join(root, 'package.json'))) root = resolve(root, '..');
  return join(root, 'models', 'compiled');
}

export const command: CliCommand = {
  summary: 'Score attribution graphs against the compiled models\' known circuits (variable and edge recovery).',
  usage,
  async run(argv, io) {
    const a = parseFlags(argv, {
      models: { type: 'string' },
      only: { type: 'string' },
      dictionaries: { type: 'string' },
      lost: { type: 'boolean' },
      json: { type: 'boolean' },
      ...RUNTIME_FLAGS,
    });
    const root = typeof a.models === 'string' ? resolve(a.models) : compiledModelsDir();
    const only = typeof a.only === 'string' ? a.only.split(',').filter(Boolean) : undefined;
    const dicts = typeof a.dictionaries === 'string' ? a.dictionaries.split(',').filter(Boolean) : undefined;
    for (const d of dicts ?? []) if (d !== 'transcoders' && d !== 'clt') throw new UsageError(`--dictionaries takes transcoders and/or clt, got ${JSON.stringify(d)}.`);
    const models = findCompiledModels(root).filter((m) => !only || only.includes(m.name));
    if (!models.length) {
      throw new EngineError('MODEL_NOT_FOUND', `No compiled models${only ? ` named ${only.join(', ')}` : ''} in ${root}.`, 'Build them with /usr/bin/python3 tools/compile/compile.py --out models/compiled --dicts.');
    }
    const runtime = { provider: providerOption(a.provider), threads: intOption(a.threads, 'threads', 0, 0), cacheDir: typeof a['cache-dir'] === 'string' ? a['cache-dir'] : undefined };
    const boards: Scoreboard[] = [];
    for (const m of models) {
      for (const d of m.dictionaries.filter((d) => !dicts || dicts.includes(d.name))) {
        if (!a.json && process.stderr.isTTY) process.stderr.write(`\r${m.name} × ${d.name}…   `);
        boards.push(await scoreCompiled(m.dir, d.dir, d.name, { runtime }));
      }
    }
    if (!a.json && process.stderr.isTTY) process.stderr.write('\r');
    if (a.json) {
      io.out(JSON.stringify(boards, null, 2));
      return 0;
    }
    io.out(formatScoreboard(boards));
    if (a.lost) {
      for (const b of boards) {
        if (!b.lostAtDefault.length) continue;
        io.out(`\n${b.model} × ${b.dictionary}: edges lost at the default thresholds`);
        for (const e of b.lostAtDefault) io.out(`  ${JSON.stringify(e.prompt)}: ${e.source} → ${e.target} — ${e.why}`);
      }
    }
    return 0;
  },
};
