/**
 * Command-line parsing shared by every subcommand: node:util parseArgs with typed options, plus the
 * conversions and checks each command would otherwise repeat. A bad command line is a UsageError
 * (exit code 2 with the command's usage), never a stack trace.
 */
import { parseArgs } from 'node:util';
import { existsSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { EngineError } from '../engine/errors';
import { DEFAULT_SEMANTICS, isFreezeMode, resolveSemantics, type InterventionSemantics } from '../engine/attribution/semantics';
import { readUserTextFile } from '../engine/user-files';
import type { CliIO } from './io';
import { userPathError } from '../engine/fs-errors';
import { onRuntimeMessage, PROVIDER_SETTINGS, type PrecisionSetting, type ProviderSetting } from '../engine/runtime';

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
  /** Returns the process exit code; writes only through `io`. */
  run(argv: string[], io: CliIO): Promise<number>;
}

type OptionSpec = { type: 'string' | 'boolean'; short?: string; multiple?: boolean };

/** A parsed flag: a string, a boolean switch, or the strings of a `multiple` flag. */
export type FlagValue = string | boolean | string[] | undefined;

/** The flags every engine command takes: where the model runs and where built graphs are cached. */
export const RUNTIME_FLAGS = {
  provider: { type: 'string' },
  threads: { type: 'string' },
  'cache-dir': { type: 'string' },
} as const satisfies Record<string, OptionSpec>;

/** RUNTIME_FLAGS' usage lines, their descriptions starting at column `column` (the command's own). */
export function runtimeUsage(column: number): string {
  const line = (flag: string, what: string) => `  ${flag}`.padEnd(column) + what;
  return [line('--provider NAME', 'execution provider (default auto)'), line('--threads N', 'onnxruntime intra-op threads'), line('--cache-dir DIR', 'where built ONNX graphs are cached')].join('\n');
}

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
    const { values, positionals, tokens } = parseArgs({ args: argv, options, allowPositionals: true, strict: true, tokens: true });
    // parseArgs keeps the last of a repeated flag; "--prompt a --prompt b" is a mistake to point out.
    const seen = new Set<string>();
    for (const t of tokens) {
      if (t.kind !== 'option' || options[t.name]?.multiple) continue;
      if (seen.has(t.name)) throw new UsageError(`--${t.name} is given more than once`);
      seen.add(t.name);
    }
    // Copied key by key: node's parseArgs result type is a conditional type over T that TypeScript
    // cannot relate to a plain record.
    const flags: Record<string, FlagValue> = {};
    for (const [k, v] of Object.entries(values)) flags[k] = v as FlagValue;
    return { ...(flags as Record<keyof T, FlagValue>), _: positionals };
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError((e as Error).message);
  }
}

/** A flag's value quoted for a message, shortened so a 100k-character argument does not flood the terminal. */
export function quoted(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 80 ? `${s.slice(0, 60)}…" (${String(v).length} characters)` : s;
}

/** An integer flag in [min, max]; the empty string ("--top=") is refused, not read as 0. */
export function intOption(v: unknown, name: string, min: number, fallback: number, max = Number.MAX_SAFE_INTEGER): number {
  if (v === undefined) return fallback;
  const s = String(v).trim();
  const n = /^[+-]?\d+$/.test(s) ? Number(s) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `from ${min} to ${max}`;
    throw new UsageError(`--${name} must be an integer ${range}, got ${quoted(v)}.`);
  }
  return n;
}

/** A number flag in [0, 1]; the empty string is refused. */
export function fractionOption(v: unknown, name: string, fallback: number): number {
  if (v === undefined) return fallback;
  const s = String(v).trim();
  const x = s === '' ? NaN : Number(s);
  if (!(x >= 0 && x <= 1)) throw new UsageError(`--${name} must be a number between 0 and 1, got ${quoted(v)}.`);
  return x;
}

/**
 * --threads: 0 lets onnxruntime decide; more than a few threads per core only slows it down, and a
 * huge count makes it try to start that many threads, so the count is bounded.
 */
export function threadsOption(v: unknown): number {
  return intOption(v, 'threads', 0, 0, Math.max(64, 4 * availableParallelism()));
}

export function idsOption(v: unknown): number[] | undefined {
  if (v === undefined) return undefined;
  const parts = String(v).split(/[,\s]+/).filter(Boolean);
  const ids = parts.map((p) => (/^\d+$/.test(p) ? Number(p) : NaN));
  if (!ids.length || ids.some((n) => !Number.isSafeInteger(n))) throw new UsageError(`--ids must be comma-separated token ids (integers ≥ 0), got ${quoted(v)}.`);
  return ids;
}

