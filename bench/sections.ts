/**
 * The bench sections contributed by each part of the product (attribution, big weights, the editor).
 * Each takes the shared context and returns rows; bench.ts runs them in this order.
 */
import type { Section } from './table';
import { benchBigWeights } from './big-weights';
import { benchAttribution } from './attribution';
import { benchEditor } from './editor';
import { benchGroundTruth } from './groundtruth';
import { benchAttention } from './attention';
import { benchSession } from './session';
import { benchFeatures } from './features';

export const extraSections: Record<string, Section> = {
  attribution: benchAttribution,
  attention: benchAttention,
  bigweights: benchBigWeights,
  editor: benchEditor,
  groundtruth: benchGroundTruth,
  session: benchSession,
  features: benchFeatures,
};
