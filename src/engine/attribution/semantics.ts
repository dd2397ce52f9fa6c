/**
 * What an intervention holds fixed: the one definition every caller (CLI, editor, API, verify, circuit
 * tests) uses, named in every result so a number is never shown without the setting it was measured in.
 *
 * - attention 'frozen': the prompt's attention patterns are kept (circuit-tracer's freeze_attention), so
 *   an intervention travels through the residual stream, the norms and the MLPs only; 'recomputed':
 *   the real model, attention reacts.
 * - norms 'frozen': every normalisation scale (1/rms or 1/std per position) is kept, as the attribution
 *   graph does; 'recomputed': the norms react. Frozen norms need frozen attention (the attention scores
 *   read normalised queries and keys; a pattern recomputed from frozen-scale inputs is no model at all).
 *
 * With both frozen the residual path is linear, the setting the attribution graph is exact in; with both
 * recomputed it is the real model.
 */
import { EngineError } from '../errors';

export type FreezeMode = 'frozen' | 'recomputed';

export interface InterventionSemantics {
  attention: FreezeMode;
  norms: FreezeMode;
}

/** The default everywhere: circuit-tracer's feature intervention (attention frozen, norms live). */
export const DEFAULT_SEMANTICS: Readonly<InterventionSemantics> = Object.freeze({ attention: 'frozen', norms: 'recomputed' });

/** The real model: nothing frozen. */
export const REAL_SEMANTICS: Readonly<InterventionSemantics> = Object.freeze({ attention: 'recomputed', norms: 'recomputed' });

/** The attribution graph's own setting: attention and norms frozen. */
export const LINEAR_SEMANTICS: Readonly<InterventionSemantics> = Object.freeze({ attention: 'frozen', norms: 'frozen' });

export function isFreezeMode(x: unknown): x is FreezeMode {
  return x === 'frozen' || x === 'recomputed';
}

/** Fills in the defaults and rejects the one combination that is not a model. */
export function resolveSemantics(s: Partial<InterventionSemantics> = {}): InterventionSemantics {
  const out: InterventionSemantics = { attention: s.attention ?? DEFAULT_SEMANTICS.attention, norms: s.norms ?? DEFAULT_SEMANTICS.norms };
  if (!isFreezeMode(out.attention) || !isFreezeMode(out.norms)) {
    throw new EngineError('INTERNAL', `Attention and norms are each 'frozen' or 'recomputed' (got ${JSON.stringify(s)}).`);
  }
  if (out.norms === 'frozen' && out.attention === 'recomputed') {
    throw new EngineError('INTERNAL', 'Frozen norms need frozen attention: the attention scores read normalised queries and keys.', 'Freeze attention too, or recompute the norms.');
  }
  return out;
}

/** "attention frozen, norms recomputed": how results name their setting. */
export function describeSemantics(s: InterventionSemantics): string {
  return `attention ${s.attention}, norms ${s.norms}`;
}
