/**
 * The raw attribution of one prompt: everything the backward sweeps computed, before pruning turns it into
 * an AttributionGraph. The worker keeps it for the active analysis, so the panel's threshold control
 * re-prunes it (prune.ts) without recomputing; head loadings and QK readouts read it too. A module of its
 * own so that readers (attention/) need not import the attribution driver that produces it.
 */
import type { TokenInfo } from '../api';
import type { ActiveFeatures } from './features';
import type { FrozenForward } from './frozen';
import type { NodeLayout } from './prune';
import type { Csr } from './sparse';
import type { Target } from './targets';

/** Everything attribution computed, before it becomes an AttributionGraph (tests and bench read it). */
export interface RawAttribution {
  tokens: TokenInfo[];
  frozen: FrozenForward;
  features: ActiveFeatures;
  targets: Target[];
  /** Indices (into `features`) of the features that are graph nodes, ascending. */
  selected: Int32Array;
  layout: NodeLayout;
  /** Full adjacency over [selected features, errors, tokens, logits]. */
  adjacency: Csr;
  logitWeights: Float64Array;
  /** Backward sweeps run and the seeds they carried. */
  sweeps: number;
  seeds: number;
  /** Wall-clock milliseconds per phase. */
  timings: { forwardMs: number; encodeMs: number; sweepMs: number; totalMs: number };
  /** Whether the sweeps ran with the prompt's constants bound into the session (uploaded once). */
  deviceResident: boolean;
}
