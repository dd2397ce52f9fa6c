/**
 * `circuit-inspector decompositions --prompts FILE`: the decomposition report (src/engine/decompositions/)
 * for every dictionary of a model side by side — reconstruction, spliced loss, graph scores, features
 * with no measured effect, and the embedded language's x² and colour × shape analyses.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { loadModelBundle } from '../engine/bundle/index';
import { decompositionReport, formatReport, type DecompositionTask } from '../engine/decompositions/report';
import { loadDictionary, type Dictionary } from '../engine/dictionaries/index';
import { EngineError } from '../engine/errors';
import { ForwardRunner } from '../engine/forward';
import { modelDictionaryFolders } from '../engine/session';
import { intOption, modelOption, parseFlags, providerOption, RUNTIME_FLAGS, UsageError, type CliCommand } from './args';

const usage = `Usage: circuit-inspector decompositions --prompts FILE [options]

  --prompts FILE          one prompt per line (blank lines and # comments skipped), or JSONL {"prompt": …}
  --model DIR             Hugging Face model folder (default: the embedded models/toy-llama)
  --dictionaries A,B,…    dictionary folders (default: every dictionary folder inside the model folder)
  --tasks LIST            square, colour-shape: the embedded language's test cases (default none)
  --epsilon X             |Δ answer logit| below X counts as no measured effect (default 0.01)
  --max-ablations N       single-feature ablations per prompt and dictionary, largest first (default all)
  --json                  print the report as JSON
  --provider NAME / --threads N / --cache-dir DIR`;

const TASKS: readonly DecompositionTask[] = ['square', 'colour-shape'];

export function readPrompts(file: string): string[] {
  const p = resolve(file);
  if (!existsSync(p) || !statSync(p).isFile()) throw new EngineError('PROMPT_EMPTY', `The prompts file ${p} does not exist or is not a file.`, 'Pass a text file with one prompt per line, or JSONL with a "prompt" field.');
  const out: string[] = [];
  readFileSync(p, 'utf8').split(/\r?\n/).forEach((line, i) => {
    const s = line.trim();
    if (!s || s.startsWith('#')) return;
    if (s.startsWith('{')) {
      let j: unknown;
      try {
        j = JSON.parse(s);
      } catch {
        throw new EngineError('PROMPT_EMPTY', `${p}:${i + 1} is not valid JSON.`);
      }
      const prompt = typeof j === 'object' && j !== null && Object.prototype.hasOwnProperty.call(j, 'prompt') ? (j as { prompt: unknown }).prompt : undefined;
      if (typeof prompt !== 'string' || !prompt) throw new EngineError('PROMPT_EMPTY', `${p}:${i + 1} has no "prompt" string.`);
      out.push(prompt);
    } else out.push(s);
  });
  if (!out.length) throw new EngineError('PROMPT_EMPTY', `${p} holds no prompt.`);
  return out;
}

export const command: CliCommand = {
  summary: 'Compare decompositions (transcoders, CLT, SAE …) of one model on a prompt set.',
  usage,
  async run(argv, io) {
    const a = parseFlags(argv, {
      prompts: { type: 'string' },
      model: { type: 'string' },
      dictionaries: { type: 'string' },
      tasks: { type: 'string' },
      epsilon: { type: 'string' },
      'max-ablations': { type: 'string' },
      json: { type: 'boolean' },
      ...RUNTIME_FLAGS,
    });
    if (typeof a.prompts !== 'string' || !a.prompts) throw new UsageError('--prompts FILE is required');
    const tasks = typeof a.tasks === 'string' ? a.tasks.split(',').map((t) => t.trim()).filter(Boolean) : [];
    for (const t of tasks) if (!TASKS.includes(t as DecompositionTask)) throw new UsageError(`--tasks takes ${TASKS.join(', ')}, got ${JSON.stringify(t)}.`);
    const epsilon = a.epsilon === undefined ? 0.01 : Number(a.epsilon);
    if (!(epsilon > 0 && Number.isFinite(epsilon))) throw new UsageError(`--epsilon must be a positive number, got ${JSON.stringify(a.epsilon)}.`);
    const maxAblations = a['max-ablations'] === undefined ? undefined : intOption(a['max-ablations'], 'max-ablations', 0, 0);
    const threads = intOption(a.threads, 'threads', 0, 0);
    const prompts = readPrompts(a.prompts);
    const modelDir = modelOption(a.model);
    const bundle = await loadModelBundle(modelDir);
    const dirs = typeof a.dictionaries === 'string' ? a.dictionaries.split(',').filter(Boolean).map((d) => resolve(d)) : modelDictionaryFolders(modelDir);
    if (!dirs.length) throw new EngineError('DICTIONARY_INVALID', `${modelDir} has no dictionary folders.`, 'Pass them with --dictionaries A,B.');
    const dictionaries: Dictionary[] = [];
    for (const d of dirs) dictionaries.push(await loadDictionary(d, { dModel: bundle.spec.dModel, nLayers: bundle.spec.nLayers, name: bundle.spec.name }));
    const runtime = { provider: providerOption(a.provider), threads, cacheDir: typeof a['cache-dir'] === 'string' ? a['cache-dir'] : undefined };
    const runner = await ForwardRunner.create(bundle, runtime);
    try {
      const report = await decompositionReport(runner, bundle, dictionaries, prompts, {
        epsilon,
        maxAblations,
        tasks: tasks as DecompositionTask[],
        runtime,
        onProgress(message, f) {
          if (!a.json && process.stderr.isTTY) process.stderr.write(`\r${(f * 100).toFixed(0)}% ${message.slice(0, 60).padEnd(60)}`);
        },
      });
      if (!a.json && process.stderr.isTTY) process.stderr.write('\r'.padEnd(70) + '\r');
      io.out(a.json ? JSON.stringify(report, null, 2) : formatReport(report));
    } finally {
      await runner.dispose();
    }
    return 0;
  },
};
