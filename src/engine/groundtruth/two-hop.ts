/**
 * Does the embedded model's two-hop recall go through the state? For each two-hop ground-truth prompt
 * ("Dallas is in the state whose capital is" → Austin; models/ground_truth/two_hop.jsonl), the pruned
 * attribution graph with the answer's logit as the only target is searched for:
 *
 * - the three-step chain: a feature at the city's token that probes for "this city is in state S" → a
 *   later feature → the answer's logit (each reaching the next through the graph's edges);
 * - the shortcut: the city's token (its embedding, or a feature there that is not a state probe) → a
 *   feature that probes for "the next word is capital K" → the answer's logit, on a route that never
 *   passes through a state probe at the city's token.
 *
 * Probes are label-free: computed from the dictionary's activations on held-out text (the model's
 * dashboard corpus) against the language's ground truth (which city is in which state, which word is a
 * capital), never from the shipped label strings, so a retrained model or dictionary is measured the
 * same way. A feature probes for state S when, scored only at city tokens, the F1 of "fires" against
 * "this city is in S" is at least `minF1` (0.5); for capital K when, scored at every position but BOS,
 * the F1 of "fires" against "the next token is K, inside a sentence" is at least `minF1`.
 */
import type { AttributionGraph } from '../attribution/types';

/** One line of a two_hop.jsonl ground-truth file. */
export interface TwoHopItem {
  prompt: string;
  answer: string;
  /** ["city:Dallas", "state:Texas", "capital:Austin"]. */
  path: string[];
  held_out_composition?: boolean;
}

/** The language's facts, as the ground-truth prompts state them. */
export interface TwoHopFacts {
  stateOf: Map<string, string>;
  capitalOf: Map<string, string>;
  /** Capital words, for the "next token is K" probe. */
  capitals: Set<string>;
}

export function twoHopFacts(items: TwoHopItem[]): TwoHopFacts {
  const stateOf = new Map<string, string>(), capitalOf = new Map<string, string>(), capitals = new Set<string>();
  for (const it of items) {
    const [c, s, k] = it.path ?? [];
    if (!c?.startsWith('city:') || !s?.startsWith('state:') || !k?.startsWith('capital:')) {
      throw new Error(`two-hop item ${JSON.stringify(it.prompt)} has no city → state → capital path (got ${JSON.stringify(it.path)})`);
    }
    const city = c.slice(5), state = s.slice(6), capital = k.slice(8);
    if (stateOf.has(city) && stateOf.get(city) !== state) throw new Error(`${city} is in two states in the ground truth`);
    stateOf.set(city, state);
    capitalOf.set(state, capital);
    capitals.add(capital);
  }
  return { stateOf, capitalOf, capitals };
}

/** A feature's key in probe sets: its layer (a CLT feature's encoder layer) and index. */
export function featureKey(layer: number, index: number): string {
  return `${layer}:${index}`;
}

/**
 * Counts, over held-out text, where each feature fires against where each state (at city tokens) and
 * each "next token is capital K" (at every position) is true; `probes` turns the counts into F1 sets.
 */
export class ProbeCounter {
  private cityTokens = new Map<string, number>();
  private nextCapital = new Map<string, number>();
  private firesAtCity = new Map<string, number>();
  private firesAtCityOf = new Map<string, Map<string, number>>();
  private fires = new Map<string, number>();
  private firesBefore = new Map<string, Map<string, number>>();
  positions = 0;

  /**
   * One position: the features active there, the state of the city it names (undefined when it is no
   * city) and the capital the next token is (undefined when it is none).
   */
  add(active: Iterable<string>, cityState: string | undefined, nextCapital: string | undefined): void {
    this.positions++;
    if (cityState !== undefined) inc(this.cityTokens, cityState);
    if (nextCapital !== undefined) inc(this.nextCapital, nextCapital);
    for (const f of new Set(active)) {
      inc(this.fires, f);
      if (cityState !== undefined) {
        inc(this.firesAtCity, f);
        inc(sub(this.firesAtCityOf, f), cityState);
      }
      if (nextCapital !== undefined) inc(sub(this.firesBefore, f), nextCapital);
    }
  }

  /** Per state and per capital: the features whose F1 is at least `minF1`, with their F1. */
  probes(minF1: number): Probes {
    const state = new Map<string, Map<string, number>>(), capital = new Map<string, Map<string, number>>();
    for (const [f, byState] of this.firesAtCityOf) {
      const firedAtCities = this.firesAtCity.get(f) ?? 0;
      for (const [s, tp] of byState) {
        const f1 = (2 * tp) / (firedAtCities + (this.cityTokens.get(s) ?? 0));
        if (f1 >= minF1) sub(state, s).set(f, f1);
      }
    }
    for (const [f, byCapital] of this.firesBefore) {
      const fired = this.fires.get(f) ?? 0;
      for (const [k, tp] of byCapital) {
        const f1 = (2 * tp) / (fired + (this.nextCapital.get(k) ?? 0));
        if (f1 >= minF1) sub(capital, k).set(f, f1);
      }
    }
    return { state, capital, cityTokens: sum(this.cityTokens), positions: this.positions };
  }
}

