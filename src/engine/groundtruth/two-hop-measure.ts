/**
 * Measures the two-hop chains (two-hop.ts) of a model and one dictionary: probes from the held-out
 * corpus, then one pruned graph per two-hop ground-truth prompt, with the answer's logit as the target
 * and the product's default thresholds.
 */
import { readFileSync } from 'node:fs';
import { attributeRun, runPrompt, toAttributionGraph } from '../attribution/attribute';
import { attributionEngine, type EngineOptions } from '../attribution/engine';
import { loadModelBundle } from '../bundle/index';
import { loadDictionary } from '../dictionaries/index';
import { EngineError } from '../errors';
import { readCorpus } from '../features/dashboards';
import { cityPosition, featureKey, ProbeCounter, twoHopChains, twoHopFacts, type ChainResult, type Probes, type TwoHopItem } from './two-hop';

export interface TwoHopOptions {
  /** Held-out text the probes are computed on (JSONL with "text", or plain text). */
  corpus: string;
  /** At most this many corpus documents (default 300). */
  probeDocs?: number;
  /** Probe threshold (default 0.5). */
  minF1?: number;
  runtime?: EngineOptions;
  onProgress?(done: number, total: number, what: string): void;
}

export interface TwoHopRates {
  n: number;
  /** Top-1: the last position's argmax is the answer. */
  correct: number;
  stateProbeInGraph: number;
  threeStep: number;
  threeStepDirect: number;
  threeStepViaCapital: number;
  shortcut: number;
}

export interface TwoHopReport {
  model: string;
  dictionary: string;
  minF1: number;
  probeDocs: number;
  probePositions: number;
  probeCityTokens: number;
  /** States with at least one state probe, of the states in the ground truth. */
  statesProbed: number;
  states: number;
  capitalsProbed: number;
  all: TwoHopRates;
  heldOut: TwoHopRates;
  trained: TwoHopRates;
  /** Per prompt, for inspection. */
  prompts: (ChainResult & { prompt: string; answer: string; heldOut: boolean; correct: boolean; stateProbes: number })[];
}

export function readTwoHopItems(file: string): TwoHopItem[] {
  const items: TwoHopItem[] = [];
  readFileSync(file, 'utf8').split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    try {
      items.push(JSON.parse(line) as TwoHopItem);
    } catch {
      throw new EngineError('PROMPT_EMPTY', `${file}:${i + 1} is not JSON.`, 'Pass the model\'s ground_truth/two_hop.jsonl.');
    }
  });
  if (!items.length) throw new EngineError('PROMPT_EMPTY', `${file} has no two-hop prompts.`, 'Pass the model\'s ground_truth/two_hop.jsonl.');
  return items;
}

function rates(): TwoHopRates {
  return { n: 0, correct: 0, stateProbeInGraph: 0, threeStep: 0, threeStepDirect: 0, threeStepViaCapital: 0, shortcut: 0 };
}

