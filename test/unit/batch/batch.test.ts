/**
 * Batch runs that shard: the Slurm array script and the Kubernetes Indexed Job manifest
 * (scripts/cluster/), each run here as two shards (the script with the array variables Slurm sets; the
 * manifest's own container command, with $(VAR) expanded from its env and the index the Job controller
 * would give), then merged, produce byte-identical graphs and the same index and feature report as
 * one unsharded run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { parseShard, readPrompts } from '../../../src/cli/batch';
import { CACHE_DIR, EMBEDDED, embeddedPresent, ROOT } from '../attribution/helpers';

const PROMPTS = join(ROOT, 'test/fixtures/circuit-tests/batch.jsonl');
const TSX_CLI = `${process.execPath} --import tsx ${join(ROOT, 'src/cli.ts')}`;
const RT = ['--provider', 'cpu', '--threads', '1', '--cache-dir', CACHE_DIR];

function run(cmd: string[], env: Record<string, string> = {}, cwd = ROOT) {
  const r = spawnSync(cmd[0], cmd.slice(1), { cwd, encoding: 'utf8', env: { ...process.env, ...env } });
  assert.equal(r.status, 0, `${cmd.join(' ')}\n${r.stderr}`);
  return r;
}

function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of readdirSync(join(dir, 'graphs'))) out[`graphs/${f}`] = readFileSync(join(dir, 'graphs', f), 'utf8');
  for (const f of ['index.json', 'features.json']) out[f] = readFileSync(join(dir, f), 'utf8');
  return out;
}

test('prompts and shards are validated', () => {
  assert.deepEqual(readPrompts(PROMPTS).map((p) => p.id), ['dallas', '00001', '00002', 'square-24']);
  assert.deepEqual(parseShard('1/4'), { index: 1, count: 4 });
  for (const bad of ['4/4', '1/0', 'a/b', '1']) assert.throws(() => parseShard(bad), /--shard must be I\/N/);
});

test('two shards (Slurm array script, Kubernetes Indexed Job) merge to the same result as one run', { skip: !embeddedPresent(EMBEDDED[0]) && 'embedded model not built' }, () => {
  const one = mkdtempSync(join(tmpdir(), 'ci-batch-one-'));
  run([process.execPath, '--import', 'tsx', join(ROOT, 'src/cli.ts'), 'batch', PROMPTS, '--out', one, ...RT]);
  const want = snapshot(one);
  assert.equal(Object.keys(want).filter((k) => k.startsWith('graphs/')).length, 4);

  // Slurm: the script itself, as two array tasks.
  const slurm = mkdtempSync(join(tmpdir(), 'ci-batch-slurm-'));
  for (const i of [0, 1]) {
    run(['bash', join(ROOT, 'scripts/cluster/slurm-batch.sh')], { SLURM_ARRAY_TASK_ID: String(i), SLURM_ARRAY_TASK_COUNT: '2', PROMPTS, OUT: slurm, CIRCUIT_INSPECTOR: TSX_CLI, PROVIDER: 'cpu', EXTRA_ARGS: RT.slice(2).join(' ') });
  }
  run([process.execPath, '--import', 'tsx', join(ROOT, 'src/cli.ts'), 'batch', 'merge', slurm]);
  assert.deepEqual(snapshot(slurm), want, 'Slurm shards merged = one run');

  // Kubernetes: the manifest's container command, /data mapped to a local folder.
  const job = parseYaml(readFileSync(join(ROOT, 'scripts/cluster/k8s-indexed-job.yaml'), 'utf8'));
  assert.equal(job.spec.completionMode, 'Indexed');
  const c = job.spec.template.spec.containers[0];
  const shards = Number(c.env.find((e: { name: string }) => e.name === 'SHARDS').value);
  assert.equal(shards, job.spec.completions, 'SHARDS equals completions');
  const data = mkdtempSync(join(tmpdir(), 'ci-batch-k8s-'));
  symlinkSync(PROMPTS, join(data, 'prompts.jsonl'));
  symlinkSync(ROOT, join(data, 'circuit-inspector'));
  for (const i of [0, 1]) {
    const env: Record<string, string> = { JOB_COMPLETION_INDEX: String(i), SHARDS: '2', PROVIDER: 'cpu' };
    const args = (c.command as string[]).map((s) => s.replace(/\$\((\w+)\)/g, (_, v: string) => env[v] ?? '').replaceAll('/data', data));
    assert.equal(args[0], 'node');
    assert.equal(args[1], 'dist/cli.js');
    // The built CLI may not exist in a test run: the same entry through tsx.
    run([process.execPath, '--import', 'tsx', join(ROOT, 'src/cli.ts'), ...args.slice(2), '--threads', '1', '--cache-dir', CACHE_DIR], {}, c.workingDir.replace('/data', data));
  }
  const out = join(data, 'out');
  run([process.execPath, '--import', 'tsx', join(ROOT, 'src/cli.ts'), 'batch', 'merge', out]);
  assert.deepEqual(snapshot(out), want, 'Kubernetes shards merged = one run');
  const features = JSON.parse(want['features.json']);
  assert.equal(features.prompts, 4);
  assert.ok(features.features[0].prompts >= features.features.at(-1).prompts, 'most frequent first');
});
