/**
 * `circuit-inspector feature --layer L --index I [--prompt TEXT] [--json]`: a feature's card, as the
 * editor shows it — the label with its score (or "unlabelled (best guess …)" below the threshold), both
 * logit views (in general, corrected for tokens that dominate every feature; in the prompt, equal to
 * the graph's edges), a flag when the label claims an output the feature does not write, and the top
 * activating examples.
 */
import { attributionEngine } from '../engine/attribution/engine';
import { loadModelBundle } from '../engine/bundle/index';
import { loadDictionary } from '../engine/dictionaries/index';
import type { FeatureExample } from '../engine/dictionaries/types';
import { featureCard, type FeatureCard } from '../engine/features/card';
import { DEFAULT_LABEL_MIN_F1 } from '../shared/label-text';
import type { LogitEffect } from '../engine/features/logit-views';
import { dictionaryDir } from './analyze';
import { intOption, modelOption, parseFlags, promptFromFile, providerOption, RUNTIME_FLAGS, UsageError, type CliCommand, runtimeUsage } from './args';

const usage = `Usage: circuit-inspector feature --layer L --index I [--prompt TEXT | --prompt-file F] [options]

  --layer L           the feature's layer (for a CLT: the layer it reads from)
  --index I           the feature's index in that layer
  --model DIR         Hugging Face model folder (default: the embedded models/toy-llama)
  --transcoders DIR   transcoder set, CLT or SAE (default: the model folder's transcoders/)
  --prompt TEXT       also show the feature's direct effect on the competing logits in this prompt
  --prompt-file F     the same, with the prompt read from a file
  --position P        the token position for the prompt view (default: where the feature fires most)
  --min-f1 X          labels scoring below this F1 read "unlabelled (best guess …)" (default ${DEFAULT_LABEL_MIN_F1})
  --top N             tokens per logit list (default 10)
  --json              print the card as JSON
${runtimeUsage(22)}`;

const q = (s: string) => JSON.stringify(s);
const signed = (x: number, digits = 3) => (x >= 0 ? '+' : '') + x.toFixed(digits);

function effects(list: LogitEffect[], withZ: boolean): string {
  return list.map((e) => `${q(e.token)} ${signed(e.value)}${withZ && e.z !== undefined ? ` (${signed(e.z, 1)}σ)` : ''}`).join(', ');
}

function example(ex: FeatureExample): string {
  let best = 0;
  ex.values.forEach((v, i) => (v > ex.values[best] ? (best = i) : 0));
  return ex.tokens.map((t, i) => (i === best ? `[[${t}]]` : t)).join(' ') + `   (max ${Math.max(...ex.values, 0).toFixed(2)})`;
}

export function cardText(c: FeatureCard): string {
  const out: string[] = [];
  out.push(`${c.id}  ${c.label.text}`);
  if (c.evidence) {
    const against = c.evidence.against ?? (c.evidence.latent ? `the latent ${c.evidence.latent}` : 'not recorded');
    out.push(`  label ${q(c.rawLabel)}: ${c.label.score}; scored against ${against}`);
  } else if (c.rawLabel) {
    out.push(`  label ${q(c.rawLabel)}: no score recorded`);
  }
  if (c.claim) out.push(`  ${c.claim.supported ? '✓' : '⚠'} ${c.claim.message}`);
  out.push('');
  out.push('In general (decoder · final-norm gain · unembedding, demeaned over the vocabulary):');
  out.push(`  ranked by ${c.general.correction}`);
  out.push(`  promotes:   ${effects(c.general.top, true)}`);
  out.push(`  suppresses: ${effects(c.general.bottom, true)}`);
  out.push(`  uncorrected top: ${effects(c.general.rawTop, false)}`);
  if (c.inPrompt) {
    const p = c.inPrompt;
    out.push('');
    if (p.position < 0) {
      out.push(`In this prompt: the feature does not fire (${p.tokens.length} tokens).`);
    } else {
      const tok = p.tokens[p.position]?.text ?? '';
      out.push(`In this prompt: at position ${p.position} ${q(tok)} (activation ${p.activation.toFixed(3)}), direct effect on the competing logits there`);
      out.push('  (frozen attention and final norm, demeaned logit directions: a target logit\'s value is the graph\'s edge into it)');
      for (const e of p.effects) out.push(`  ${q(e.token).padEnd(14)} ${signed(e.value, 4).padStart(10)}   p=${e.prob.toFixed(3)}${e.target ? '  [graph target]' : ''}`);
      if (p.firing.length > 1) out.push(`  also fires at ${p.firing.filter((f) => f.position !== p.position).map((f) => `${f.position} (${f.activation.toFixed(2)})`).join(', ')}`);
    }
  }
  if (c.examples.length) {
    out.push('');
    out.push(`Top examples${c.fracNonzero !== undefined ? ` (fires on ${(c.fracNonzero * 100).toFixed(2)} % of tokens)` : ''}:`);
    for (const ex of c.examples) out.push(`  ${example(ex)}`);
  }
  return out.join('\n');
}

export const command: CliCommand = {
  summary: 'Print a feature\'s card: label and score, logit effects in general and in a prompt, top examples.',
  usage,
  async run(argv, io) {
    const a = parseFlags(argv, {
      layer: { type: 'string' },
      index: { type: 'string' },
      model: { type: 'string' },
      transcoders: { type: 'string' },
      prompt: { type: 'string' },
      'prompt-file': { type: 'string' },
      position: { type: 'string' },
      'min-f1': { type: 'string' },
      top: { type: 'string' },
      json: { type: 'boolean' },
      ...RUNTIME_FLAGS,
    });
    if (a.layer === undefined || a.index === undefined) throw new UsageError('--layer and --index are required');
    const layer = intOption(a.layer, 'layer', 0, 0);
    const index = intOption(a.index, 'index', 0, 0);
    if (a.prompt !== undefined && a['prompt-file'] !== undefined) throw new UsageError('give at most one of --prompt and --prompt-file');
    const prompt = a.prompt !== undefined ? String(a.prompt) : a['prompt-file'] !== undefined ? promptFromFile(String(a['prompt-file'])) : undefined;
    const position = a.position === undefined ? undefined : intOption(a.position, 'position', 0, 0);
    if (position !== undefined && prompt === undefined) throw new UsageError('--position needs --prompt or --prompt-file');
    const minF1 = a['min-f1'] === undefined ? DEFAULT_LABEL_MIN_F1 : Number(a['min-f1']);
    if (!(minF1 >= 0 && minF1 <= 1)) throw new UsageError(`--min-f1 must be a number between 0 and 1, got ${q(String(a['min-f1']))}.`);
    const k = intOption(a.top, 'top', 1, 10);

    const modelDir = modelOption(a.model);
    const bundle = await loadModelBundle(modelDir);
    const dictionary = await loadDictionary(dictionaryDir(a.transcoders, modelDir), { dModel: bundle.spec.dModel, nLayers: bundle.spec.nLayers, name: bundle.spec.name });
    const engine = prompt === undefined ? undefined : await attributionEngine(bundle, dictionary, {
      provider: providerOption(a.provider),
      threads: intOption(a.threads, 'threads', 0, 0),
      cacheDir: typeof a['cache-dir'] === 'string' ? a['cache-dir'] : undefined,
    });
    const card = await featureCard(bundle, dictionary, layer, index, { engine, prompt, position, minF1, k });
    io.out(a.json ? JSON.stringify(card, null, 2) : cardText(card));
    return 0;
  },
};
