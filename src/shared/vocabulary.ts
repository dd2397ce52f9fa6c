/**
 * The words a word-level model knows, and the words of a prompt it does not: pure, so the editor's
 * diagnostics and completions are unit-tested against the real tokenizer.
 *
 * A word-level tokenizer (the embedded toy model's: `WordLevel` behind a whitespace split, no
 * normaliser) turns every whitespace-separated word it has not seen into one unknown token, so the
 * model reads "The" or "Austin." as `<unk>` and the graph is silently about nothing. Subword
 * tokenizers (BPE, SentencePiece) spell any text, so they have no unknown words to report.
 */

export interface PromptVocabulary {
  /** The model's name (its folder), for messages. */
  model: string;
  /** Word-level: every whitespace-separated word is one token or the unknown token. */
  wordLevel: boolean;
  /** The words (special tokens left out), in vocabulary order; empty unless word-level. */
  words: string[];
  /** The unknown-word token's text, e.g. `<unk>`. */
  unk?: string;
}

export interface UnknownWord {
  /** Offsets in the checked text, end exclusive. */
  start: number;
  end: number;
  word: string;
  /** What to write instead, when the vocabulary has a close spelling. */
  suggestion?: string;
}

/** Words are compared as they are: the embedded vocabulary is case-sensitive ("the" and "Texas"). */
export class WordChecker {
  readonly known: Set<string>;
  private readonly lower = new Map<string, string>();

  constructor(readonly vocabulary: PromptVocabulary) {
    this.known = new Set(vocabulary.words);
    for (const w of vocabulary.words) if (!this.lower.has(w.toLowerCase())) this.lower.set(w.toLowerCase(), w);
  }

  /** The unknown words of a prompt text (nothing for a subword model). */
  unknownWords(text: string): UnknownWord[] {
    if (!this.vocabulary.wordLevel || !this.known.size) return [];
    const out: UnknownWord[] = [];
    for (const m of text.matchAll(/\S+/g)) {
      const word = m[0];
      if (this.known.has(word)) continue;
      out.push({ start: m.index!, end: m.index! + word.length, word, suggestion: this.suggest(word) });
    }
    return out;
  }

  /**
   * A close spelling the model knows: the word with other capitalisation ("The" → "the"); punctuation
   * split off as words of its own ("Austin." → "Austin ."); else one known word within two edits.
   */
  suggest(word: string): string | undefined {
    const cased = this.lower.get(word.toLowerCase());
    if (cased !== undefined) return cased;
    const parts = word.split(/(?<=[^\p{L}\p{N}])|(?=[^\p{L}\p{N}])/u).filter(Boolean);
    if (parts.length > 1) {
      const fixed = parts.map((p) => (this.known.has(p) ? p : this.lower.get(p.toLowerCase())));
      if (fixed.every((p) => p !== undefined)) return fixed.join(' ');
    }
    if (word.length < 3 || this.known.size > 200_000) return undefined;
    let best: string | undefined;
    let bestD = 3;
    for (const w of this.known) {
      if (Math.abs(w.length - word.length) >= bestD) continue;
      const d = editDistance(word.toLowerCase(), w.toLowerCase(), bestD);
      if (d < bestD) {
        bestD = d;
        best = w;
      }
    }
    return best;
  }

  /** The diagnostic's text: which word, what the model reads, what to write. */
  message(u: UnknownWord): string {
    const v = this.vocabulary;
    const instead = u.suggestion !== undefined ? ` Write "${u.suggestion}" instead.` : ' Use a word from its vocabulary (the completion list offers them).';
    return (
      `"${u.word}" is not a word ${v.model} knows: it reads it as ${v.unk ?? 'the unknown token'}.${instead} ` +
      `${v.model} knows ${v.words.length} words, case-sensitive and separated by spaces (punctuation is a word of its own: "Austin .").`
    );
  }
}

/** Levenshtein distance, giving up (returning `limit`) once it must reach `limit`. */
export function editDistance(a: string, b: string, limit = Infinity): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    let rowMin = i;
    for (let j = 1; j <= b.length; j++) {
      const v = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      cur.push(v);
      if (v < rowMin) rowMin = v;
    }
    if (rowMin >= limit) return limit;
    prev = cur;
  }
  return Math.min(prev[b.length], limit);
}
