/**
 * The prompt tokenizer: @huggingface/tokenizers (the maintained pure-JS port of HF tokenizers) does the
 * tokenisation; this wrapper adds what the editor needs and the library does not give — each token's
 * character range in the prompt.
 *
 * Offsets are recovered by decoding: the text a token adds to the decoded prefix is its piece; the
 * concatenated pieces are then aligned against the prompt (they equal it for byte-level BPE, and
 * differ in whitespace/case for word-level or normalising tokenizers). A byte-level token that holds
 * only part of a multi-byte character decodes to U+FFFD; it is given the range of the character it is
 * part of, so every token points at real text.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { EngineError } from '../errors';
import { hasOwn, readUserJson } from '../user-files';
import type { PromptTokenizer, TokenInfo } from '../api';

const REPLACEMENT = '\uFFFD';
/** Incremental decoding restarts every this many tokens, keeping offset recovery linear in the prompt length. */
const WINDOW = 128;

export function loadTokenizer(dir: string): HfPromptTokenizer {
  const path = join(dir, 'tokenizer.json');
  if (!existsSync(path)) {
    throw new EngineError(
      'TOKENIZER_MISSING',
      `No tokenizer.json in ${dir}.`,
      'Copy tokenizer.json (and tokenizer_config.json) from the model\'s Hugging Face repository into the folder.',
    );
  }
  // Large real tokenizers (Gemma's 256k vocabulary) are ~35 MB.
  const json = readUserJson(path, 'tokenizer.json', 'TOKENIZER_INVALID', 512 * 1024 ** 2, 'Download tokenizer.json again.');
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new EngineError('TOKENIZER_INVALID', `${path} is not a JSON object.`, 'Download tokenizer.json again.');
  }
  const cfgPath = join(dir, 'tokenizer_config.json');
  let cfg: Record<string, unknown> = {};
  if (existsSync(cfgPath)) {
    const c = readUserJson(cfgPath, 'tokenizer_config.json', 'TOKENIZER_INVALID', 64 * 1024 ** 2, 'Download tokenizer_config.json again.');
    if (typeof c !== 'object' || c === null || Array.isArray(c)) {
      throw new EngineError('TOKENIZER_INVALID', `${cfgPath} is not a JSON object.`, 'Download tokenizer_config.json again.');
    }
    cfg = c as Record<string, unknown>;
  }
  checkTokenizerJson(json as Record<string, unknown>, path);
  cfg = withUnknownToken(json as Record<string, unknown>, cfg);
  let tok: Tokenizer;
  try {
    tok = new Tokenizer(json as object, cfg);
  } catch (e) {
    throw new EngineError('TOKENIZER_INVALID', `${path} (with ${existsSync(cfgPath) ? 'tokenizer_config.json' : 'no tokenizer_config.json'}) could not be loaded: ${(e as Error).message}.`, 'The tokenizer uses a component the tokenizer library does not support, or the file is corrupt.');
  }
  const out = new HfPromptTokenizer(tok, isWordLevel(json as Record<string, unknown>));
  if (out.vocabSize === 0) throw new EngineError('TOKENIZER_INVALID', `${path} has an empty vocabulary.`, 'Download tokenizer.json again.');
  const unk = typeof cfg.unk_token === 'string' ? cfg.unk_token : undefined;
  // The library looks tokens up in a plain object: "constructor" would find Object's, so ask for a number.
  if (unk !== undefined && typeof tok.token_to_id(unk) !== 'number') {
    throw new EngineError('TOKENIZER_INVALID', `${path} names the unknown-word token ${JSON.stringify(unk)}, which is not in its vocabulary.`, 'Download tokenizer.json again.');
  }
  return out;
}

/**
 * The library reads the unknown-word token only from tokenizer_config.json; a WordLevel or WordPiece
 * tokenizer shipped without one would then fail on the first unknown word. The model section names
 * its own `unk_token`, which is what the tokenizer's author meant.
 */