export function providerOption(v: unknown): ProviderSetting | undefined {
  if (v === undefined) return undefined;
  if (!PROVIDER_SETTINGS.includes(v as ProviderSetting)) throw new UsageError(`--provider must be one of ${PROVIDER_SETTINGS.join(', ')}, got ${quoted(v)}.`);
  return v as ProviderSetting;
}

export function precisionOption(v: unknown): PrecisionSetting | undefined {
  if (v === undefined) return undefined;
  if (v !== 'auto' && v !== 'f32' && v !== 'f16') throw new UsageError(`--precision must be auto, f32 or f16, got ${quoted(v)}.`);
  return v;
}

/** --provider, --threads and --cache-dir as the engine's runtime options. */
export function runtimeOptions(a: { provider?: unknown; threads?: unknown; 'cache-dir'?: unknown }): { provider?: ProviderSetting; threads: number; cacheDir?: string } {
  return { provider: providerOption(a.provider), threads: threadsOption(a.threads), cacheDir: cacheDirOption(a['cache-dir']) };
}

/**
 * When a provider was asked for by name, says on stderr (once) if the run fell back from it: the
 * editor logs this; a command-line user would otherwise get CPU speed with no word why.
 */
export function reportProviderFallback(io: CliIO, provider: ProviderSetting | undefined): () => void {
  if (provider === undefined || provider === 'auto' || provider === 'cpu') return () => {};
  return onRuntimeMessage((m) => {
    if (m.startsWith(`[runtime] ${provider} `) || m.startsWith('[runtime] using ')) io.err(`note: ${m.replace(/^\[runtime\] /, '')}`);
  });
}

/**
 * An output file flag (--out, --hooks), checked before any work: its folder must exist and be a
 * folder, and the path itself must not be a folder. Writing it later goes through `writeOutput`.
 */
export function outputOption(v: unknown, name: string): string | undefined {
  const p = pathOption(v, name);
  if (p === undefined) return undefined;
  const dir = dirname(p);
  let st;
  try {
    st = statSync(dir);
  } catch {
    throw new UsageError(`--${name} ${p}: the folder ${dir} does not exist.`);
  }
  if (!st.isDirectory()) throw new UsageError(`--${name} ${p}: ${dir} is not a folder.`);
  if (existsSync(p) && statSync(p).isDirectory()) throw new UsageError(`--${name} ${p} is a folder; give a file name.`);
  return p;
}

/** Writes an output file; a file-system failure (read-only folder, full disk) names the file. */
export function writeOutput(path: string, what: string, write: () => void): void {
  userPathError('OUTPUT_UNWRITABLE', `${what} ${path}`, write, 'Choose a writable folder with room for the file.');
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

/** A folder flag: absent means the default; given, it must name something ("" is a mistake, not the default). */
export function pathOption(v: unknown, name: string): string | undefined {
  if (v === undefined) return undefined;
  const s = String(v);
  if (!s.trim()) throw new UsageError(`--${name} is empty; give a path, or leave the flag out for the default.`);
  if (s.includes('\0')) throw new UsageError(`--${name} contains a NUL character; no path can.`);
  return resolve(s);
}

/** --cache-dir: a folder (created when missing), never a file. */
export function cacheDirOption(v: unknown): string | undefined {
  const dir = pathOption(v, 'cache-dir');
  if (dir !== undefined && existsSync(dir) && !statSync(dir).isDirectory()) {
    throw new UsageError(`--cache-dir ${dir} is a file; give a folder (it is created when missing).`);
  }
  return dir;
}

export function modelOption(v: unknown): string {
  const given = pathOption(v, 'model');
  if (given !== undefined) {
    // Checked here, before anything is looked for inside it (a transcoders/ folder, say).
    if (!existsSync(given)) throw new EngineError('MODEL_NOT_FOUND', `Model folder ${given} does not exist.`, 'Pass a folder holding config.json, the safetensors weights and tokenizer.json.');
    if (!statSync(given).isDirectory()) throw new EngineError('MODEL_NOT_FOUND', `The model path ${given} is a file, not a folder.`, 'Pass the folder holding config.json, the safetensors weights and tokenizer.json.');
    return given;
  }
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
  const p = pathOption(path, 'prompt-file')!;
  return readUserTextFile(p, 'The prompt file', 'PROMPT_EMPTY', 'Pass an existing text file with --prompt-file.').replace(/\r?\n$/, '');
}
