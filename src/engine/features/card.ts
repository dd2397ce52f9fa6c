/**
 * A feature's card: its label with the evidence behind it, what it does to the logits in general and
 * in the prompt at hand (see logit-views.ts), whether an output its label claims is really among those
 * effects, and where it fires most. The CLI prints it; the editor shows it; both read this one object.
 */
import type { ModelBundle } from '../api';
import type { AttributionEngine } from '../attribution/engine';
import type { Dictionary, FeatureExample, LabelEvidence } from '../dictionaries/types';
import { EngineError } from '../errors';
import { checkClaim, type ClaimCheck } from './label-claims';
import { DEFAULT_LABEL_MIN_F1, labelView, type LabelView } from '../../shared/label-text';
import { generalView, rankEffects, type InPromptView, type LogitEffect, inPromptView } from './logit-views';

export interface FeatureCard {
  layer: number;
  index: number;
  /** `L3#95` */
  id: string;
  /** The label as the file gives it ('' when none). */
  rawLabel: string;
  evidence?: LabelEvidence;
  /** The label as shown under the threshold. */
  label: LabelView;
  /** Set when the label claims an output (e.g. "predicts X"). */
  claim?: ClaimCheck;
  general: {
    correction: string;
    /** Ranked by the standardised effect. */
    top: LogitEffect[];
    bottom: LogitEffect[];
    /** Ranked by the raw effect (what dominates without the correction). */
    rawTop: LogitEffect[];
  };
  inPrompt?: InPromptView;
  examples: FeatureExample[];
  fracNonzero?: number;
}

export interface CardOptions {
  /** Needed with `prompt`: the attribution engine of this model and dictionary. */
  engine?: AttributionEngine;
  prompt?: string | number[];
  position?: number;
  /** Labels whose F1 is below this read "unlabelled (best guess …)". */
  minF1?: number;
  /** Tokens per list (default 10). */
  k?: number;
  signal?: AbortSignal;
}

export async function featureCard(bundle: ModelBundle, dictionary: Dictionary, layer: number, index: number, opts: CardOptions = {}): Promise<FeatureCard> {
  if (!dictionary.layers.includes(layer)) {
    throw new EngineError('DICTIONARY_INVALID', `${dictionary.name} has no layer ${layer} (it covers ${dictionary.layers.join(', ')}).`, 'Pick one of the dictionary\'s layers.');
  }
  const k = opts.k ?? 10;
  const info = dictionary.featureInfo(layer, index);
  const general = generalView(bundle.spec, dictionary, layer, index);
  let inPrompt: InPromptView | undefined;
  if (opts.prompt !== undefined) {
    if (!opts.engine) throw new EngineError('INTERNAL', 'A feature card for a prompt needs the attribution engine.');
    inPrompt = await inPromptView(opts.engine, opts.prompt, layer, index, { position: opts.position, signal: opts.signal });
  }
  const rawLabel = info?.label ?? '';
  const card: FeatureCard = {
    layer,
    index,
    id: `L${layer}#${index}`,
    rawLabel,
    evidence: info?.evidence,
    label: labelView(layer, index, rawLabel, info?.evidence, opts.minF1 ?? DEFAULT_LABEL_MIN_F1),
    general: {
      correction: general.correction,
      top: rankEffects(bundle, general, k, 'z', 1),
      bottom: rankEffects(bundle, general, k, 'z', -1),
      rawTop: rankEffects(bundle, general, k, 'raw', 1),
    },
    inPrompt,
    examples: info?.examples ?? [],
    fracNonzero: info?.fracNonzero,
  };
  const claim = rawLabel ? checkClaim(bundle, rawLabel, general, inPrompt) : undefined;
  if (claim) card.claim = claim;
  return card;
}
