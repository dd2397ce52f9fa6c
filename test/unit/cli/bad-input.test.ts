/**
 * The bad-input corpus (bad-input-corpus.ts): several hundred generated broken model folders,
 * dictionaries, prompts, flags, output paths and graph files. Most run in-process through the CLI's
 * `runCli` with captured output (spawning hundreds of processes would take minutes); the few whose
 * failure only shows in a real process — a FIFO that would block, a command line long enough to crash
 * onnxruntime — run as child processes with a timeout.
 *
 * Every case must end as it should: a refusal with exit code 2 and a message naming the problem (no
 * "internal error", no stack trace), or, for odd-but-valid input, success with control characters
 * escaped. One summary line is printed: cases, handled, unclear, crashes, hangs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../../../src/cli/main';
import { capturingIO } from '../../../src/cli/io';
import { readGraphFile } from '../../../src/engine/graph-file';
import { isEngineError } from '../../../src/engine/errors';
import { buildCorpus, processCases, ROOT, type BadCase } from './bad-input-corpus';

type Outcome = 'handled' | 'unclear' | 'crash' | 'hang';

const STACK = /^\s+at .+:\d+:\d+\)?$/m;
/** A raw control character in output (escaped ones read as text "\u001b"). */
// eslint-disable-next-line no-control-regex
const RAW_CONTROL = /[\u0000-\u0008\u000b-\u001a\u001c-\u001f\u007f-\u009f\u001b]/;

function judge(c: BadCase, code: number, stdout: string, stderr: string): { outcome: Outcome; why: string } {
  if (code === 1 || /internal error/.test(stderr) || STACK.test(stderr) || STACK.test(stdout)) return { outcome: 'crash', why: `exit ${code}: ${stderr.slice(0, 400)}` };
  if (RAW_CONTROL.test(stdout) || RAW_CONTROL.test(stderr)) return { outcome: 'unclear', why: 'raw control characters reached the terminal' };
  if (c.either && code === 0) return { outcome: 'handled', why: '' };
  if (c.ok) {
    if (code !== 0) return { outcome: 'unclear', why: `refused valid input (exit ${code}): ${stderr.slice(0, 300)}` };
    if (c.ok instanceof RegExp && !c.ok.test(stdout)) return { outcome: 'unclear', why: `output does not match ${c.ok}: ${stdout.slice(0, 300)}` };
    return { outcome: 'handled', why: '' };
  }
  if (code !== 2) return { outcome: 'unclear', why: `exit ${code}, expected 2; stdout: ${stdout.slice(0, 200)}` };
  if (c.expect && !c.expect.test(stderr)) return { outcome: 'unclear', why: `message does not name the problem (${c.expect}): ${stderr.slice(0, 400)}` };
  return { outcome: 'handled', why: '' };
}

async function runInProcess(c: BadCase): Promise<{ code: number; stdout: string; stderr: string }> {
  if (c.runner === 'graph') {
    try {
      readGraphFile(c.argv[0]);
      return { code: 0, stdout: 'read', stderr: '' };
    } catch (e) {
      if (isEngineError(e)) return { code: 2, stdout: '', stderr: `error: ${e.message}` };
      return { code: 1, stdout: '', stderr: `internal error: ${(e as Error)?.stack ?? String(e)}` };
    }
  }
  const io = capturingIO();
  try {
    const code = await runCli(c.argv, io);
    return { code, stdout: io.stdout, stderr: io.stderr };
  } catch (e) {
    return { code: 1, stdout: io.stdout, stderr: `${io.stderr}internal error (thrown): ${(e as Error)?.stack ?? String(e)}` };
  }
}

function runProcess(c: BadCase, env: NodeJS.ProcessEnv): { code: number; stdout: string; stderr: string; hung: boolean } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src', 'cli.ts'), ...c.argv], { cwd: ROOT, encoding: 'utf8', env, timeout: 60_000 });
  const hung = r.error !== undefined && (r.error as NodeJS.ErrnoException).code === 'ETIMEDOUT';
  const code = r.status ?? (r.signal ? 1 : -1);
  return { code, stdout: r.stdout ?? '', stderr: `${r.stderr ?? ''}${r.signal && !hung ? `\nkilled by ${r.signal}` : ''}`, hung };
}

test('bad-input corpus: every case refused with exit 2 naming the problem, or accepted; no crash, no hang', async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'ci-bad-input-'));
  const saved = process.env.XDG_CACHE_HOME;
  process.env.XDG_CACHE_HOME = join(tmp, 'xdg-cache');
  try {
    const cases = buildCorpus(tmp);
    const mkfifo = (p: string) => spawnSync('mkfifo', [p]).status === 0;
    const procs = processCases(tmp, mkfifo);
    const all = [...cases, ...procs];
    const counts: Record<Outcome, number> = { handled: 0, unclear: 0, crash: 0, hang: 0 };
    const byCategory = new Map<string, number>();
    const failures: string[] = [];
    for (const c of all) {
      byCategory.set(c.category, (byCategory.get(c.category) ?? 0) + 1);
      const t0 = performance.now();
      let r: { code: number; stdout: string; stderr: string; hung?: boolean };
      if (c.runner === 'process') r = runProcess(c, { ...process.env });
      else r = await runInProcess(c);
      if (process.env.BAD_INPUT_TIMES) console.log(`${Math.round(performance.now() - t0)} ms  ${c.category}: ${c.name.slice(0, 80)}`);
      const { outcome, why } = r.hung ? { outcome: 'hang' as Outcome, why: 'no exit within 60 s' } : judge(c, r.code, r.stdout, r.stderr);
      counts[outcome]++;
      if (outcome !== 'handled') failures.push(`[${outcome}] ${c.category}: ${c.name}\n    ${why.replace(/\n/g, '\n    ')}`);
    }
    const cats = [...byCategory].map(([k, v]) => `${k} ${v}`).join(', ');
    console.log(`bad-input corpus (seed 17): ${all.length} cases (${cats}): ${counts.handled} handled, ${counts.unclear} unclear, ${counts.crash} crashes, ${counts.hang} hangs`);
    assert.ok(all.length >= 300, `only ${all.length} cases`);
    assert.deepEqual(failures, []);
  } finally {
    if (saved === undefined) delete process.env.XDG_CACHE_HOME;
    else process.env.XDG_CACHE_HOME = saved;
    rmSync(tmp, { recursive: true, force: true });
  }
});