function withUnknownToken(json: Record<string, unknown>, cfg: Record<string, unknown>): Record<string, unknown> {
  if (hasOwn(cfg, 'unk_token')) return cfg;
  const model = json.model as Record<string, unknown> | undefined;
  const unk = hasOwn(model, 'unk_token') ? model!.unk_token : undefined;
  return typeof unk === 'string' ? { ...cfg, unk_token: unk } : cfg;
}

/** Longest `Split` / `Replace` regex source accepted (real ones are a few hundred characters). */
const MAX_PATTERN_LENGTH = 4096;

/**
 * Refuses tokenizer regexes that can backtrack catastrophically: a quantified group that itself holds
 * an unbounded quantifier — `(a+)+`, `(a*)*`, `(?:x|y+)*` — is exponential on a near-match, and a
 * prompt is untrusted text. Real pre-tokenizers (GPT-2, Llama-3, Qwen, Gemma) quantify only
 * character classes and single atoms, so they pass.
 */
function checkTokenizerJson(json: Record<string, unknown>, path: string): void {
  const seen = new Set<object>();
  const walk = (v: unknown, where: string): void => {
    if (typeof v !== 'object' || v === null || seen.has(v)) return;
    seen.add(v);
    if (Array.isArray(v)) {
      v.forEach((x, i) => walk(x, `${where}[${i}]`));
      return;
    }
    const o = v as Record<string, unknown>;
    if ((o.type === 'Split' || o.type === 'Replace') && hasOwn(o, 'pattern')) {
      const p = o.pattern as { Regex?: unknown } | undefined;
      const src = p && typeof p === 'object' && hasOwn(p, 'Regex') ? p.Regex : undefined;
      if (typeof src === 'string') {
        const why = src.length > MAX_PATTERN_LENGTH ? `is ${src.length} characters long` : nestedQuantifier(src);
        if (why) {
          throw new EngineError(
            'TOKENIZER_INVALID',
            `${path}: the ${o.type} pattern at ${where} ${why}; such a pattern can take exponential time on a prompt.`,
            'Use the tokenizer.json that came with the model.',
          );
        }
      }
    }
    for (const [k, x] of Object.entries(o)) if (k !== 'vocab' && k !== 'merges') walk(x, `${where}.${k}`);
  };
  walk(json, 'tokenizer');
}

/** Why a regex source has a quantified group containing an unbounded quantifier, or undefined. */
export function nestedQuantifier(src: string): string | undefined {
  // Per open group: whether it contains an unbounded quantifier (*, +, {n,}).
  const stack: boolean[] = [];
  let i = 0;
  const unboundedAt = (k: number): boolean => {
    const c = src[k];
    if (c === '*' || c === '+') return true;
    if (c === '{') return /^\{\d*,\}/.test(src.slice(k));
    return false;
  };
  while (i < src.length) {
    const c = src[i];
    if (c === '\\') {
      i += 2;
      continue;
    }
    if (c === '[') {
      // Skip a character class: its quantifier characters are literals.
      i++;
      if (src[i] === '^') i++;
      if (src[i] === ']') i++;
      while (i < src.length && src[i] !== ']') i += src[i] === '\\' ? 2 : 1;
      i++;
      continue;
    }
    if (c === '(') {
      stack.push(false);
      i++;
      continue;
    }
    if (c === ')') {
      const inner = stack.pop() ?? false;
      i++;
      if (inner && (unboundedAt(i) || src[i] === '{')) return `repeats a group that itself repeats without bound (near character ${i})`;
      if (inner && stack.length) stack[stack.length - 1] = true;
      continue;
    }
    if (unboundedAt(i) && stack.length) stack[stack.length - 1] = true;
    i++;
  }
  return undefined;
}

/**
 * A WordLevel model behind a bare whitespace split and no normaliser (the embedded model's tokenizer):
 * every whitespace-separated word is exactly one token, so its range is that word's.
 */
