/**
 * `circuit-inspector intervene`: set, scale or ablate transcoder features and print how the model's
 * next-token predictions change (and, optionally, a few greedily generated tokens with and without).
 */
import { intervene, type FeatureIntervention } from '../engine/attribution/index';
import { loadModelBundle } from '../engine/bundle/index';
import { loadDictionary } from '../engine/dictionaries/index';
import { dictionaryDir } from './analyze';
import { intOption, modelOption, parseFlags, promptOption, providerOption, RUNTIME_FLAGS, UsageError, type CliCommand } from './args';

const usage = `Usage: circuit-inspector intervene [--model DIR] (--prompt TEXT | --prompt-file F | --ids LIST) --feature SPEC [--feature SPEC …] [options]

  --feature L:POS:IDX=VALUE   set feature IDX of layer L at position POS to VALUE
  --feature L:POS:IDX=xS      scale it by S
  --feature L:POS:IDX=ablate  zero it
                              (POS may be * for every position where the feature is active)
  --model DIR                 Hugging Face model folder (default: the embedded models/toy-llama)
  --transcoders DIR           transcoder set or CLT (default: the model folder's transcoders/)
  --freeze-attention          keep the prompt's attention patterns (default: recompute attention)
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

export const command: CliCommand = {
  summary: 'Steer or ablate transcoder features and print the changed predictions.',
  usage,
  async run(argv) {
    const a = parseFlags(argv, {
      model: { type: 'string' },
      transcoders: { type: 'string' },
      prompt: { type: 'string' },
      'prompt-file': { type: 'string' },
      ids: { type: 'string' },
      feature: { type: 'string', multiple: true },
      'freeze-attention': { type: 'boolean' },
      generate: { type: 'string' },
      top: { type: 'string' },
      json: { type: 'boolean' },
      ...RUNTIME_FLAGS,
    });
    const prompt = promptOption(a);
    const specs = (a.feature as unknown as string[] | undefined) ?? [];
    if (!specs.length) throw new UsageError('at least one --feature is required');
    const interventions = specs.map(parseFeatureSpec);
    const modelDir = modelOption(a.model);
    const bundle = await loadModelBundle(modelDir);
    const dictionary = await loadDictionary(dictionaryDir(a.transcoders, modelDir), { dModel: bundle.spec.dModel, nLayers: bundle.spec.nLayers, name: bundle.spec.name });
    const res = await intervene(bundle, dictionary, prompt, interventions, {
      freezeAttention: Boolean(a['freeze-attention']),
      topK: intOption(a.top, 'top', 1, 5),
      generate: intOption(a.generate, 'generate', 0, 0),
      runtime: { provider: providerOption(a.provider), threads: intOption(a.threads, 'threads', 0, 0), cacheDir: typeof a['cache-dir'] === 'string' ? a['cache-dir'] : undefined },
    });
    if (a.json) {
      const { logits: _logits, ...rest } = res;
      void _logits;
      console.log(JSON.stringify(rest, null, 2));
      return 0;
    }
    console.log(`${bundle.spec.name}: ${res.tokens.length} tokens ${res.tokens.map((t) => JSON.stringify(t.text)).join(' ')}; attention ${a['freeze-attention'] ? 'frozen' : 'recomputed'}`);
    if (!res.applied.length) console.log('No intervention applied: the features are not active at the chosen positions.');
    for (const x of res.applied) console.log(`  L${x.layer}/F${x.feature} @${x.position}: ${x.before.toFixed(3)} → ${x.after.toFixed(3)}`);
    const prob = new Map(res.before.map((p) => [p.tokenId, p.prob]));
    console.log('Before:                          After:');
    for (let i = 0; i < Math.max(res.before.length, res.after.length); i++) {
      const b = res.before[i], f = res.after[i];
      const left = b ? `${JSON.stringify(b.token)} ${(b.prob * 100).toFixed(2)}%` : '';
      const right = f ? `${JSON.stringify(f.token)} ${(f.prob * 100).toFixed(2)}%${prob.has(f.tokenId) ? '' : ' (new)'}` : '';
      console.log(`${String(i + 1).padStart(3)}. ${left.padEnd(30)} ${right}`);
    }
    if (res.changed.length) {
      console.log(`Feature activations changed: ${res.changed.length}; largest:`);
      for (const c of res.changed.slice(0, 8)) console.log(`  L${c.layer}/F${c.feature} @${c.position}: ${c.before.toFixed(3)} → ${c.after.toFixed(3)}`);
    }
    if (res.generated) {
      console.log(`Generated without: ${JSON.stringify(res.generated.baselineText)}`);
      console.log(`Generated with:    ${JSON.stringify(res.generated.intervenedText)}`);
    }
    return 0;
  },
};
