/**
 * `circuit-inspector two-hop`: does the embedded model's two-hop recall go through the state? For each
 * two-hop ground-truth prompt, the pruned graph (default thresholds, the answer's logit as the target) is
 * searched for city-token state probe → later feature → answer, and for the shortcut around the state
 * (src/engine/groundtruth/two-hop.ts). Probes are computed from activations on held-out text, never read
 * from label strings, so a retrained model is measured the same way.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { EngineError } from '../engine/errors';
import { formatTwoHop, measureTwoHop, readTwoHopItems, type TwoHopReport } from '../engine/groundtruth/two-hop-measure';
import { fractionOption, intOption, modelOption, parseFlags, pathOption, runtimeOptions, RUNTIME_FLAGS, UsageError, type CliCommand, runtimeUsage } from './args';

const usage = `Usage: circuit-inspector two-hop [--model DIR] [options]

  --model DIR              the model folder (default: the embedded models/toy-llama)
  --ground-truth FILE      two-hop prompts with their city → state → capital paths
                           (default: the model folder's ../ground_truth/two_hop.jsonl)
  --corpus FILE            held-out text the probes are computed on (default: the model folder's corpus.jsonl)
  --probe-docs N           corpus documents used for the probes (default 300)
  --min-f1 X               a feature probes for a state / capital at this F1 or more (default 0.5)
  --dictionaries LIST      transcoders and/or clt (default: both, where the model has them)
  --json                   print the reports as JSON (with every prompt's result)
${runtimeUsage(27)}`;

export const command: CliCommand = {
  summary: 'Measure how often two-hop answers go city → state probe → feature → answer (and the shortcut around the state).',
  usage,
  async run(argv, io) {
    const a = parseFlags(argv, {
      model: { type: 'string' },
      'ground-truth': { type: 'string' },
      corpus: { type: 'string' },
      'probe-docs': { type: 'string' },
      'min-f1': { type: 'string' },
      dictionaries: { type: 'string' },
      json: { type: 'boolean' },
      ...RUNTIME_FLAGS,
    });
    const model = modelOption(a.model);
    const gt = pathOption(a['ground-truth'], 'ground-truth') ?? resolve(model, '..', 'ground_truth', 'two_hop.jsonl');
    const corpus = pathOption(a.corpus, 'corpus') ?? join(model, 'corpus.jsonl');
    for (const [what, f] of [['two-hop ground truth', gt], ['probe corpus', corpus]]) {
      if (!existsSync(f)) throw new EngineError('PROMPT_EMPTY', `The ${what} ${f} does not exist.`, what === 'probe corpus' ? 'Pass held-out text with --corpus (tools/train/corpus.py writes it).' : 'Pass it with --ground-truth (tools/train writes ground_truth/two_hop.jsonl).');
    }
    const names = typeof a.dictionaries === 'string' ? a.dictionaries.split(',').filter(Boolean) : ['transcoders', 'clt'];
    for (const d of names) if (d !== 'transcoders' && d !== 'clt') throw new UsageError(`--dictionaries takes transcoders and/or clt, got ${JSON.stringify(d)}.`);
    const present = names.filter((d) => existsSync(join(model, d)));
    if (!present.length) throw new EngineError('MODEL_NOT_FOUND', `${model} has no ${names.join(' or ')} folder.`, 'Train the dictionaries with tools/train/main.py --stage dicts.');
    const items = readTwoHopItems(gt);
    const probeDocs = intOption(a['probe-docs'], 'probe-docs', 1, 300);
    const minF1 = fractionOption(a['min-f1'], 'min-f1', 0.5);
    const runtime = runtimeOptions(a);
    const reports: TwoHopReport[] = [];
    for (const d of present) {
      reports.push(await measureTwoHop(model, join(model, d), d, items, {
        corpus, probeDocs, minF1, runtime,
        onProgress: (i, n, what) => io.progress(`\r${d}: ${what} ${i + 1}/${n}   `),
      }));
    }
    io.progress('\r');
    io.out(a.json ? JSON.stringify(reports, null, 2) : formatTwoHop(reports));
    return 0;
  },
};
