/**
 * The decomposition report's data (engine/decompositions/report.ts computes it): what the CLI prints,
 * the worker returns and the Compare Decompositions view shows. Types only.
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
