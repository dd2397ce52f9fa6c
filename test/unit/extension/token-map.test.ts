import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TokenInfo } from '../../../src/engine/api';
import { intensityLevel, shiftRange, tokenAtOffset, tokenSpan, valuedSpans } from '../../../src/shared/token-map';

// "<bos>The cat sat" with the prompt at offset 100 of a document.
const prompt = 'The cat sat';
const tokens: TokenInfo[] = [
  { id: 1, text: '<s>', start: 0, end: 0, special: true },
  { id: 10, text: 'The', start: 0, end: 3, special: false },
  { id: 11, text: ' cat', start: 3, end: 7, special: false },
  { id: 12, text: ' sat', start: 7, end: 11, special: false },
];

test('every character offset maps to the token whose span covers it (brute-force truth)', () => {
  for (let off = 90; off < 120; off++) {
    const rel = off - 100;
    const expected = tokens.findIndex((t) => !t.special && rel >= t.start && rel < t.end);
    assert.equal(tokenAtOffset(tokens, off, 100), expected, `offset ${off}`);
  }
});

test('token spans are document ranges whose text is the token', () => {
  const doc = ' '.repeat(100) + prompt;
  for (let t = 1; t < tokens.length; t++) {
    const s = tokenSpan(tokens, t, 100);
    assert.equal(doc.slice(s.start, s.end), tokens[t].text);
  }
});

test('valuedSpans skips special tokens and zero activations; levels bucket by the maximum', () => {
  const spans = valuedSpans(tokens, [9, 0, 0.5, 2], 100);
  assert.deepEqual(spans.map((s) => s.t), [2, 3]);
  assert.equal(intensityLevel(2, 2, 5), 5);
  assert.equal(intensityLevel(0.5, 2, 5), 2);
  assert.equal(intensityLevel(0.001, 2, 5), 1);
  assert.equal(intensityLevel(0, 2, 5), 0);
  assert.equal(intensityLevel(-1, 2, 5), 0);
});

test('shiftRange: edits before move the prompt, after leave it, inside drop it', () => {
  const r = { start: 10, end: 20 };
  assert.deepEqual(shiftRange(r, [{ offset: 0, removed: 0, inserted: 5 }]), { start: 15, end: 25 });
  assert.deepEqual(shiftRange(r, [{ offset: 2, removed: 4, inserted: 1 }]), { start: 7, end: 17 });
  assert.deepEqual(shiftRange(r, [{ offset: 10, removed: 0, inserted: 3 }]), { start: 13, end: 23 });
  assert.deepEqual(shiftRange(r, [{ offset: 20, removed: 0, inserted: 3 }]), r);
  assert.deepEqual(shiftRange(r, [{ offset: 30, removed: 5, inserted: 0 }]), r);
  assert.equal(shiftRange(r, [{ offset: 15, removed: 1, inserted: 0 }]), undefined);
  assert.equal(shiftRange(r, [{ offset: 5, removed: 10, inserted: 0 }]), undefined);
  // Replaying the edits on real strings agrees with the computed range.
  const doc = 'aaaaaaaaaaPROMPT1234bbbb';
  const edited = 'XY' + doc.slice(3);
  const moved = shiftRange(r, [{ offset: 0, removed: 3, inserted: 2 }])!;
  assert.equal(edited.slice(moved.start, moved.end), doc.slice(10, 20));
});
