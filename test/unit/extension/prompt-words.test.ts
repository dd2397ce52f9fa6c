/**
 * The editor's unknown-word check against the truth, the embedded model's real tokenizer: a word is
 * underlined exactly when the tokenizer reads it as <unk>, at the same characters; every suggestion
 * and the New Prompt template tokenize without <unk>. Subword models have no unknown words to report.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join, resolve } from 'node:path';
import { loadTokenizer } from '../../../src/engine/bundle/tokenizer';
import { readPromptVocabulary } from '../../../src/engine/bundle/vocabulary';
import { WordChecker, editDistance } from '../../../src/shared/vocabulary';
import { NEW_PROMPT_TEMPLATE } from '../../../src/shared/new-prompt';
import { findPromptBlocks } from '../../../src/shared/prompt-blocks';

const ROOT = resolve(__dirname, '../../..');
const TOY = join(ROOT, 'models/toy-llama');
const tokenizer = loadTokenizer(TOY);
const vocabulary = readPromptVocabulary(TOY);
const checker = new WordChecker(vocabulary);
const UNK = tokenizer.encode('zzzqqq').find((t) => !t.special)!.id;

/**
 * The words the real tokenizer reads as the unknown token, as `index:word` of the text's whitespace-
 * separated words (a word-level tokenizer gives exactly one token per word; the check below holds it to
 * that). Token ids only: the tokenizer's character offsets are not part of the truth.
 */
function unknownByTokenizer(text: string): string[] {
  const ids = tokenizer.encode(text).filter((t) => !t.special).map((t) => t.id);
  const words = text.split(/\s+/).filter(Boolean);
  assert.equal(ids.length, words.length, `not one token per word: ${JSON.stringify(text)}`);
  return ids.flatMap((id, i) => (id === UNK ? [`${i}:${words[i]}`] : []));
}

/** The same from the checker: the index of each flagged word among the text's words, and its text. */
function unknownByChecker(text: string): string[] {
  const starts = [...text.matchAll(/\S+/g)].map((m) => m.index);
  return checker.unknownWords(text).map((u) => {
    assert.equal(text.slice(u.start, u.end), u.word);
    return `${starts.indexOf(u.start)}:${u.word}`;
  });
}

test('the embedded vocabulary is word-level: its words are the tokenizer\'s vocabulary less the special tokens', () => {
  assert.equal(vocabulary.wordLevel, true);
  assert.equal(vocabulary.unk, '<unk>');
  assert.equal(vocabulary.model, 'toy-llama');
  assert.equal(vocabulary.words.length, tokenizer.vocabSize - 3);
  for (const w of vocabulary.words) {
    const ids = tokenizer.encode(w).filter((t) => !t.special);
    assert.equal(ids.length, 1, w);
    assert.notEqual(ids[0].id, UNK, w);
  }
});

test('a word is flagged exactly when the tokenizer reads it as <unk> (seeded prompts)', () => {
  let seed = 17;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rnd() * xs.length)];
  const mutate = (w: string) =>
    pick([
      () => w,
      () => w,
      () => w[0].toUpperCase() + w.slice(1),
      () => w.toLowerCase(),
      () => w + pick(['.', ',', '?', '!']),
      () => w.slice(0, -1) || 'x',
      () => w + 'zz',
      () => 'ÿ' + w,
    ])();
  let flagged = 0;
  for (let n = 0; n < 300; n++) {
    const words = Array.from({ length: 1 + Math.floor(rnd() * 9) }, () => mutate(pick(vocabulary.words)));
    const text = words.join(pick([' ', '  ', '\t', ' \n ']));
    const ours = unknownByChecker(text);
    assert.deepEqual(ours, unknownByTokenizer(text), JSON.stringify(text));
    flagged += ours.length;
  }
  assert.ok(flagged > 100, `the generated prompts hold too few unknown words (${flagged}) to test anything`);
});

test('suggestions: other capitalisation, punctuation split off, a close spelling; each one the tokenizer knows', () => {
  assert.equal(checker.suggest('The'), 'the');
  assert.equal(checker.suggest('texas'), 'Texas');
  assert.equal(checker.suggest('Austin.'), 'Austin .');
  assert.equal(checker.suggest('is?'), 'is ?');
  assert.equal(checker.suggest('Texsa'), 'Texas');
  assert.equal(checker.suggest('qwertyuiop'), undefined);
  for (const w of ['The', 'Austin.', 'Capital', 'Dalas', 'Houstn,', 'TEXAS']) {
    const s = checker.suggest(w);
    assert.ok(s !== undefined, w);
    assert.deepEqual(unknownByTokenizer(s), [], `${w} → ${s}`);
  }
  assert.equal(editDistance('kitten', 'sitting'), 3);
  assert.equal(editDistance('kitten', 'sitting', 2), 2);
});

test('the message names the word, what the model reads and what to write', () => {
  const [u] = checker.unknownWords('The capital');
  assert.equal(u.word, 'The');
  const m = checker.message(u);
  assert.match(m, /"The" is not a word toy-llama knows: it reads it as <unk>\. Write "the" instead\./);
  assert.match(m, /separated by spaces/);
});

test('the New Prompt template: two blocks of words the embedded model knows', () => {
  const blocks = findPromptBlocks(NEW_PROMPT_TEMPLATE, 'prompt');
  assert.equal(blocks.length, 2);
  for (const b of blocks) {
    assert.deepEqual(unknownByTokenizer(b.text), [], b.text);
    assert.deepEqual(unknownByChecker(b.text), []);
  }
});

test('subword tokenizers are not word-level: nothing is flagged', () => {
  for (const m of ['gpt2-tiny', 'gemma2-tiny', 'llama-tiny']) {
    const v = readPromptVocabulary(join(ROOT, 'test/fixtures/models', m));
    assert.equal(v.wordLevel, false, m);
    assert.deepEqual(new WordChecker(v).unknownWords('The Qzx. capital'), []);
  }
});