function isWordLevel(json: Record<string, unknown>): boolean {
  const model = json.model as Record<string, unknown> | undefined;
  const pre = json.pre_tokenizer as Record<string, unknown> | undefined;
  return !!model && model.type === 'WordLevel' && (json.normalizer === null || json.normalizer === undefined) && !!pre && pre.type === 'WhitespaceSplit';
}

export class HfPromptTokenizer implements PromptTokenizer {
  readonly vocabSize: number;
  private readonly special = new Map<number, string>();
  /** The unknown-word token stands for text it does not spell; it takes whatever its neighbours leave. */
  private readonly unkId: number | undefined;

  constructor(
    private readonly tok: Tokenizer,
    private readonly wordLevel = false,
  ) {
    for (const [id, t] of tok.get_added_tokens_decoder()) if (t.special) this.special.set(id, t.content);
    const m = tok.model;
    const unkName = m?.unk_token ?? (m?.config as { unk_token?: unknown } | undefined)?.unk_token;
    const id = m?.unk_token_id ?? (typeof unkName === 'string' ? tok.token_to_id(unkName) : undefined);
    this.unkId = typeof id === 'number' ? id : undefined;
    let max = -1;
    for (const id of tok.get_vocab(true).values()) if (id > max) max = id;
    this.vocabSize = max + 1;
  }

  isSpecial(id: number): boolean {
    return this.special.has(id);
  }

