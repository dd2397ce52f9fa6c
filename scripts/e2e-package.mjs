// Builds the production bundles and packages the extension as a platform .vsix
// (`vsce package --target linux-x64`): one .vsix per platform, each carrying only its own onnxruntime
// binary, which .vscodeignore selects. `npm run package` and the end-to-end tests both use this.
//
// Usage: node scripts/e2e-package.mjs   → prints the .vsix path and size
// Import: packageVsix() → { vsix, bytes, files, seconds }
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const TARGET = 'linux-x64';
export const vsixPath = join(root, 'dist', `circuit-inspector-${TARGET}.vsix`);

function run(cmd, args, what) {
  const r = spawnSync(cmd, args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.status !== 0) {
    throw new Error(`${what} failed (exit ${r.status ?? r.signal}):\n${(r.stdout ?? '') + (r.stderr ?? '')}`.trim());
  }
  return r.stdout ?? '';
}

export function packageVsix({ quiet = false } = {}) {
  const started = Date.now();
  run(process.execPath, [join(root, 'esbuild.mjs'), '--production'], 'esbuild (node esbuild.mjs --production)');
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const main = join(root, pkg.main ?? 'dist/extension.js');
  if (!existsSync(main)) {
    throw new Error(`${pkg.main} was not built: esbuild.mjs builds it from src/extension/extension.ts, which does not exist yet`);
  }
  mkdirSync(dirname(vsixPath), { recursive: true });
  const vsce = join(dirname(createRequire(import.meta.url).resolve('@vscode/vsce/package.json')), 'vsce');
  // stdin is closed so that vsce can never wait on a y/N question; it then answers with its default.
  // Written under a name of its own and renamed into place: a test run installing the .vsix while
  // another run packages never reads half a file.
  const partial = `${vsixPath}.${process.pid}.partial`;
  let out;
  try {
    out = run(process.execPath, [vsce, 'package', '--target', TARGET, '--out', partial], 'vsce package');
    renameSync(partial, vsixPath);
  } finally {
    rmSync(partial, { force: true });
  }
  const files = Number(/Packaged: .*\((\d+) files/.exec(out)?.[1] ?? NaN);
  const bytes = statSync(vsixPath).size;
  const seconds = (Date.now() - started) / 1000;
  if (!quiet) process.stderr.write(`[e2e-package] ${vsixPath}: ${(bytes / 1e6).toFixed(1)} MB, ${files} files, ${seconds.toFixed(1)} s\n`);
  return { vsix: vsixPath, bytes, files, seconds };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    const r = packageVsix();
    console.log(`${r.vsix} (${(r.bytes / 1e6).toFixed(1)} MB, ${r.files} files)`);
  } catch (e) {
    console.error(e instanceof Error ? e.message : String(e));
    process.exit(1);
  }
}
