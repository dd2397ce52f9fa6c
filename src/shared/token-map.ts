/**
 * Tokens ↔ document offsets. A token's `start`/`end` are offsets into the prompt text; the prompt sits at
 * `promptStart` in the document. Pure functions, unit-tested.
 */
import type { TokenInfo } from './tokens';

export interface DocSpan {
  start: number;
  end: number;
}

/** Document span of token t (special tokens have an empty span). */
export function tokenSpan(tokens: TokenInfo[], t: number, promptStart: number): DocSpan {
  return { start: promptStart + tokens[t].start, end: promptStart + tokens[t].end };
}

/**
 * Index of the (non-special) token covering a document offset, or -1. A hover exactly between two tokens
 * belongs to the token that starts there. Token spans are sorted and do not overlap, so binary search.
 */
export function tokenAtOffset(tokens: TokenInfo[], offset: number, promptStart: number): number {
  const rel = offset - promptStart;
  let lo = 0;
  let hi = tokens.length - 1;
  let best = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (tokens[mid].start <= rel) {
      best = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  // Walk back over special / empty tokens that share the start offset.
  for (let t = best; t >= 0 && t >= best - 2; t--) {
    const tok = tokens[t];
    if (!tok.special && tok.end > tok.start && rel >= tok.start && rel < tok.end) return t;
  }
  return -1;
}

/** Spans of every non-empty token with its value, for decorations; zero values are skipped. */
export function valuedSpans(tokens: TokenInfo[], values: number[], promptStart: number): { span: DocSpan; value: number; t: number }[] {
  const out: { span: DocSpan; value: number; t: number }[] = [];
  tokens.forEach((tok, t) => {
    const v = values[t] ?? 0;
    if (tok.special || tok.end <= tok.start || !(v > 0)) return;
    out.push({ span: tokenSpan(tokens, t, promptStart), value: v, t });
  });
  return out;
}

/** Buckets 1..levels for decoration intensity, relative to the largest value (0 = not painted). */
export function intensityLevel(value: number, max: number, levels: number): number {
  if (!(value > 0) || !(max > 0)) return 0;
  return Math.max(1, Math.min(levels, Math.ceil((value / max) * levels)));
}

export interface TextEdit {
  /** Offset where the replaced range started, its length, and the new text's length. */
  offset: number;
  removed: number;
  inserted: number;
}

/** Where the prompt is after edits, or undefined when an edit touched it. Pure; unit-tested. */
export function shiftRange(range: { start: number; end: number }, edits: TextEdit[]): { start: number; end: number } | undefined {
  let { start, end } = range;
  for (const e of edits) {
    // Entirely after the prompt (typing right after its last character leaves the analysed text intact).
    if (e.offset >= end) continue;
    // Entirely before it (an insertion exactly at its start counts as before): the prompt moves.
    if (e.offset + e.removed <= start) {
      const d = e.inserted - e.removed;
      start += d;
      end += d;
      continue;
    }
    return undefined;
  }
  return { start, end };
}
