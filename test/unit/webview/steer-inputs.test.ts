/**
 * The steering section's inputs are checked before anything runs: an empty factor never steers by ×0,
 * positions are token indices or *, generation is bounded, frozen norms need frozen attention.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSteerInputs } from '../../../webview/details/steer';

const base = { value: '2', positions: '', track: '', generate: '0', attention: 'frozen', norms: 'recomputed' };

test('steering inputs: empty or bad values are refused with a message', () => {
  assert.match(parseSteerInputs('scale', { ...base, value: '' }) as string, /Enter a factor/);
  assert.match(parseSteerInputs('set', { ...base, value: '  ' }) as string, /Enter the activation/);
  assert.match(parseSteerInputs('scale', { ...base, value: 'x2' }) as string, /not a number/);
  assert.match(parseSteerInputs('scale', { ...base, positions: '1,-2' }) as string, /Positions are token indices/);
  assert.match(parseSteerInputs('scale', { ...base, generate: '100' }) as string, /0 to 64/);
  assert.match(parseSteerInputs('scale', { ...base, attention: 'recomputed', norms: 'frozen' }) as string, /Frozen norms need frozen attention/);
});

test('steering inputs: what runs', () => {
  assert.deepEqual(parseSteerInputs('ablate', { ...base, value: '' }), { value: undefined, positions: undefined, track: [], generate: 0, semantics: { attention: 'frozen', norms: 'recomputed' } });
  const p = parseSteerInputs('scale', { ...base, value: '-5', positions: '3, 7', track: ' Austin, Dallas ,', generate: '4', attention: 'recomputed' });
  assert.deepEqual(p, { value: -5, positions: [3, 7], track: ['Austin', 'Dallas'], generate: 4, semantics: { attention: 'recomputed', norms: 'recomputed' } });
  assert.equal((parseSteerInputs('scale', { ...base, positions: '*' }) as { positions: unknown }).positions, '*');
});
