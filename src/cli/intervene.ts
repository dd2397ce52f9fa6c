/**
 * `circuit-inspector intervene`: set, scale or ablate transcoder features and print how the model's
 * next-token predictions change (and, optionally, a few greedily generated tokens with and without).
 */
import type { FeatureIntervention } from '../engine/attribution/index';
import type { ModelBundle } from '../engine/api';
import { ModelSession } from '../engine/session';
import { dictionaryDir } from './analyze';
import { describeSemantics } from '../engine/attribution/semantics';
import {
  intOption, modelOption, parseFlags, promptOption, reportProviderFallback, runtimeOptions, RUNTIME_FLAGS, SEMANTICS_FLAGS, SEMANTICS_USAGE, semanticsOption,
  UsageError, type CliCommand,
} from './args';

const usage = `Usage: circuit-inspector intervene [--model DIR] (--prompt TEXT | --prompt-file F | --ids LIST) --feature SPEC [--feature SPEC …] [options]

  --feature L:POS:IDX=VALUE   set feature IDX of layer L at position POS to VALUE
  --feature L:POS:IDX=xS      scale it by S
  --feature L:POS:IDX=ablate  zero it
                              (POS may be * for every position where the feature is active)
  --model DIR                 Hugging Face model folder (default: the embedded models/toy-llama)
  --transcoders DIR           transcoder set or CLT (default: the model folder's transcoders/)
${SEMANTICS_USAGE}
  --track TOKENS              comma-separated tokens whose logit and probability to report (e.g. " Austin, Dallas")
  --generate N                also generate N tokens greedily, with and without the intervention
  --top K                     predictions to show (default 5)
  --json                      print JSON
  --provider NAME, --threads N, --cache-dir DIR`;

export function parseFeatureSpec(s: string): FeatureIntervention {
  const m = /^(\d+):(\d+|\*):(\d+)=(ablate|x(-?[\d.]+(?:e-?\d+)?)|(-?[\d.]+(?:e-?\d+)?))$/i.exec(s.trim());
  if (!m) throw new UsageError(`--feature ${JSON.stringify(s)}: expected L:POS:IDX=VALUE, L:POS:IDX=xSCALE or L:POS:IDX=ablate`);
  const iv: FeatureIntervention = { layer: Number(m[1]), feature: Number(m[3]), mode: 'ablate' };
  if (m[2] !== '*') iv.positions = [Number(m[2])];
  if (m[5] !== undefined) {
    iv.mode = 'scale';
    iv.value = Number(m[5]);
  } else if (m[6] !== undefined) {
    iv.mode = 'set';
    iv.value = Number(m[6]);
  }
  if (iv.value !== undefined && !Number.isFinite(iv.value)) throw new UsageError(`--feature ${JSON.stringify(s)}: the value is not a number`);
  return iv;
}

/** Probabilities that saturate print in scientific notation, never as a bare 0.00 % or 100.00 %. */
export function fmtProb(p: number): string {
  if (p > 0.9999) return `1 − ${(1 - p).toExponential(2)}`;
  if (p < 1e-4) return p.toExponential(2);
  return `${(p * 100).toFixed(2)}%`;
}

/** Comma-separated token texts (each must be one token of the vocabulary) or #ID. */
export function trackedIds(bundle: ModelBundle, list: string): number[] {
  return list.split(',').filter((s) => s.length).map((s) => tokenIdOf(bundle, s));
}

export function tokenIdOf(bundle: ModelBundle, s: string): number {
  const m = /^#(\d+)$/.exec(s.trim());
  if (m) return Number(m[1]);
  const toks = bundle.tokenizer.encode(s).filter((t) => !t.special);
  if (toks.length !== 1) throw new UsageError(`${JSON.stringify(s)} is ${toks.length} tokens (${toks.map((t) => JSON.stringify(t.text)).join(' ')}); name one token, or #ID`);
  return toks[0].id;
}