export async function measureTwoHop(modelDir: string, dictDir: string, dictName: string, items: TwoHopItem[], o: TwoHopOptions): Promise<TwoHopReport> {
  const minF1 = o.minF1 ?? 0.5;
  const facts = twoHopFacts(items);
  const bundle = await loadModelBundle(modelDir);
  const dictionary = await loadDictionary(dictDir, { dModel: bundle.spec.dModel, nLayers: bundle.spec.nLayers });
  const engine = await attributionEngine(bundle, dictionary, o.runtime ?? {});
  const docs = readCorpus([o.corpus]).slice(0, o.probeDocs ?? 300);
  const tokenOf = (id: number) => bundle.tokenizer.tokenText(id).trim();

  const counter = new ProbeCounter();
  for (let di = 0; di < docs.length; di++) {
    o.onProgress?.(di, docs.length, 'probes');
    const run = await runPrompt(engine, docs[di]);
    const T = run.tokens.length;
    const active: string[][] = Array.from({ length: T }, () => []);
    const f = run.features;
    for (let k = 0; k < f.act.length; k++) if (f.act[k] > 0) active[f.pos[k]].push(featureKey(f.layer[k], f.index[k]));
    for (let t = run.zeroBos ? 1 : 0; t < T; t++) {
      const tok = run.tokens[t].special ? '' : tokenOf(run.tokens[t].id);
      const next = t + 1 < T && !run.tokens[t + 1].special ? tokenOf(run.tokens[t + 1].id) : '';
      // A sentence's first word cannot be predicted from the text before it: "next token is K" is
      // scored inside sentences only (the language's sentences end with ".").
      counter.add(active[t], facts.stateOf.get(tok), tok !== '.' && facts.capitals.has(next) ? next : undefined);
    }
  }
  const probes: Probes = counter.probes(minF1);

  const report: TwoHopReport = {
    model: modelDir,
    dictionary: dictName,
    minF1,
    probeDocs: docs.length,
    probePositions: probes.positions,
    probeCityTokens: probes.cityTokens,
    statesProbed: [...facts.capitalOf.keys()].filter((s) => probes.state.get(s)?.size).length,
    states: facts.capitalOf.size,
    capitalsProbed: [...facts.capitals].filter((k) => probes.capital.get(k)?.size).length,
    all: rates(),
    heldOut: rates(),
    trained: rates(),
    prompts: [],
  };
  const V = bundle.spec.vocabSize;
  for (let i = 0; i < items.length; i++) {
    o.onProgress?.(i, items.length, 'graphs');
    const it = items[i];
    const city = it.path[0].slice(5), state = it.path[1].slice(6), capital = it.path[2].slice(8);
    const run = await runPrompt(engine, it.prompt);
    const answerToks = bundle.tokenizer.encode(it.answer).filter((t) => !t.special);
    const answerId = answerToks.length === 1 ? answerToks[0].id : undefined;
    if (answerId === undefined) throw new EngineError('PROMPT_EMPTY', `The answer ${JSON.stringify(it.answer)} is not one token of the model's vocabulary.`, 'Use the ground truth written with this model.');
    const T = run.tokens.length;
    const last = run.cache.logits.data.subarray((T - 1) * V, T * V);
    let arg = 0;
    for (let v = 1; v < V; v++) if (last[v] > last[arg]) arg = v;
    const options = { targets: [{ token: answerId, weight: 1 }] };
    const raw = await attributeRun(engine, run, options);
    const g = toAttributionGraph(engine, dictionary, raw, it.prompt, options);
    const pos = cityPosition(g.tokens, city);
    if (pos < 0) throw new EngineError('PROMPT_EMPTY', `The two-hop prompt ${JSON.stringify(it.prompt)} does not contain its city ${city} as a token.`, 'Use the ground truth written with this model.');
    const answerNode = g.targets.find((t) => t.tokenId === answerId)!.node;
    const sp = new Set(probes.state.get(state)?.keys() ?? []);
    const kp = new Set(probes.capital.get(capital)?.keys() ?? []);
    const c = twoHopChains(g, pos, answerNode, sp, kp);
    const correct = arg === answerId;
    const heldOut = Boolean(it.held_out_composition);
    report.prompts.push({ prompt: it.prompt, answer: it.answer, heldOut, correct, stateProbes: sp.size, ...c });
    for (const r of [report.all, heldOut ? report.heldOut : report.trained]) {
      r.n++;
      if (correct) r.correct++;
      if (c.stateProbeInGraph) r.stateProbeInGraph++;
      if (c.threeStep) r.threeStep++;
      if (c.threeStepDirect) r.threeStepDirect++;
      if (c.threeStepViaCapital) r.threeStepViaCapital++;
      if (c.shortcut) r.shortcut++;
    }
  }
  return report;
}

const pct = (x: number, n: number) => (n ? `${((100 * x) / n).toFixed(1)} %` : '-');

export function formatTwoHop(reports: TwoHopReport[]): string {
  const lines: string[] = [];
  for (const r of reports) {
    lines.push(`${r.dictionary}: probes on ${r.probeDocs} held-out documents (${r.probePositions} positions, ${r.probeCityTokens} city tokens), F1 ≥ ${r.minF1}: ` +
      `${r.statesProbed} of ${r.states} states and ${r.capitalsProbed} of ${r.states} capitals have a probe feature`);
    lines.push('| prompts | n | top-1 | state probe in graph | city probe → feature → answer | (direct edges) | (via a capital probe) | shortcut around the state |');
    lines.push('|---|---|---|---|---|---|---|---|');
    for (const [name, x] of [['all', r.all], ['held-out composition', r.heldOut], ['trained composition', r.trained]] as const) {
      lines.push(`| ${name} | ${x.n} | ${pct(x.correct, x.n)} | ${pct(x.stateProbeInGraph, x.n)} | ${pct(x.threeStep, x.n)} | ${pct(x.threeStepDirect, x.n)} | ${pct(x.threeStepViaCapital, x.n)} | ${pct(x.shortcut, x.n)} |`);
    }
    lines.push('');
  }
  return lines.join('\n');
}
