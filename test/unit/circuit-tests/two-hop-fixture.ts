/**
 * The two-hop circuit-test fixture (test/fixtures/circuit-tests/two-hop.prompt) names model-dependent
 * things by placeholder, filled here from the embedded model at run time, so a retrained model (whose
 * features are renumbered and relabelled) is tested the same way:
 *
 * - `<FEATURE>`: a feature of the pruned Dallas graph (node threshold 0.8) whose ablation at every
 *   position lowers Austin's logit by at least 2 (measured by an intervention, the independent truth of
 *   the fixture's ablate lines); among them the one with the largest direct edge into Austin.
 * - `<LABEL>`: the label of a feature on a path from Dallas's token to Austin's logit in that graph
 *   (preferring a "city in <state>" label, the fixture's original intent).
 * - `<CITY2>`: another city of Texas the model also answers Austin for, for the paraphrase family.
 *
 * Used by the unit test (test/unit/circuit-tests) and the Testing-view e2e test.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { attribute } from '../../../src/engine/attribution/attribute';
import { interveneWith } from '../../../src/engine/attribution/intervene';
import type { AttributionGraph } from '../../../src/engine/attribution/types';
import { CACHE_DIR, EMBEDDED, loadFixture, ROOT } from '../attribution/helpers';

export const TWO_HOP_FIXTURE = join(ROOT, 'test', 'fixtures', 'circuit-tests', 'two-hop.prompt');
export const DALLAS = 'Dallas is in the state whose capital is';
/** Cities of Texas in the language (tools/train/language.py GEOGRAPHY), Dallas excepted. */
const OTHER_TEXAS_CITIES = ['Houston', 'Lubbock', 'Waco'];

export interface TwoHopFill {
  feature: { layer: number; index: number };
  label: string;
  city2: string;
  /** The fixture with the placeholders replaced. */
  text: string;
  /** The fill's evidence, for messages: Austin's logit change when the feature is ablated. */
  ablationDelta: number;
}

function reach(g: AttributionGraph, from: Iterable<number>, forward: boolean): Set<number> {
  const adj: number[][] = g.nodes.map(() => []);
  for (let e = 0; e < g.edges.source.length; e++) {
    if (forward) adj[g.edges.source[e]].push(g.edges.target[e]);
    else adj[g.edges.target[e]].push(g.edges.source[e]);
  }
  const seen = new Set(from);
  const stack = [...from];
  while (stack.length) {
    for (const j of adj[stack.pop()!]) {
      if (seen.has(j)) continue;
      seen.add(j);
      stack.push(j);
    }
  }
  return seen;
}

export async function fillTwoHopFixture(): Promise<TwoHopFill> {
  const { engine, dictionary, bundle } = await loadFixture(EMBEDDED[0]);
  const V = bundle.spec.vocabSize;
  const top1 = async (prompt: string) => {
    const c = await engine.forward.run(bundle.tokenizer.encode(prompt).map((t) => t.id));
    const row = c.logits.data.subarray((c.tokens.length - 1) * V, c.tokens.length * V);
    return bundle.tokenizer.tokenText(row.reduce((b, v, i, a) => (v > a[b] ? i : b), 0)).trim();
  };
  const g = await attribute(bundle, dictionary, DALLAS, { nodeThreshold: 0.8, runtime: { cacheDir: CACHE_DIR, threads: 1, provider: 'cpu' } });
  const austin = g.targets.find((t) => t.token.trim() === 'Austin');
  if (!austin) throw new Error(`Austin is not a target of the Dallas graph (targets ${g.targets.map((t) => t.token).join(', ')})`);

  // <FEATURE>: by direct edge into Austin, the first whose ablation lowers Austin by ≥ 2.
  const into = new Map<number, number>();
  for (let e = 0; e < g.edges.source.length; e++) if (g.edges.target[e] === austin.node) into.set(g.edges.source[e], g.edges.weight[e]);
  const candidates = g.nodes.map((n, i) => ({ n, w: into.get(i) ?? 0 })).filter((c) => c.n.kind === 'feature' && c.w > 0).sort((a, b) => b.w - a.w);
  let feature: TwoHopFill['feature'] | undefined, ablationDelta = 0;
  const tried = new Set<string>();
  for (const { n } of candidates) {
    const k = `${n.layer}:${n.index}`;
    if (tried.has(k) || tried.size >= 12) continue;
    tried.add(k);
    const r = await interveneWith(engine, DALLAS, [{ layer: n.layer, feature: n.index, mode: 'ablate' }], { track: [austin.tokenId] });
    if (r.tracked[0].deltaLogit <= -2) {
      feature = { layer: n.layer, index: n.index };
      ablationDelta = r.tracked[0].deltaLogit;
      break;
    }
  }
  if (!feature) throw new Error(`no feature of the Dallas graph lowers Austin by 2 when ablated (tried ${[...tried].join(', ')})`);

  // <LABEL>: a labelled feature between Dallas's token and Austin's logit.
  const dallasPos = g.tokens.findIndex((t) => t.text.trim() === 'Dallas');
  const fromDallas = reach(g, g.nodes.flatMap((n, i) => (n.kind === 'embedding' && n.position === dallasPos ? [i] : [])), true);
  const toAustin = reach(g, [austin.node], false);
  const usable = (s: string) => s.length > 0 && !/["\n\r]|->/.test(s) && !/^unlabelled/i.test(s);
  const onPath = g.nodes.filter((n, i) => n.kind === 'feature' && fromDallas.has(i) && toAustin.has(i) && usable(n.label.trim()));
  const pick = onPath.find((n) => /city in/i.test(n.label)) ?? onPath.find((n) => (n.labelEvidence?.f1 ?? 0) >= 0.5) ?? onPath[0];
  if (!pick) throw new Error('no labelled feature lies between Dallas and Austin in the graph');
  const label = pick.label.trim();

  // <CITY2>: another Texas city answered Austin.
  let city2: string | undefined;
  for (const c of OTHER_TEXAS_CITIES) {
    if ((await top1(DALLAS.replace('Dallas', c))) === 'Austin') {
      city2 = c;
      break;
    }
  }
  if (!city2) throw new Error(`the model answers Austin for none of ${OTHER_TEXAS_CITIES.join(', ')}`);

  const text = readFileSync(TWO_HOP_FIXTURE, 'utf8')
    .replaceAll('<FEATURE>', `L${feature.layer}#${feature.index}`)
    .replaceAll('<LABEL>', label)
    .replaceAll('<CITY2>', city2);
  return { feature, label, city2, text, ablationDelta };
}