export const command: CliCommand = {
  summary: 'Steer or ablate transcoder features and print the changed predictions.',
  usage,
  async run(argv, io) {
    const a = parseFlags(argv, {
      model: { type: 'string' },
      transcoders: { type: 'string' },
      prompt: { type: 'string' },
      'prompt-file': { type: 'string' },
      ids: { type: 'string' },
      feature: { type: 'string', multiple: true },
      ...SEMANTICS_FLAGS,
      track: { type: 'string' },
      generate: { type: 'string' },
      top: { type: 'string' },
      json: { type: 'boolean' },
      ...RUNTIME_FLAGS,
    });
    const prompt = promptOption(a);
    const specs = Array.isArray(a.feature) ? a.feature : typeof a.feature === 'string' ? [a.feature] : [];
    if (!specs.length) throw new UsageError('at least one --feature is required');
    const interventions = specs.map(parseFeatureSpec);
    const topK = intOption(a.top, 'top', 1, 5, 1000);
    const generate = intOption(a.generate, 'generate', 0, 0, 1000);
    const runtime = runtimeOptions(a);
    const semantics = semanticsOption(a);
    const modelDir = modelOption(a.model);
    const session = await ModelSession.open({ model: modelDir, dictionaries: [dictionaryDir(a.transcoders, modelDir)], runtime });
    const bundle = session.bundle;
    const track = typeof a.track === 'string' ? trackedIds(bundle, a.track) : [];
    const unsubscribe = reportProviderFallback(io, runtime.provider);
    let res;
    try {
      res = await session.intervene(prompt, interventions, { ...semantics, track, topK, generate });
    } finally {
      unsubscribe();
    }
    if (a.json) {
      const { logits: _logits, ...rest } = res;
      void _logits;
      io.out(JSON.stringify(rest, null, 2));
      return 0;
    }
    io.out(`${bundle.spec.name}: ${res.tokens.length} tokens ${res.tokens.map((t) => JSON.stringify(t.text)).join(' ')}; ${describeSemantics(res.semantics)}`);
    if (!res.applied.length) io.out('No intervention applied: the features are not active at the chosen positions.');
    for (const x of res.applied) io.out(`  L${x.layer}/F${x.feature} @${x.position}: ${x.before.toFixed(3)} → ${x.after.toFixed(3)}`);
    const prob = new Map(res.before.map((p) => [p.tokenId, p.prob]));
    const line = (p: { token: string; prob: number; logit: number }) => `${JSON.stringify(p.token)} ${fmtProb(p.prob)} (${p.logit.toFixed(2)})`;
    io.out('Before:                          After:');
    for (let i = 0; i < Math.max(res.before.length, res.after.length); i++) {
      const b = res.before[i], f = res.after[i];
      const left = b ? line(b) : '';
      const right = f ? `${line(f)}${prob.has(f.tokenId) ? '' : ' (new)'}` : '';
      io.out(`${String(i + 1).padStart(3)}. ${left.padEnd(30)} ${right}`);
    }
    for (const t of res.tracked) {
      io.out(`  ${JSON.stringify(t.token)}: logit ${t.logitBefore.toFixed(3)} → ${t.logitAfter.toFixed(3)} (${t.deltaLogit >= 0 ? '+' : ''}${t.deltaLogit.toFixed(3)}), p ${fmtProb(t.probBefore)} → ${fmtProb(t.probAfter)}, rank ${t.rankBefore} → ${t.rankAfter}`);
    }
    if (res.changed.length) {
      io.out(`Feature activations changed: ${res.changed.length}; largest:`);
      for (const c of res.changed.slice(0, 8)) io.out(`  L${c.layer}/F${c.feature} @${c.position}: ${c.before.toFixed(3)} → ${c.after.toFixed(3)}`);
    }
    if (res.generated) {
      io.out(`Generated without: ${JSON.stringify(res.generated.baselineText)}`);
      io.out(`Generated with:    ${JSON.stringify(res.generated.intervenedText)}`);
    }
    return 0;
  },
};
