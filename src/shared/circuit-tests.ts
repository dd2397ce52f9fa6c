/**
 * Circuit-test results as the engine's runner (src/engine/circuit-tests/) returns them and the Testing
 * view and reporters read them: plain data, line numbers 0-based.
 */

export interface ExpectationResult {
  /** 0-based document line. */
  line: number;
  text: string;
  ok: boolean;
  message: string;
}

export interface StabilityRow {
  /** `L3#95` (position-free: paraphrases move tokens). */
  node: string;
  label: string;
  /** Fraction of the variants whose pruned graph holds the feature. */
  share: number;
}

export interface BlockResult {
  /** 0-based line of the prompt's first line. */
  line: number;
  prompt: string;
  variants: string[];
  results: ExpectationResult[];
  /** Paraphrase families: each feature's share of the variants it appears in, most stable first. */
  stability?: StabilityRow[];
}
