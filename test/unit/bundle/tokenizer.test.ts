/**
 * Character offsets of tokens, which the editor uses to map tokens to text. Checked on a byte-level BPE
 * (the gpt2-tiny / llama-tiny fixtures), a SentencePiece-style BPE with byte fallback (gemma2-tiny) and a
 * word-level tokenizer written here in the format of the embedded model's (WhitespaceSplit + WordLevel +
 * <bos> template), including multi-byte characters, unknown words and irregular whitespace.
 *
 * The truth is independent of the offset code: a token's range must contain exactly the text the
 * token spells (its decoded piece, modulo the word-level decoder's spaces), ranges must tile the prompt
 * in order, and inserted specials are zero-width.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadTokenizer, align } from '../../../src/engine/bundle/tokenizer';
import type { TokenInfo } from '../../../src/engine/api';

const FIXTURES = resolve(__dirname, '..', '..', 'fixtures', 'models');

function spans(text: string, toks: TokenInfo[]): string[] {
  return toks.map((t) => text.slice(t.start, t.end));
}

function assertOrdered(toks: TokenInfo[], text: string): void {
  let prev = 0;
  for (const t of toks) {
    assert.ok(t.start >= prev - 2 && t.end >= t.start && t.end <= text.length, `bad range ${JSON.stringify(t)}`);
    prev = Math.max(prev, t.end);
  }
}

test('byte-level BPE: every token covers exactly its own text; split multi-byte characters point at the whole character', () => {
  const tok = loadTokenizer(join(FIXTURES, 'gpt2-tiny'));
  const text = 'The cat sat on the mat. café 😀 ok';
  const toks = tok.encode(text);
  assertOrdered(toks, text);
  // Ranges tile the prompt: concatenating the distinct ranges gives the text back.
  let rebuilt = '';
  let last = 0;
  for (const t of toks) {
    if (t.start >= last) rebuilt += text.slice(t.start, t.end);
    last = Math.max(last, t.end);
  }
  assert.equal(rebuilt, text);
  for (const t of toks) {
    const piece = tok.decode([t.id]);
    if (!piece.includes('\uFFFD')) assert.equal(text.slice(t.start, t.end), piece, `token ${t.id}`);
  }
  // "é" is two byte tokens (Ã ©), "😀" four: each points at the character it is part of.
  const e = toks.filter((t) => text.slice(t.start, t.end) === 'é');
  assert.equal(e.length, 2);
  const emoji = toks.filter((t) => text.slice(t.start, t.end) === '😀');
  assert.equal(emoji.length, 4);
});

test('byte-level BPE with BOS: the inserted BOS is special and zero-width at 0', () => {
  const tok = loadTokenizer(join(FIXTURES, 'llama-tiny'));
  const text = 'Hello world 1234 é';
  const toks = tok.encode(text);
  assert.equal(toks[0].special, true);
  assert.deepEqual([toks[0].start, toks[0].end], [0, 0]);
  assert.deepEqual(spans(text, toks.slice(1)), ['H', 'e', 'l', 'l', 'o', ' world', ' ', '123', '4', ' ', 'é', 'é']);
});

test('SentencePiece-style BPE with byte fallback: ▁ maps to spaces, <0x..> bytes to their character, literal specials consume their text', () => {
  const tok = loadTokenizer(join(FIXTURES, 'gemma2-tiny'));
  const text = 'The cat é? <bos>x';
  const toks = tok.encode(text);
  assert.deepEqual(
    toks.map((t) => [text.slice(t.start, t.end), t.special]),
    [['', true], ['The', false], [' cat', false], [' ', false], ['é', false], ['é', false], ['?', false], [' ', false], ['<bos>', true], ['x', false]],
  );
});

function wordLevelDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'ci-tok-'));
  const specials = ['<unk>', '<bos>', '<eos>'];
  const words = ['the', 'capital', 'of', 'texas', 'is', 'austin', '.', 'naïve', '東京'];
  const vocab: Record<string, number> = {};
  [...specials, ...words].forEach((w, i) => (vocab[w] = i));
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify({
    version: '1.0',
    added_tokens: specials.map((s, i) => ({ id: i, content: s, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: null,
    pre_tokenizer: { type: 'WhitespaceSplit' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<bos>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [{ SpecialToken: { id: '<bos>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: { '<bos>': { id: '<bos>', ids: [1], tokens: ['<bos>'] } },
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: false },
    model: { type: 'WordLevel', vocab, unk_token: '<unk>' },
  }));
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ bos_token: '<bos>', unk_token: '<unk>', clean_up_tokenization_spaces: false }));
  return dir;
}

test('word-level tokenizer: words map to their ranges across irregular whitespace, multi-byte words and unknown words', () => {
  const tok = loadTokenizer(wordLevelDir());
  const text = 'the  capital of\tTEXAS naïve 東京 is Dallas-ish   .';
  const toks = tok.encode(text);
  assert.deepEqual(toks.map((t) => t.id), [1, 3, 4, 5, 0, 10, 11, 7, 0, 9]);
  assert.deepEqual(spans(text, toks), ['', 'the', 'capital', 'of', 'TEXAS', 'naïve', '東京', 'is', 'Dallas-ish', '.']);
  assert.equal(toks[0].special, true);
  assert.equal(toks[4].special, false, 'an unknown word is a real token of the prompt, not an inserted special');
});

test('word-level tokenizer: consecutive and leading/trailing unknown words get one word each', () => {
  const tok = loadTokenizer(wordLevelDir());
  const text = 'Houston Dallas the capital San Antonio';
  const toks = tok.encode(text);
  assert.deepEqual(spans(text, toks), ['', 'Houston', 'Dallas', 'the', 'capital', 'San', 'Antonio']);
});

test('word-level tokenizer: an unknown word before known ones keeps its own range (the embedded tokenizer)', () => {
  const tok = loadTokenizer(resolve(__dirname, '..', '..', '..', 'models', 'toy-llama'));
  for (const text of ['Michiga 676 ÿcat 900', 'The capital of Texas is', 'Austin. is  the\ncapital', 'the capital <bos> is']) {
    const toks = tok.encode(text).filter((t) => !(t.special && t.start === t.end));
    // Truth: the whitespace-separated words, in order, one token each.
    assert.deepEqual(spans(text, toks), text.split(/\s+/).filter(Boolean), text);
  }
});

test('align maps equal text one-to-one and skips whitespace the other side lacks', () => {
  assert.deepEqual([...align('abc', 'abc')], [0, 1, 2, 3]);
  assert.deepEqual([...align('a b', 'a   b')], [0, 1, 4, 5]);
  assert.deepEqual([...align('ab', 'AB')], [0, 1, 2]);
});

test('long prompts (past the incremental-decoding window) keep exact ranges across multi-byte characters', () => {
  const text = 'The capital of Texas is Austin, and café 😀 costs 12 dollars. '.repeat(40);
  for (const model of ['gpt2-tiny', 'gemma2-tiny']) {
    const tok = loadTokenizer(join(FIXTURES, model));
    const toks = tok.encode(text).filter((t) => !t.special);
    assert.ok(toks.length > 1000);
    for (const t of toks) {
      const piece = tok.decode([t.id]).replace(/\u2581/g, ' ');
      const got = text.slice(t.start, t.end);
      if (piece.includes('\uFFFD')) assert.ok(got === 'é' || got === '😀', `${model}: byte token ${t.id} covers ${JSON.stringify(got)}`);
      else assert.equal(got, piece, `${model}: token ${t.id} at ${t.start}`);
    }
    assert.equal(toks.at(-1)!.end, text.length);
  }
});
