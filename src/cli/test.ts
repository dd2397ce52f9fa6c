/**
 * `circuit-inspector test [globs] [--reporter tap|junit]`: runs the circuit tests (`expect …` lines after
 * prompt blocks) of prompt files; exit code 1 when an expectation fails, for CI.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { attributionEngine } from '../engine/attribution/index';
import { loadModelBundle } from '../engine/bundle/index';
import { anyFailed, toJunit, toTap, type FileResult } from '../engine/circuit-tests/reporters';
import { runDocument } from '../engine/circuit-tests/runner';
import { loadDictionary } from '../engine/dictionaries/index';
import { dialectFor } from '../shared/prompt-blocks';
import { dictionaryDir } from './analyze';
import { intOption, modelOption, outputOption, parse, providerOption, writeOutput, RUNTIME_FLAGS, UsageError, type CliCommand } from './args';

const usage = `Usage: circuit-inspector test [GLOB …] [--reporter tap|junit] [--out FILE] [--model DIR] [--transcoders DIR]

  GLOB          prompt files to run (default: **/*.prompt and **/*.prompt.md under the working folder);
                * matches within a path segment, ** across segments
  --reporter    tap (default) or junit
  --out FILE    write the report there instead of standard output
  --node-threshold T, --edge-threshold T   pruning of the graphs the expectations read (0.8, 0.98)
  --provider NAME, --threads N, --cache-dir DIR

Exit code 1 when any expectation fails. The expectation syntax is in README.md ("Circuit tests").`;

/** A glob as a regular expression over '/'-separated relative paths. */
export function globRegex(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '*' && glob[i + 1] === '*') {
      const slash = glob[i + 2] === '/';
      re += slash ? '(?:.*/)?' : '.*';
      i += slash ? 2 : 1;
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

const SKIP = new Set(['node_modules', '.git', 'dist', '.cache', 'out']);

function walk(dir: string, root: string, out: string[]): void {
  for (const name of readdirSync(dir)) {
    if (SKIP.has(name)) continue;
    const p = join(dir, name);
    const s = statSync(p);
    if (s.isDirectory()) walk(p, root, out);
    else out.push(relative(root, p).split('\\').join('/'));
  }
}

export function expandGlobs(globs: string[], cwd: string): string[] {
  const files = new Set<string>();
  let all: string[] | undefined;
  for (const g of globs) {
    if (!/[*?]/.test(g)) {
      files.add(g);
      continue;
    }
    if (!all) {
      all = [];
      walk(cwd, cwd, all);
    }
    const re = globRegex(g.replace(/^\.\//, ''));
    for (const f of all) if (re.test(f)) files.add(f);
  }
  return [...files].sort();
}

export const command: CliCommand = {
  summary: 'Run the circuit tests (expect lines) of prompt files; TAP or JUnit; exit 1 on a failure.',
  usage,
  async run(argv, io) {
    const a = parse(argv, {
      reporter: { type: 'string' },
      out: { type: 'string' },
      model: { type: 'string' },
      transcoders: { type: 'string' },
      'node-threshold': { type: 'string' },
      'edge-threshold': { type: 'string' },
      ...RUNTIME_FLAGS,
    });
    const reporter = a.reporter ?? 'tap';
    if (reporter !== 'tap' && reporter !== 'junit') throw new UsageError(`--reporter must be tap or junit, got ${JSON.stringify(reporter)}`);
    const threshold = (v: unknown, name: string) => {
      if (v === undefined) return undefined;
      const n = Number(v);
      if (!(n > 0 && n <= 1)) throw new UsageError(`--${name} must be in (0, 1], got ${JSON.stringify(v)}`);
      return n;
    };
    const nodeThreshold = threshold(a['node-threshold'], 'node-threshold');
    const edgeThreshold = threshold(a['edge-threshold'], 'edge-threshold');
    const cwd = process.cwd();
    const files = expandGlobs(a._.length ? a._ : ['**/*.prompt', '**/*.prompt.md'], cwd);
    if (!files.length) throw new UsageError(`no prompt files match ${a._.length ? a._.join(' ') : 'the default globs'}`);
    const modelDir = modelOption(a.model);
    const bundle = await loadModelBundle(modelDir);
    const dictionary = await loadDictionary(dictionaryDir(a.transcoders, modelDir), { dModel: bundle.spec.dModel, nLayers: bundle.spec.nLayers, name: bundle.spec.name });
    const engine = await attributionEngine(bundle, dictionary, { provider: providerOption(a.provider), threads: intOption(a.threads, 'threads', 0, 0), cacheDir: typeof a['cache-dir'] === 'string' ? a['cache-dir'] : undefined });
    const results: FileResult[] = [];
    for (const file of files) {
      let doc: string;
      try {
        doc = readFileSync(resolve(cwd, file), 'utf8');
      } catch (e) {
        results.push({ file, blocks: [], error: `cannot read: ${(e as Error).message}` });
        continue;
      }
      try {
        const blocks = await runDocument({ engine, dictionary }, doc, dialectFor('', file), { nodeThreshold, edgeThreshold });
        results.push({ file, blocks });
      } catch (e) {
        results.push({ file, blocks: [], error: (e as Error).message });
      }
    }
    const text = reporter === 'junit' ? toJunit(results) : toTap(results);
    if (typeof a.out === 'string') {
      const out = outputOption(a.out, 'out')!;
      const { writeFileSync } = await import('node:fs');
      writeOutput(out, 'The report file', () => writeFileSync(out, text));
    } else io.out(text.replace(/\n$/, ''));
    return anyFailed(results) ? 1 : 0;
  },
};