  encode(text: string): TokenInfo[] {
    let ids: number[];
    try {
      ids = this.tok.encode(text).ids;
    } catch (e) {
      throw new EngineError('TOKENIZER_INVALID', `The tokenizer could not encode the prompt: ${(e as Error).message}`, 'The model\'s tokenizer.json is incomplete (an unknown-word token missing from the vocabulary?).');
    }
    // Word-level: one token per word, so ranges come from the words themselves; aligning decoded text
    // cannot place unknown words next to known ones reliably ("Michiga 676" put 676 over "Mic").
    const byWords = this.wordLevel ? this.placeWords(ids, text) : undefined;
    if (byWords) return byWords;
    const out: TokenInfo[] = [];
    let cursor = 0;
    let run: number[] = [];
    const flush = (limit: number) => {
      if (!run.length) return;
      cursor = this.placeRun(run, text, cursor, limit, out);
      run = [];
    };
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      const sp = id === this.unkId ? undefined : this.special.get(id);
      if (sp === undefined) {
        run.push(id);
        continue;
      }
      // A special token the user typed literally consumes its text; one the post-processor inserted
      // (BOS/EOS) is zero-width where it was inserted.
      const at = sp ? text.indexOf(sp, cursor) : -1;
      flush(at >= 0 ? at : text.length);
      let k = cursor;
      while (at >= 0 && k < at && /\s/.test(text[k])) k++;
      const literal = at >= 0 && k === at ? at : -1;
      if (literal >= 0) {
        out.push({ id, text: sp, start: literal, end: literal + sp.length, special: true });
        cursor = literal + sp.length;
      } else {
        out.push({ id, text: sp, start: cursor, end: cursor, special: true });
      }
    }
    flush(text.length);
    return out;
  }

  /**
   * Word-level ranges: each ordinary token (unknown ones included) is the next whitespace-separated
   * word; a special token is the next word when that word spells it (typed literally), else zero-width
   * where it was inserted. Undefined when the counts disagree (the general alignment then decides).
   */
  private placeWords(ids: number[], text: string): TokenInfo[] | undefined {
    const words = [...text.matchAll(/\S+/g)];
    const out: TokenInfo[] = [];
    let w = 0;
    let cursor = 0;
    for (const id of ids) {
      const sp = id === this.unkId ? undefined : this.special.get(id);
      const word = words[w];
      if (sp !== undefined && !(word && word[0] === sp)) {
        out.push({ id, text: sp, start: cursor, end: cursor, special: true });
        continue;
      }
      if (!word) return undefined;
      const start = word.index!;
      cursor = start + word[0].length;
      out.push(sp !== undefined ? { id, text: sp, start, end: cursor, special: true } : { id, text: this.tokenText(id), start, end: cursor, special: false });
      w++;
    }
    return w === words.length ? out : undefined;
  }

  decode(ids: number[]): string {
    if (!ids.length) return '';
    return this.tok.decode(ids, { skip_special_tokens: false, clean_up_tokenization_spaces: false });
  }

  tokenText(id: number): string {
    const sp = this.special.get(id);
    if (sp !== undefined) return sp;
    const s = this.decode([id]);
    // A lone byte of a multi-byte character has no text of its own; show the vocabulary entry.
    return s.includes(REPLACEMENT) ? (this.tok.id_to_token(id) ?? s) : s;
  }

  /**
   * Places a run of ordinary tokens in text[cursor, limit): computes each token's decoded piece, aligns
   * the concatenation with the text, and pushes TokenInfos. Returns the new cursor.
   */
  private placeRun(run: number[], text: string, cursor: number, limit: number, out: TokenInfo[]): number {
    const pieces = this.pieces(run);
    const decoded = pieces.join('');
    const segment = text.slice(cursor, limit);
    const map = align(decoded, segment);
    const ranges: [number, number][] = [];
    let pos = 0;
    for (let i = 0; i < run.length; i++) {
      const p = pieces[i];
      // Whitespace the decoder put between words (word-level tokens) is not part of the token.
      const sep = this.ownsLeadingSpace(run[i]) ? 0 : /^\s*/.exec(p)![0].length;
      const start = map[pos + sep];
      // End just after the token's last character, so whitespace skipped before the next token stays out.
      let end = p.length > sep ? map[pos + p.length - 1] + 1 : start;
      pos += p.length;
      if (end === start && p === '' && run[i] !== this.unkId && start < segment.length) {
        // Part of a multi-byte character: point at that character.
        const cp = segment.codePointAt(start)!;
        end = start + (cp > 0xffff ? 2 : 1);
      }
      ranges.push([start, Math.max(start, end)]);
    }
    let consumed = map[decoded.length];
    if (this.unkId !== undefined && run.includes(this.unkId)) consumed = this.placeUnknowns(run, ranges, segment, consumed);
    for (let i = 0; i < run.length; i++) {
      out.push({ id: run[i], text: this.tokenText(run[i]), start: ranges[i][0] + cursor, end: ranges[i][1] + cursor, special: false });
    }
    return cursor + consumed;
  }

  /** Whether the vocabulary entry itself spells a leading space (Ġ, ▁ or a space), as BPE tokens do. */
  private ownsLeadingSpace(id: number): boolean {
    const raw = this.tok.id_to_token(id) ?? '';
    return /^[\s\u2581\u0120]/.test(raw) || /^<0x(20|09|0A|0D)>$/i.test(raw);
  }

  /**
   * Unknown tokens cover the words between their neighbours: each maximal group of consecutive unknowns
   * takes the gap from the previous token's end to the next token's start (or the segment's end), one
   * whitespace-separated word each when the counts agree, the whole gap each otherwise.
   */
  private placeUnknowns(run: number[], ranges: [number, number][], segment: string, consumed: number): number {
    let i = 0;
    while (i < run.length) {
      if (run[i] !== this.unkId) {
        i++;
        continue;
      }
      let j = i;
      while (j < run.length && run[j] === this.unkId) j++;
      const from = i > 0 ? ranges[i - 1][1] : 0;
      const to = j < run.length ? ranges[j][0] : segment.length;
      const words: [number, number][] = [];
      const re = /\S+/g;
      const gap = segment.slice(from, Math.max(from, to));
      for (let m = re.exec(gap); m; m = re.exec(gap)) words.push([from + m.index, from + m.index + m[0].length]);
      const n = j - i;
      for (let k = 0; k < n; k++) {
        ranges[i + k] = words.length === n ? words[k] : words.length ? [words[0][0], words[words.length - 1][1]] : [from, from];
      }
      if (j === run.length) consumed = Math.max(consumed, ranges[j - 1][1]);
      i = j;
    }
    return consumed;
  }

  /** Each token's share of the decoded text; a token completing a multi-byte character gets the whole character. */
  private pieces(run: number[]): string[] {
    const out: string[] = [];
    let winStart = 0;
    // One token of left context keeps decoders that treat the first token specially (Metaspace strips
    // its leading space) from changing a window's first piece.
    let ctx: number[] = [];
    let prevText = '';
    let prevStable = 0;
    for (let i = 0; i < run.length; i++) {
      const s = this.decode([...ctx, ...run.slice(winStart, i + 1)]);
      // The stable part: what will not change when more tokens arrive (not a trailing U+FFFD).
      const stable = stableLength(s);
      // Keep only text consistent with the previous prefix.
      let common = 0;
      const lim = Math.min(prevStable, stable);
      while (common < lim && s.charCodeAt(common) === prevText.charCodeAt(common)) common++;
      // The decoder rewrote earlier text (rare): the rewritten remainder becomes this token's piece.
      if (common < prevStable) prevStable = common;
      const piece = s.slice(prevStable, stable);
      // An unknown token's decoded text ("<unk>") is not in the prompt: keep only its separator.
      out.push(run[i] === this.unkId ? /^\s*/.exec(piece)![0] : piece);
      prevStable = stable;
      prevText = s;
      // Restart the window (keeping the cost linear in the prompt) only at a character boundary, so
      // no multi-byte character is split between windows.
      if (i + 1 - winStart >= WINDOW && stable === s.length) {
        const next = this.decode([run[i]]);
        if (!next.includes(REPLACEMENT)) {
          winStart = i + 1;
          ctx = [run[i]];
          prevText = next;
          prevStable = next.length;
        }
      }
    }
    return out;
  }
}

