/**
 * circuit.json is data from disk: a malformed file is refused with a message that names the file and the
 * field, never a stack trace or a half-read circuit.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadCircuit } from '../../../src/engine/groundtruth/circuit';
import { isEngineError } from '../../../src/engine/errors';

const ROOT = resolve(__dirname, '..', '..', '..');
const GOOD = JSON.parse(readFileSync(join(ROOT, 'models', 'compiled', 'two-hop', 'circuit.json'), 'utf8')) as Record<string, unknown>;

function load(mutate: (c: Record<string, any>) => void): unknown {
  const dir = mkdtempSync(join(tmpdir(), 'ci-circuit-'));
  const c = structuredClone(GOOD) as Record<string, any>;
  mutate(c);
  writeFileSync(join(dir, 'circuit.json'), JSON.stringify(c));
  try {
    return loadCircuit(dir);
  } catch (e) {
    return e;
  }
}

test('the shipped two-hop circuit.json loads: variables, prompts, edges', () => {
  const c = load(() => undefined) as ReturnType<typeof loadCircuit>;
  assert.equal(c.model, 'two-hop');
  assert.equal(c.prompts.length, 16);
  assert.equal(c.variables.get('state:Texas')?.direction?.length, c.dModel);
  assert.deepEqual(c.prompts[0].edges.map((e) => [e.source, e.target]), [['emb:Dallas', 'state:Texas'], ['state:Texas', 'capital:Austin'], ['capital:Austin', 'logit:Austin']]);
});

test('malformed circuit.json files are refused with the field named', () => {
  const cases: [string, (c: Record<string, any>) => void, RegExp][] = [
    ['unknown kind', (c) => (c.variables['state:Texas'].kind = 'neuron'), /kind "neuron"/],
    ['short direction', (c) => (c.variables['state:Texas'].direction = [1, 2]), /direction is not 64 finite numbers/],
    ['layer out of range', (c) => (c.variables['state:Texas'].layer = 9), /layer 9 ≥ n_layers 3/],
    ['unknown variable', (c) => (c.prompts[0].active['nope'] = 1), /unknown variable "nope"/],
    ['edge to an inactive variable', (c) => c.prompts[0].edges.push(['emb:Dallas', 'capital:Salem', 'residual']), /not active/],
    ['no prompts', (c) => (c.prompts = []), /prompts is not a non-empty list/],
    ['missing role position', (c) => delete c.prompts[0].positions.subject, /no position for role "subject"/],
  ];
  for (const [what, mutate, re] of cases) {
    const e = load(mutate);
    assert.ok(isEngineError(e), `${what}: not refused`);
    assert.match((e as Error).message, re, what);
    assert.match((e as Error).message, /circuit\.json/, `${what}: the file is named`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'ci-circuit-'));
  writeFileSync(join(dir, 'circuit.json'), '{not json');
  assert.throws(() => loadCircuit(dir), /not valid JSON/);
  assert.throws(() => loadCircuit(tmpdir() + '/no-such-model-dir'), /has no circuit\.json/);
});
