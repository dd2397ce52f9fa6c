/**
 * The bench sections contributed by each part of the product (attribution, big weights, the editor).
 * Each takes the shared context and returns rows; bench.ts runs them in this order.
 */
import type { ProviderSetting } from '../src/engine/runtime';
import type { BenchRow } from './table';
import { benchBigWeights } from './big-weights';
import { benchAttribution } from './attribution';
import { benchEditor } from '../webview/dev/bench-editor';

export interface SectionContext {
  root: string;
  providers: ProviderSetting[];
  threads?: number;
  /** Matmul peaks measured earlier in the run: 'torch-cpu', '<provider>-f32', '<provider>-f16' → GFLOP/s. */
  peaks: Map<string, number>;
  log: (line: string) => void;
}

export type Section = (ctx: SectionContext) => Promise<BenchRow[]>;

export const extraSections: Record<string, Section> = {
  attribution: benchAttribution,
  bigweights: benchBigWeights,
  editor: benchEditor,
};