/** Length of `s` without trailing U+FFFD (bytes of a character still incomplete). */
function stableLength(s: string): number {
  let n = s.length;
  while (n > 0 && s[n - 1] === REPLACEMENT) n--;
  return n;
}

function fold(c: string): string {
  return c.normalize('NFKD').replace(/[\u0300-\u036f]/g, '').toLowerCase();
}

function isSpace(c: string): boolean {
  return /\s/.test(c) || c === '\u2581' || c === '\u0120';
}

/**
 * Maps every index 0..a.length of the decoded text `a` to an index of the prompt segment `b`.
 * Equal prefixes map one-to-one; elsewhere a greedy walk matches case- and accent-folded characters,
 * skips whitespace the other side lacks, and resynchronises on the next few characters.
 */
export function align(a: string, b: string): Int32Array {
  const map = new Int32Array(a.length + 1);
  let i = 0;
  let j = 0;
  while (i < a.length) {
    if (j >= b.length) {
      map[i++] = b.length;
      continue;
    }
    if (a[i] === b[j] || fold(a[i]) === fold(b[j])) {
      map[i++] = j++;
      continue;
    }
    // Resynchronise: the next few characters of `a` a little further on in `b` (text an unknown
    // token stood for, or characters the tokenizer dropped).
    const probe = fold(a.slice(i, i + 6));
    if (probe.trim().length >= 1) {
      const k = fold(b.slice(j, j + 64)).indexOf(probe);
      if (k > 0 && b.slice(j, j + k).length === fold(b.slice(j, j + k)).length) {
        j += k;
        continue;
      }
    }
    if (isSpace(a[i]) && !isSpace(b[j])) {
      map[i++] = j;
      continue;
    }
    if (isSpace(b[j])) {
      j++;
      continue;
    }
    map[i++] = j++;
  }
  map[a.length] = j >= b.length ? b.length : j;
  return map;
}
