/**
 * Feature-card examples read as text: the example tokens, spaced by what the tokenizer's own decoder
 * puts between words, concatenate to exactly what decode() gives for the same tokens. Truth is each
 * real tokenizer's decode(), for a word-level one (the embedded toy model) and for BPE / SentencePiece
 * fixtures, whose tokens carry their spaces.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadModelBundle } from '../../../src/engine/bundle/index';
import { spacedTokens, wordJoiner } from '../../../src/worker/example-text';

const ROOT = resolve(__dirname, '../../..');
const TOY = join(ROOT, 'models/toy-llama');
const TEXT = 'the capital of Texas is Austin . the triangle is purple';

for (const dir of [TOY, ...['gemma2-tiny', 'gpt2-tiny', 'llama-tiny', 'qwen3-tiny'].map((m) => join(ROOT, 'test/fixtures/models', m))]) {
  test(`spaced example tokens read as the tokenizer decodes them: ${dir.split('/').pop()}`, async () => {
    const { tokenizer } = await loadModelBundle(dir);
    const ids = tokenizer.encode(TEXT).map((t) => t.id);
    const texts = ids.map((id) => tokenizer.tokenText(id));
    assert.equal(spacedTokens(texts, wordJoiner(tokenizer)).join(''), tokenizer.decode(ids));
  });
}

test('the toy model is word-level: its top-activating examples get a space between words', async () => {
  const { tokenizer } = await loadModelBundle(TOY);
  const joiner = wordJoiner(tokenizer);
  assert.equal(joiner, ' ');
  const features = JSON.parse(readFileSync(join(TOY, 'transcoders/features/layer_0.json'), 'utf8')) as { activations: { tokens: string[] }[] }[];
  const examples = features.flatMap((f) => f.activations).slice(0, 50);
  assert.ok(examples.length > 0, 'no examples in layer_0.json');
  for (const ex of examples) {
    const shown = spacedTokens(ex.tokens, joiner).join('');
    // Each word stays one token: the shown text splits back into exactly the example's tokens.
    assert.deepEqual(shown.split(' '), ex.tokens, shown);
  }
});

test('WordPiece continuations attach to the previous token without their marker', () => {
  assert.deepEqual(spacedTokens(['play', '##ing', 'ball'], ' '), ['play', 'ing', ' ball']);
  assert.deepEqual(spacedTokens([' the', ' cat'], ''), [' the', ' cat']);
});
