/**
 * The decomposition report's data (engine/decompositions/report.ts computes it): what the CLI prints,
 * the worker returns and the Compare Decompositions view shows; and how its numbers read, the same
 * everywhere. Imports nothing.
 */

export interface SquareAnalysis {
  /** Distinct features active at the last position for at least one n. */
  features: number;
  singleN: number;
  /** Active on a contiguous run of ≥ 2 values of n (and nowhere else). */
  contiguous: number;
  /** Active on a scattered set of n. */
  scattered: number;
  /** Active for every n (contiguous too, but they tile nothing). */
  always: number;
  /** Mean active features per n. */
  perN: number;
  /** Smallest number of contiguous features covering every n they cover, and how many n that is. */
  tiling: { features: number; covers: number; of: number };
}

export type ColourShapeClass = 'colour' | 'shape' | 'conjunction';

export interface ColourShapeAnalysis {
  /** Features active at the shape token in some of the 25 prompts, by class (constant ones apart). */
  classes: Record<ColourShapeClass, number>;
  constant: number;
  /** Mean share of the answer's influence carried by each class at the shape token (graph dictionaries only). */
  influenceShare?: Record<ColourShapeClass, number>;
}

export interface DictionaryReport {
  name: string;
  kind: 'transcoders' | 'clt' | 'sae';
  layers: number[];
  /** Mean over prompts of the per-prompt figures. */
  l0: number;
  fvu: number;
  perLayer: { layer: number; l0: number; fvu: number; ceSpliced: number; klSpliced: number }[];
  ceClean: number;
  ceSpliced: number;
  klSpliced: number;
  /** From unpruned attribution graphs; absent (with the reason) where attribution does not support the kind. */
  graph?: { replacement: number; completeness: number; featuresFor80: number };
  graphSkipped?: string;
  ablation: { measured: number; unused: number; unusedShare: number; epsilon: number };
  square?: SquareAnalysis;
  colourShape?: ColourShapeAnalysis;
}

export interface DecompositionReport {
  model: string;
  prompts: string[];
  dictionaries: DictionaryReport[];
}

/** A figure to 3 decimals; small ones (< 0.01) in exponent notation; — for none. */
export function fmt3(x: number | undefined): string {
  return x === undefined || Number.isNaN(x) ? '—' : Math.abs(x) < 0.01 && x !== 0 ? x.toExponential(1) : x.toFixed(3);
}

/** A share as a percentage with one decimal; — for none. */
export function fmtShare(x: number | undefined): string {
  return x === undefined || Number.isNaN(x) ? '—' : `${(x * 100).toFixed(1)}%`;
}

/**
 * The dictionary's kind as the debate names it: transcoders, CLT, SAE, or e2e SAE (an SAE trained end to
 * end; tools/train/e2e_sae.py names its folder e2e-sae-…, SAELens has no field for it).
 */
export function kindLabel(d: Pick<DictionaryReport, 'kind' | 'name'>): string {
  if (d.kind === 'clt') return 'CLT';
  if (d.kind === 'transcoders') return 'transcoders';
  return /(^|[^a-z0-9])e2e([^a-z0-9]|$)/i.test(d.name) ? 'e2e SAE' : 'SAE';
}
