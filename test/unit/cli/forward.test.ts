/**
 * `circuit-inspector forward` as a user runs it (a child process on src/cli.ts through tsx): JSON output
 * agrees with the engine called directly, --hooks writes a readable safetensors file of every hook,
 * and failures exit with code 2 and a message + hint, never a stack trace.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadModelBundle } from '../../../src/engine/bundle/index';
import { SafetensorsFile } from '../../../src/engine/bundle/safetensors';

const ROOT = resolve(__dirname, '..', '..', '..');
const MODEL = join(ROOT, 'test', 'fixtures', 'models', 'llama-tiny');
const tmp = mkdtempSync(join(tmpdir(), 'ci-cli-'));

function cli(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src', 'cli.ts'), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, XDG_CACHE_HOME: join(tmp, 'cache') },
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function assertNoStack(s: string): void {
  assert.ok(!/^\s+at .+:\d+:\d+\)?$/m.test(s), `stack trace printed:\n${s}`);
}

test('forward --json: tokens, ids and top-k agree with the engine; --hooks writes every hook', async () => {
  const prompt = 'The capital of Texas is';
  const hooksFile = join(tmp, 'hooks.safetensors');
  const r = cli('forward', '--model', MODEL, '--prompt', prompt, '--top', '4', '--json', '--hooks', hooksFile, '--threads', '1');
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as {
    ids: number[]; tokens: { id: number; start: number; end: number }[]; top: { tokenId: number; prob: number; logit: number }[]; hooksFile: string;
  };
  const bundle = await loadModelBundle(MODEL);
  assert.deepEqual(out.ids, bundle.tokenizer.encode(prompt).map((t) => t.id));
  assert.equal(out.tokens.length, out.ids.length);
  assert.equal(out.top.length, 4);
  for (let i = 1; i < 4; i++) assert.ok(out.top[i - 1].logit >= out.top[i].logit);
  const f = SafetensorsFile.open(hooksFile);
  assert.ok(f.has('logits') && f.has('blocks.2.hook_resid_post') && f.has('blocks.0.attn.hook_pattern'));
  const logits = f.readF32('logits');
  const V = bundle.spec.vocabSize;
  const last = logits.subarray((out.ids.length - 1) * V);
  let z = 0;
  for (const v of last) z += Math.exp(v);
  for (const p of out.top) {
    assert.ok(Math.abs(last[p.tokenId] - p.logit) < 1e-5);
    assert.ok(Math.abs(Math.exp(p.logit) / z - p.prob) < 1e-6);
  }
});

test('forward --ids runs the given ids; human output lists tokens and predictions', () => {
  const r = cli('forward', '--model', MODEL, '--ids', '295,39,68', '--top', '3');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /3 tokens:/);
  assert.match(r.stdout, /Top 3 next tokens:/);
  assert.equal(r.stdout.match(/^\s+\d+\. /gm)?.length, 3);
});

test('errors exit 2 with message and hint, no stack trace', () => {
  const missing = cli('forward', '--model', join(tmp, 'nope'), '--prompt', 'x');
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /^error: Model folder .*nope does not exist\./m);
  assert.match(missing.stderr, /^hint: /m);
  assertNoStack(missing.stderr);

  const empty = cli('forward', '--model', MODEL, '--prompt', '   ');
  assert.equal(empty.code, 2);
  assert.match(empty.stderr, /prompt is empty/);

  const long = cli('forward', '--model', MODEL, '--prompt', 'a b c d e f g h '.repeat(10));
  assert.equal(long.code, 2);
  assert.match(long.stderr, /accepts at most 64/);
  assertNoStack(long.stderr);

  const badIds = cli('forward', '--model', MODEL, '--ids', '1,99999');
  assert.equal(badIds.code, 2);
  assert.match(badIds.stderr, /99999/);

  const usage = cli('forward', '--model', MODEL, '--prompt', 'x', '--top', 'many');
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /--top must be an integer/);
  assert.match(usage.stderr, /Usage: circuit-inspector forward/);

  const unknown = cli('frobnicate');
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown command "frobnicate"/);
});

test('without --model: the embedded model, or a clear message that none is installed yet', () => {
  const r = cli('forward', '--prompt', 'The capital of Texas is', '--top', '2');
  if (existsSync(join(ROOT, 'models', 'toy-llama', 'config.json'))) {
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Top 2 next tokens:/);
  } else {
    assert.equal(r.code, 2);
    assert.match(r.stderr, /No embedded model is installed yet/);
    assert.match(r.stderr, /--model DIR/);
    assertNoStack(r.stderr);
  }
});
