/**
 * Top-activating examples arrive as lists of token strings, shown one span per token. Subword
 * tokenizers (GPT-2 BPE, SentencePiece) carry the space inside the token (" the"), so the spans can
 * simply be concatenated; a word-level tokenizer (the embedded toy model: WordLevel + WhitespaceSplit)
 * drops the space, and concatenation runs the words together ("star.thetriangle"). The tokenizer's own
 * decoder knows which it is: this module asks it once and spaces the example tokens to match.
 */
import type { PromptTokenizer } from '../engine/api';

/** How many vocabulary entries to look through for two plain word tokens. */
const SCAN = 4096;

/** A whole word or number: no whitespace, no marker characters (Ġ ▁ ## < [) of special or subword tokens. */
const PLAIN = /^[A-Za-z0-9]+$/;

/**
 * The text the tokenizer's decoding puts between two whole-word tokens: ' ' when decode([a, b]) is
 * decode([a]) + ' ' + decode([b]), '' when the decoder concatenates (the space lives in the tokens).
 */
export function wordJoiner(tokenizer: PromptTokenizer): string {
  const ids: number[] = [];
  const n = Math.min(tokenizer.vocabSize, SCAN);
  for (let id = 0; id < n && ids.length < 2; id++) {
    let text: string;
    try {
      text = tokenizer.tokenText(id);
    } catch {
      continue;
    }
    if (PLAIN.test(text)) ids.push(id);
  }
  if (ids.length < 2) return '';
  try {
    const [a, b] = [tokenizer.decode([ids[0]]), tokenizer.decode([ids[1]])];
    return tokenizer.decode(ids) === `${a} ${b}` ? ' ' : '';
  } catch {
    return '';
  }
}

/**
 * The example's tokens as the text each contributes, so that concatenating them reads as the decoded
 * text: with a ' ' joiner every token after the first gets a leading space, except WordPiece
 * continuations ("##ing"), which attach to the previous token without their marker.
 */
export function spacedTokens(tokens: readonly string[], joiner: string): string[] {
  if (!joiner) return [...tokens];
  return tokens.map((t, i) => {
    if (t.startsWith('##') && t.length > 2) return t.slice(2);
    if (i === 0 || /^\s/.test(t)) return t;
    return joiner + t;
  });
}
