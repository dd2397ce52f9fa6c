/**
 * Command-line parsing shared by every subcommand: node:util parseArgs with typed options, plus the
 * conversions and checks each command would otherwise repeat. A bad command line is a UsageError
 * (exit code 2 with the command's usage), never a stack trace.
 */
import { parseArgs } from 'node:util';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { EngineError } from '../engine/errors';
import { PROVIDER_SETTINGS, type PrecisionSetting, type ProviderSetting } from '../engine/runtime';
import { DEFAULT_SEMANTICS, isFreezeMode, resolveSemantics, type InterventionSemantics } from '../engine/attribution/semantics';

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface CliCommand {
  /** One line for `circuit-inspector --help`. */
  summary: string;
  usage: string;
  /** Returns the process exit code. */
  run(argv: string[]): Promise<number>;
}

type OptionSpec = { type: 'string' | 'boolean'; short?: string; multiple?: boolean };

/** The flags every engine command takes: where the model runs and where built graphs are cached. */
/** A parsed flag: a string, a boolean switch, or the strings of a `multiple` flag. */
export type FlagValue = string | boolean | string[] | undefined;

export const RUNTIME_FLAGS = {
  provider: { type: 'string' },
  threads: { type: 'string' },
  'cache-dir': { type: 'string' },
} as const satisfies Record<string, OptionSpec>;

/** What interventions hold fixed: the same flags (and defaults) on every command that intervenes. */
export const SEMANTICS_FLAGS = {
  attention: { type: 'string' },
  norms: { type: 'string' },
} as const satisfies Record<string, OptionSpec>;

export const SEMANTICS_USAGE = `  --attention frozen|recomputed  attention patterns during interventions (default ${DEFAULT_SEMANTICS.attention})
  --norms frozen|recomputed      normalisation scales during interventions (default ${DEFAULT_SEMANTICS.norms};
                                 frozen needs --attention frozen)`;

export function semanticsOption(a: { attention?: unknown; norms?: unknown }): InterventionSemantics {
  for (const k of ['attention', 'norms'] as const) {
    if (a[k] !== undefined && !isFreezeMode(a[k])) throw new UsageError(`--${k} must be frozen or recomputed, got ${JSON.stringify(a[k])}.`);
  }
  try {
    return resolveSemantics({ attention: a.attention as InterventionSemantics['attention'] | undefined, norms: a.norms as InterventionSemantics['norms'] | undefined });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** Parses flags only: a stray positional argument is a usage error. */
export function parseFlags<T extends Record<string, OptionSpec>>(argv: string[], options: T): Record<keyof T, FlagValue> {
  const a = parse(argv, options);
  if (a._.length) throw new UsageError(`unexpected argument ${JSON.stringify(a._[0])}`);
  return a;
}

export function parse<T extends Record<string, OptionSpec>>(argv: string[], options: T): Record<keyof T, FlagValue> & { _: string[] } {
  try {
    const { values, positionals } = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
    // Copied key by key: node's parseArgs result type is a conditional type over T that TypeScript
    // cannot relate to a plain record.
    const flags: Record<string, FlagValue> = {};
    for (const [k, v] of Object.entries(values)) flags[k] = v as FlagValue;
    return { ...(flags as Record<keyof T, FlagValue>), _: positionals };
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

export function intOption(v: unknown, name: string, min: number, fallback: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} must be an integer ≥ ${min}, got ${JSON.stringify(v)}.`);
  return n;
}

export function idsOption(v: unknown): number[] | undefined {
  if (v === undefined) return undefined;
  const parts = String(v).split(/[,\s]+/).filter(Boolean);
  const ids = parts.map(Number);
  if (!ids.length || ids.some((n) => !Number.isInteger(n) || n < 0)) throw new UsageError(`--ids must be comma-separated token ids, got ${JSON.stringify(v)}.`);
  return ids;
}

export function providerOption(v: unknown): ProviderSetting | undefined {
  if (v === undefined) return undefined;
  if (!PROVIDER_SETTINGS.includes(v as ProviderSetting)) throw new UsageError(`--provider must be one of ${PROVIDER_SETTINGS.join(', ')}, got ${JSON.stringify(v)}.`);
  return v as ProviderSetting;
}

export function precisionOption(v: unknown): PrecisionSetting | undefined {
  if (v === undefined) return undefined;
  if (v !== 'auto' && v !== 'f32' && v !== 'f16') throw new UsageError(`--precision must be auto, f32 or f16, got ${JSON.stringify(v)}.`);
  return v;
}

/** The package root: dist/cli.js and src/cli.ts both sit one level below it. */
export function packageRoot(): string {
  return resolve(__dirname, '..');
}

/** The embedded default model, used when no --model is given. */
export function defaultModelDir(): string {
  let root = packageRoot();
  // Under tsx this file is src/cli/args.ts: one level deeper than the bundled dist/cli.js.
  if (!existsSync(join(root, 'package.json'))) root = resolve(root, '..');
  return join(root, 'models', 'toy-llama');
}

export function modelOption(v: unknown): string {
  if (typeof v === 'string' && v) return resolve(v);
  const dir = defaultModelDir();
  if (!existsSync(join(dir, 'config.json'))) {
    throw new EngineError(
      'MODEL_NOT_FOUND',
      `No embedded model is installed yet (looked in ${dir}).`,
      'Pass a Hugging Face model folder with --model DIR (config.json, *.safetensors, tokenizer.json).',
    );
  }
  return dir;
}

/** The prompt of commands that take exactly one of --prompt-file, --prompt or --ids. */
export function promptOption(a: { prompt?: unknown; 'prompt-file'?: unknown; ids?: unknown }): string | number[] {
  const ids = idsOption(a.ids);
  const sources = [ids !== undefined, a.prompt !== undefined, a['prompt-file'] !== undefined].filter(Boolean).length;
  if (sources !== 1) throw new UsageError('give exactly one of --prompt-file, --prompt or --ids');
  return ids ?? (a.prompt !== undefined ? String(a.prompt) : promptFromFile(String(a['prompt-file'])));
}

export function promptFromFile(path: string): string {
  const p = resolve(path);
  if (!existsSync(p)) throw new EngineError('PROMPT_EMPTY', `The prompt file ${p} does not exist.`, 'Pass an existing text file with --prompt-file.');
  return readFileSync(p, 'utf8').replace(/\r?\n$/, '');
}