export interface Probes {
  /** state → (feature key → F1), only features at or above the threshold. */
  state: Map<string, Map<string, number>>;
  /** capital → (feature key → F1). */
  capital: Map<string, Map<string, number>>;
  cityTokens: number;
  positions: number;
}

function inc(m: Map<string, number>, k: string): void {
  m.set(k, (m.get(k) ?? 0) + 1);
}
function sub<V>(m: Map<string, Map<string, V>>, k: string): Map<string, V> {
  let v = m.get(k);
  if (!v) m.set(k, (v = new Map()));
  return v;
}
function sum(m: Map<string, number>): number {
  let s = 0;
  for (const v of m.values()) s += v;
  return s;
}

export interface ChainResult {
  /** A state probe at the city's token is a node of the pruned graph. */
  stateProbeInGraph: boolean;
  /** State probe at the city's token → a later feature → the answer's logit. */
  threeStep: boolean;
  /** The same with direct edges: probe → feature → logit. */
  threeStepDirect: boolean;
  /** State probe at the city's token → a capital probe → the answer's logit. */
  threeStepViaCapital: boolean;
  /** City token (not through a state probe there) → a capital probe → the answer's logit. */
  shortcut: boolean;
}

/**
 * The chains of one graph. `cityPos`: the city's token position; `answerNode`: the answer's logit node;
 * `stateProbes` / `capitalProbes`: feature keys (featureKey) probing for the prompt's state and capital.
 */
export function twoHopChains(g: AttributionGraph, cityPos: number, answerNode: number, stateProbes: Set<string>, capitalProbes: Set<string>): ChainResult {
  const n = g.nodes.length;
  const out: number[][] = Array.from({ length: n }, () => []);
  const into: number[][] = Array.from({ length: n }, () => []);
  for (let e = 0; e < g.edges.weight.length; e++) {
    if (g.edges.weight[e] === 0) continue;
    out[g.edges.source[e]].push(g.edges.target[e]);
    into[g.edges.target[e]].push(g.edges.source[e]);
  }
  const key = (i: number) => featureKey(g.nodes[i].layer, g.nodes[i].index);
  const isFeature = (i: number) => g.nodes[i].kind === 'feature';
  const P = new Set<number>();
  for (let i = 0; i < n; i++) if (isFeature(i) && g.nodes[i].position === cityPos && stateProbes.has(key(i))) P.add(i);
  const K = new Set<number>();
  for (let i = 0; i < n; i++) if (isFeature(i) && capitalProbes.has(key(i))) K.add(i);

  /** Nodes reachable from `starts` (including them) along `adj`, never entering `avoid`. */
  const reach = (starts: Iterable<number>, adj: number[][], avoid?: Set<number>): Set<number> => {
    const seen = new Set<number>();
    const stack: number[] = [];
    const visit = (x: number) => {
      if (seen.has(x) || avoid?.has(x)) return;
      seen.add(x);
      stack.push(x);
    };
    for (const s of starts) visit(s);
    while (stack.length) for (const y of adj[stack.pop()!]) visit(y);
    return seen;
  };
  const toAnswer = reach([answerNode], into);
  let threeStep = false, threeStepDirect = false, threeStepViaCapital = false;
  for (const p of P) {
    const from = reach([p], out);
    for (const x of from) {
      if (x === p || !isFeature(x) || !toAnswer.has(x)) continue;
      threeStep = true;
      if (K.has(x)) threeStepViaCapital = true;
    }
    if (out[p].some((x) => isFeature(x) && out[x].includes(answerNode))) threeStepDirect = true;
  }
  // The shortcut: from the city's token around every state probe there, through a capital probe.
  const C: number[] = [];
  for (let i = 0; i < n; i++) {
    const nd = g.nodes[i];
    if (nd.position === cityPos && (nd.kind === 'embedding' || nd.kind === 'feature') && !P.has(i)) C.push(i);
  }
  const fromCity = reach(C, out, P);
  const toAnswerAvoiding = reach([answerNode], into, P);
  let shortcut = false;
  for (const k of K) if (fromCity.has(k) && toAnswerAvoiding.has(k)) shortcut = true;
  return { stateProbeInGraph: P.size > 0, threeStep, threeStepDirect, threeStepViaCapital, shortcut };
}

/** The token position of the prompt's city (the first token whose text is the city). */
export function cityPosition(tokens: { text: string }[], city: string): number {
  return tokens.findIndex((t) => t.text.trim() === city);
}
