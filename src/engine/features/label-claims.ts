/**
 * Labels that claim an output ("predicts Frankfort", "promotes Texas", "says 7") are checked against
 * what the feature's decoder actually does to the logits: the claimed token must be among the
 * feature's strongest promoted tokens, in general (raw or standardised) or in the prompt at hand.
 * A feature that detects "the answer is Frankfort" without writing it is flagged, with the ranks.
 */
import type { ModelBundle } from '../api';
import { rankOf, type GeneralView, type InPromptView } from './logit-views';

/** How many of the strongest promoted tokens count as "among the feature's effects". */
export const CLAIM_TOP_K = 10;

const CLAIM = /^\s*(?:predicts|promotes|says|outputs|writes)\s+(?:the\s+(?:token|word)\s+)?["“']?(.+?)["”']?\s*$/i;

/** The token a label claims the feature outputs, or undefined when the label claims no output. */
export function claimedOutput(label: string): string | undefined {
  const m = CLAIM.exec(label);
  return m ? m[1].trim() : undefined;
}

export interface ClaimCheck {
  claim: string;
  tokenId: number;
  /** 1-based rank among all tokens by raw / standardised general effect. */
  rankRaw: number;
  rankZ: number;
  /** Rank among the competing logits in the prompt, when the claimed token competes there. */
  rankInPrompt?: number;
  supported: boolean;
  /** For the card: why it is or is not supported. */
  message: string;
}

function ordinal(n: number): string {
  const s = n % 100 >= 11 && n % 100 <= 13 ? 'th' : ['th', 'st', 'nd', 'rd'][n % 10] ?? 'th';
  return `${n}${s}`;
}

/** The vocabulary id whose text (without surrounding space markers) is `word`; -1 when none. */
export function tokenIdOf(bundle: ModelBundle, word: string): number {
  const V = bundle.spec.vocabSize;
  for (let v = 0; v < V; v++) if (bundle.tokenizer.tokenText(v) === word) return v;
  for (let v = 0; v < V; v++) if (bundle.tokenizer.tokenText(v).trim() === word) return v;
  return -1;
}

export function checkClaim(bundle: ModelBundle, label: string, general: GeneralView, inPrompt?: InPromptView): ClaimCheck | undefined {
  const claim = claimedOutput(label);
  if (claim === undefined) return undefined;
  const id = tokenIdOf(bundle, claim);
  const V = general.raw.length;
  if (id < 0) {
    return { claim, tokenId: -1, rankRaw: V, rankZ: V, supported: false, message: `label claims an output "${claim}", which is not a token of this model` };
  }
  const rankRaw = rankOf(general.raw, id);
  const rankZ = rankOf(general.z, id);
  let rankInPrompt: number | undefined;
  if (inPrompt?.effects.length) {
    const i = inPrompt.effects.findIndex((e) => e.tokenId === id);
    if (i >= 0 && inPrompt.effects[i].value > 0) rankInPrompt = i + 1;
  }
  const supported = rankRaw <= CLAIM_TOP_K || rankZ <= CLAIM_TOP_K || rankInPrompt === 1;
  const where = `ranks ${ordinal(rankRaw)} of ${V} by direct logit effect, ${ordinal(rankZ)} standardised` + (rankInPrompt ? `, ${ordinal(rankInPrompt)} among the logits competing in this prompt` : '');
  const message = supported
    ? `output claim checked: "${claim}" ${where}`
    : `label claims the feature outputs "${claim}", but "${claim}" is not among its logit effects: it ${where}`;
  return { claim, tokenId: id, rankRaw, rankZ, rankInPrompt, supported, message };
}
