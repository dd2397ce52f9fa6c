// `npm run test:e2e [-- substring …]`: the end-to-end suite in a real VS Code (code-server + Chromium).
// Installs the tools once (cached under .cache/e2e/), packages the .vsix once for every test file,
// then runs test/e2e/*.e2e.test.ts with Node's test runner through tsx, one file at a time (each file
// starts its own code-server). Substrings select test files, as for the unit tests.
// Screenshots land in test-results/e2e/; set E2E_KEEP_RUN=1 to keep each run's folders (logs, settings)
// under .cache/e2e-run/.
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureE2eTools } from './e2e-install.mjs';
import { packageVsix } from './e2e-package.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const filter = process.argv.slice(2);

const files = readdirSync(join(root, 'test', 'e2e'))
  .filter((f) => f.endsWith('.e2e.test.ts'))
  .map((f) => join('test', 'e2e', f))
  .filter((f) => !filter.length || filter.some((s) => f.includes(s)))
  .sort();
if (!files.length) {
  console.error(`no end-to-end test files match ${filter.join(' ') || '(all)'}`);
  process.exit(1);
}

// Run folders left by a run that was killed outright (close() removes its own): a folder whose
// marker no live process carries any more and that is older than ten minutes.
const runRoot = join(root, '.cache', 'e2e-run');
if (existsSync(runRoot)) {
  const environs = readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map((d) => {
      try {
        return readFileSync(`/proc/${d}/environ`, 'latin1');
      } catch {
        return '';
      }
    });
  for (const d of readdirSync(runRoot)) {
    const p = join(runRoot, d);
    const alive = environs.some((e) => e.includes(`CIRCUIT_INSPECTOR_E2E_RUN=${d}\0`));
    if (!alive && Date.now() - statSync(p).mtimeMs > 10 * 60_000) rmSync(p, { recursive: true, force: true });
  }
}

// Screenshots of an earlier run of these scenarios would be mistaken for this run's: each scenario
// names its screenshots after its file (test/e2e/NAME.e2e.test.ts → test-results/e2e/NAME-NN-step.png).
const shots = join(root, 'test-results', 'e2e');
if (existsSync(shots)) {
  const names = files.map((f) => f.split('/').pop().replace(/\.e2e\.test\.ts$/, ''));
  for (const f of readdirSync(shots)) {
    if (names.some((n) => new RegExp(`^${n}-\\d+-`).test(f))) rmSync(join(shots, f), { force: true });
  }
}

let vsix;
try {
  const t = ensureE2eTools();
  console.error(`[e2e] ${t.codeServerVersion}; Node ${t.node}`);
  vsix = packageVsix();
  console.error(`[e2e] ${vsix.vsix}: ${(vsix.bytes / 1e6).toFixed(1)} MB (${vsix.files} files)`);
} catch (e) {
  console.error(e instanceof Error ? e.message : String(e));
  process.exit(1);
}

const r = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-timeout=600000', ...files],
  { cwd: root, stdio: 'inherit', env: { ...process.env, E2E_VSIX: vsix.vsix } },
);
process.exit(r.status ?? 1);
