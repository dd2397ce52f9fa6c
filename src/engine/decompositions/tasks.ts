/**
 * The debate's two test cases, measured on the embedded language (tools/train/language.py):
 *
 * - x² ("n squared equals", n = 0 … 30): which features are active at the last position for which n.
 *   A feature active for one n only is a lookup entry; one active on a contiguous run of n's tiles the
 *   function (the "5–10 features that tile x²" picture); the tiling is the smallest set of contiguous
 *   features, not active for every n, that covers every n any of them covers (interval cover, greedy =
 *   optimal).
 * - colour × shape ("there is a C S and a C' S' . the C one is a", all 25 (C, S)): each feature's
 *   activation at the S token as a 5 × 5 table, split by a two-way analysis of variance into a colour
 *   part, a shape part and an interaction; the largest part names the feature colour-atomic,
 *   shape-atomic or a conjunction ("red square"). The reply's test — do the conjunction features carry
 *   what atomic ones would? — is the share of the answer's influence (attribution graph, node
 *   influence) carried by each class.
 */
import type { ColourShapeAnalysis, ColourShapeClass, SquareAnalysis } from '../../shared/decomposition-report';
import type { ModelBundle } from '../api';
import { attributeAny } from '../attribution/sae-graph';
import type { EngineOptions } from '../attribution/engine';
import type { Dictionary } from '../dictionaries/types';
import { EngineError } from '../errors';
import type { ForwardRunner } from '../forward';

export const COLOURS = ['red', 'blue', 'green', 'yellow', 'purple'];
export const SHAPES = ['square', 'circle', 'triangle', 'star', 'cube'];
export const SQUARE_MAX = 30;

function idsOf(bundle: ModelBundle, text: string): number[] {
  const toks = bundle.tokenizer.encode(text);
  const unk = (bundle.tokenizer as { unkId?: number }).unkId;
  for (const t of toks) {
    if (!t.special && (t.text === '<unk>' || t.id === unk)) {
      throw new EngineError('TOKENIZER_INVALID', `The model does not know the word ${JSON.stringify(text.slice(t.start, t.end))} of the task prompt "${text}".`, 'The task analyses run on the embedded model\'s language (tools/train/language.py).');
    }
  }
  return toks.map((t) => t.id);
}

function activeAt(dict: Dictionary, cache: { hooks: Map<string, { data: Float32Array }> }, T: number, position: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const l of dict.layers) {
    const acts = dict.encode(l, cache.hooks.get(dict.inputHook(l))!.data, T);
    const F = dict.nFeatures(l);
    for (let f = 0; f < F; f++) {
      const v = acts[position * F + f];
      if (v !== 0) out.set(`${l}#${f}`, v);
    }
  }
  return out;
}


export async function analyseSquares(runner: ForwardRunner, bundle: ModelBundle, dict: Dictionary): Promise<SquareAnalysis> {
  const ns = new Map<string, number[]>();
  let total = 0;
  for (let n = 0; n <= SQUARE_MAX; n++) {
    const ids = idsOf(bundle, `${n} squared equals`);
    const cache = await runner.run(ids);
    const act = activeAt(dict, cache, ids.length, ids.length - 1);
    total += act.size;
    for (const k of act.keys()) (ns.get(k) ?? ns.set(k, []).get(k)!).push(n);
  }
  let singleN = 0;
  let contiguous = 0;
  let always = 0;
  const intervals: [number, number][] = [];
  for (const list of ns.values()) {
    if (list.length === 1) singleN++;
    else if (list[list.length - 1] - list[0] === list.length - 1) {
      contiguous++;
      if (list.length === SQUARE_MAX + 1) always++;
      else intervals.push([list[0], list[list.length - 1]]);
    }
  }
  // Greedy interval cover over the union of the contiguous features' ranges (always-on ones left out).
  const covered = new Set<number>();
  for (const [a, b] of intervals) for (let n = a; n <= b; n++) covered.add(n);
  intervals.sort((x, y) => x[0] - y[0]);
  let used = 0;
  let n = 0;
  while (n <= SQUARE_MAX) {
    if (!covered.has(n)) {
      n++;
      continue;
    }
    let reach = -1;
    for (const [a, b] of intervals) if (a <= n && b > reach) reach = b;
    used++;
    n = reach + 1;
  }
  return {
    features: ns.size,
    singleN,
    contiguous,
    scattered: ns.size - singleN - contiguous,
    always,
    perN: total / (SQUARE_MAX + 1),
    tiling: { features: used, covers: covered.size, of: SQUARE_MAX + 1 },
  };
}


