/**
 * `circuit-inspector verify`: the attribution graph's linear prediction for ablating features next to
 * the effect measured in the model, per target logit, with the features whose measured effect
 * contradicts the graph flagged; and the faithfulness of a subgraph (errors kept and ablated).
 */
import { attributionEngine, computeAttribution } from '../engine/attribution/index';
import { influenceOnCsr } from '../engine/attribution/influence';
import { REAL_SEMANTICS } from '../engine/attribution/semantics';
import { subgraphFaithfulness, topFeatureNodes, verifyGroups, type FeatureKey } from '../engine/attribution/verify';
import { loadModelBundle } from '../engine/bundle/index';
import { loadDictionary } from '../engine/dictionaries/index';
import { dictionaryDir } from './analyze';
import { intOption, modelOption, parseFlags, promptOption, providerOption, RUNTIME_FLAGS, SEMANTICS_FLAGS, semanticsOption, UsageError, type CliCommand } from './args';

const usage = `Usage: circuit-inspector verify [--model DIR] (--prompt TEXT | --prompt-file F | --ids LIST) [options]

  --node L#F@P           a feature node to verify (repeatable); L#F alone = every position it is active at,
                         ablated together; several --node flags are verified one by one
  --group L#F@P,L#F@P    features ablated together, verified as one selection (repeatable)
  --top N                without --node/--group: the graph's N most influential features (default 10)
  --subgraph L#F@P,…     report the faithfulness of keeping only these features ("top:N" = the N most influential)
  --attention frozen|recomputed, --norms frozen|recomputed
                         the setting measured in (default: the real model, both recomputed)
  --model DIR, --transcoders DIR, --json, --provider NAME, --threads N, --cache-dir DIR`;

/** "L3#370@8", "L3#370" (every active position), "3:8:370". */
export function parseFeatureKey(s: string): { layer: number; feature: number; position?: number } {
  const t = s.trim();
  let m = /^L(\d+)#(\d+)(?:@(\d+))?$/i.exec(t);
  if (m) return { layer: Number(m[1]), feature: Number(m[2]), position: m[3] === undefined ? undefined : Number(m[3]) };
  m = /^(\d+):(\d+):(\d+)$/.exec(t);
  if (m) return { layer: Number(m[1]), position: Number(m[2]), feature: Number(m[3]) };
  throw new UsageError(`${JSON.stringify(s)}: expected L<layer>#<feature>[@<position>] (e.g. L3#370@8)`);
}

export const command: CliCommand = {
  summary: "Check the graph's predicted ablation effects against the model; flag contradictions; subgraph faithfulness.",
  usage,
  async run(argv, io) {
    const a = parseFlags(argv, {
      model: { type: 'string' },
      transcoders: { type: 'string' },
      prompt: { type: 'string' },
      'prompt-file': { type: 'string' },
      ids: { type: 'string' },
      node: { type: 'string', multiple: true },
      group: { type: 'string', multiple: true },
      top: { type: 'string' },
      subgraph: { type: 'string' },
      json: { type: 'boolean' },
      ...SEMANTICS_FLAGS,
      ...RUNTIME_FLAGS,
    });
    const prompt = promptOption(a);
    const semantics = a.attention === undefined && a.norms === undefined ? { ...REAL_SEMANTICS } : semanticsOption(a);
    const nodeSpecs = ((a.node as unknown as string[] | undefined) ?? []).map((s) => [parseFeatureKey(s)]);
    const groupSpecs = ((a.group as unknown as string[] | undefined) ?? []).map((g) => g.split(',').map(parseFeatureKey));
    const topN = intOption(a.top, 'top', 1, 10);
    const modelDir = modelOption(a.model);
    const bundle = await loadModelBundle(modelDir);
    const dictionary = await loadDictionary(dictionaryDir(a.transcoders, modelDir), { dModel: bundle.spec.dModel, nLayers: bundle.spec.nLayers, name: bundle.spec.name });
    const engine = await attributionEngine(bundle, dictionary, { provider: providerOption(a.provider), threads: intOption(a.threads, 'threads', 0, 0), cacheDir: typeof a['cache-dir'] === 'string' ? a['cache-dir'] : undefined });
    const raw = await computeAttribution(engine, prompt);
    const f = raw.features;
    // A key without a position means every position the feature is active at.
    const expand = (k: { layer: number; feature: number; position?: number }): FeatureKey[] => {
      if (k.position !== undefined) return [k as FeatureKey];
      const out: FeatureKey[] = [];
      for (let i = 0; i < f.act.length; i++) if (f.layer[i] === k.layer && f.index[i] === k.feature) out.push({ layer: k.layer, feature: k.feature, position: f.pos[i] });
      if (!out.length) throw new UsageError(`L${k.layer}#${k.feature} is not active anywhere in this prompt`);
      return out;
    };
    const influence = influenceOnCsr(raw.adjacency, raw.logitWeights);
    let groups = [...nodeSpecs, ...groupSpecs].map((g) => g.flatMap(expand));
    if (!groups.length) groups = topFeatureNodes(raw, influence, topN).map((k) => [k]);
    const label = (k: FeatureKey) => dictionary.featureInfo(k.layer, k.feature)?.label;
    const report = await verifyGroups(engine, raw, groups, semantics, { label });
    let faith;
    if (typeof a.subgraph === 'string') {
      const m = /^top:(\d+)$/.exec(a.subgraph.trim());
      const keep = m ? topFeatureNodes(raw, influence, Number(m[1])) : a.subgraph.split(',').map(parseFeatureKey).flatMap(expand);
      faith = await subgraphFaithfulness(engine, raw, keep, semantics);
    }
    if (a.json) {
      io.out(JSON.stringify({ tokens: raw.tokens.map((t) => t.text), ...report, faithfulness: faith }, null, 2));
      return 0;
    }
    const name = (k: FeatureKey) => `L${k.layer}#${k.feature}@${k.position}`;
    io.out(`${bundle.spec.name}: ${raw.tokens.length} tokens ${raw.tokens.map((t) => JSON.stringify(t.text)).join(' ')}`);
    io.out(`measured with ${report.setting}; effect = change of the target's logit (minus the vocabulary mean) when the features are ablated`);
    for (const g of report.groups) {
      const lbl = g.features.length === 1 && g.features[0].label ? ` "${g.features[0].label}"` : '';
      io.out(`${g.flagged ? '⚠ ' : '  '}${g.features.map(name).join(' + ')}${lbl}`);
      for (const e of g.effects) io.out(`      ${JSON.stringify(e.token).padEnd(14)} predicted ${fmt(e.predicted)}  measured ${fmt(e.measured)}${e.flagged ? '  ⚠' : ''}`);
    }
    const n = report.groups.filter((g) => g.flagged).length;
    io.out(n ? `⚠ ${n} of ${report.groups.length}: ${report.reason}` : `No contradiction among ${report.groups.length}.`);
    if (faith) {
      io.out(`Subgraph: ${faith.kept} of ${faith.active} active features kept (${faith.setting}); fraction of each target's logit recovered:`);
      faith.errorsKept.forEach((t, j) => io.out(`  ${JSON.stringify(t.token).padEnd(14)} errors kept ${t.recovered.toFixed(3)}   errors ablated ${faith.errorsAblated[j].recovered.toFixed(3)}`));
    }
    return 0;
  },
};

function fmt(x: number): string {
  return (x >= 0 ? '+' : '') + x.toFixed(3);
}
