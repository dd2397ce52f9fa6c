/**
 * How a feature's label reads wherever it is shown (hover, card, node list, CLI): always with its
 * `L#idx`, with its score when it has one, and as "unlabelled (best guess: …)" when the score is below
 * the user's threshold — a weak label is evidence, not a name. Pure and dependency-free, so every
 * surface formats labels the same way.
 */
import { DISPLAY_DEFAULTS } from './settings-defaults';

/** The part of a label's evidence the text needs (a structural subset of LabelEvidence). */
export interface LabelScore {
  f1: number;
  precision?: number;
  recall?: number;
  against?: string;
}

/** Default of the `circuitInspector.labels.minF1` setting: labels scoring below it read "unlabelled". */
export const DEFAULT_LABEL_MIN_F1: number = DISPLAY_DEFAULTS['labels.minF1'];

export function featureId(layer: number, index: number): string {
  return `L${layer}#${index}`;
}

export interface LabelView {
  /** `L3#95`. */
  id: string;
  /** The label as shown, without the id: "the state Texas", "unlabelled (best guess: the word 9, F1 0.31)", "unlabelled". */
  text: string;
  /** Whether the label is trusted (score at or above the threshold, or no score to judge by). */
  trusted: boolean;
  /** "F1 0.62 · P 0.71 · R 0.55" when scored; "" otherwise. */
  score: string;
  /** What the score was measured against, when known. */
  against?: string;
}

const f2 = (x: number) => x.toFixed(2);

export function scoreText(e: LabelScore | undefined): string {
  if (!e) return '';
  const parts = [`F1 ${f2(e.f1)}`];
  if (e.precision !== undefined) parts.push(`P ${f2(e.precision)}`);
  if (e.recall !== undefined) parts.push(`R ${f2(e.recall)}`);
  return parts.join(' · ');
}

/**
 * `automatic`: the label was made from top tokens rather than scored against latents; it is shown as
 * such and never hidden by the threshold (it has no F1 to compare).
 */
export function labelView(layer: number, index: number, label: string | undefined, evidence: LabelScore | undefined, minF1 = DEFAULT_LABEL_MIN_F1, automatic = false): LabelView {
  const id = featureId(layer, index);
  const l = (label ?? '').trim();
  const score = scoreText(evidence);
  if (!l) return { id, text: 'unlabelled', trusted: false, score };
  if (automatic) return { id, text: `${l} (automatic)`, trusted: false, score };
  if (evidence && evidence.f1 < minF1) {
    return { id, text: `unlabelled (best guess: ${l}, F1 ${f2(evidence.f1)})`, trusted: false, score, against: evidence.against };
  }
  return { id, text: l, trusted: true, score, against: evidence?.against };
}

/** One line: "L3#95 the state Texas (F1 0.62)" / "L3#370 unlabelled (best guess: task color shape, F1 0.37)". */
export function labelLine(v: LabelView): string {
  return v.trusted && v.score ? `${v.id} ${v.text} (${v.score.split(' · ')[0]})` : `${v.id} ${v.text}`;
}