/** Two-way ANOVA split of a 5 × 5 table: which of colour, shape or their interaction explains most. */
export function classifyTable(table: number[][]): ColourShapeClass | 'constant' {
  const R = table.length;
  const C = table[0].length;
  let mean = 0;
  for (const row of table) for (const v of row) mean += v / (R * C);
  let total = 0;
  for (const row of table) for (const v of row) total += (v - mean) ** 2;
  if (total <= 1e-12) return 'constant';
  let rows = 0;
  for (const row of table) rows += C * (row.reduce((s, v) => s + v, 0) / C - mean) ** 2;
  let cols = 0;
  for (let c = 0; c < C; c++) cols += R * (table.reduce((s, row) => s + row[c], 0) / R - mean) ** 2;
  const inter = total - rows - cols;
  if (rows >= cols && rows >= inter) return 'colour';
  if (cols >= inter) return 'shape';
  return 'conjunction';
}

export function colourShapePrompt(c: number, s: number): { text: string; shapePosition: number } {
  const c2 = (c + 1) % COLOURS.length;
  const s2 = (s + 1) % SHAPES.length;
  // <bos> there is a C S … : the shape token sits at position 5.
  return { text: `there is a ${COLOURS[c]} ${SHAPES[s]} and a ${COLOURS[c2]} ${SHAPES[s2]} . the ${COLOURS[c]} one is a`, shapePosition: 5 };
}

export async function analyseColourShape(runner: ForwardRunner, bundle: ModelBundle, dict: Dictionary, graphs: boolean, runtime?: EngineOptions): Promise<ColourShapeAnalysis> {
  const tables = new Map<string, number[][]>();
  const zero = () => COLOURS.map(() => SHAPES.map(() => 0));
  for (let c = 0; c < COLOURS.length; c++) {
    for (let s = 0; s < SHAPES.length; s++) {
      const { text, shapePosition } = colourShapePrompt(c, s);
      const ids = idsOf(bundle, text);
      const cache = await runner.run(ids);
      for (const [k, v] of activeAt(dict, cache, ids.length, shapePosition)) (tables.get(k) ?? tables.set(k, zero()).get(k)!)[c][s] = v;
    }
  }
  const classes: Record<ColourShapeClass, number> = { colour: 0, shape: 0, conjunction: 0 };
  const classOf = new Map<string, ColourShapeClass>();
  let constant = 0;
  for (const [k, t] of tables) {
    const cls = classifyTable(t);
    if (cls === 'constant') constant++;
    else {
      classes[cls]++;
      classOf.set(k, cls);
    }
  }
  if (!graphs) return { classes, constant };
  // Influence on the answer carried by each class at the shape token, averaged over the 25 prompts.
  const share: Record<ColourShapeClass, number> = { colour: 0, shape: 0, conjunction: 0 };
  let prompts = 0;
  for (let c = 0; c < COLOURS.length; c++) {
    for (let s = 0; s < SHAPES.length; s++) {
      const { text, shapePosition } = colourShapePrompt(c, s);
      const g = await attributeAny(bundle, dict, text, { prune: false, runtime });
      let total = 0;
      const by: Record<ColourShapeClass, number> = { colour: 0, shape: 0, conjunction: 0 };
      for (const n of g.nodes) {
        if (n.kind === 'logit' || n.influence === undefined) continue;
        total += Math.abs(n.influence);
        if (n.kind !== 'feature' || n.position !== shapePosition) continue;
        const cls = classOf.get(`${n.layer}#${n.index}`);
        if (cls) by[cls] += Math.abs(n.influence);
      }
      if (total > 0) {
        prompts++;
        for (const k of Object.keys(by) as ColourShapeClass[]) share[k] += by[k] / total;
      }
    }
  }
  if (prompts) for (const k of Object.keys(share) as ColourShapeClass[]) share[k] /= prompts;
  return { classes, constant, influenceShare: share };
}

export type { ColourShapeAnalysis, ColourShapeClass, SquareAnalysis };
