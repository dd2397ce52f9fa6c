// `npm run test:electron`: the extension in a desktop VS Code (Electron), through @vscode/test-electron.
// For people with a network: it downloads VS Code (cached in .cache/vscode-test/, VSCODE_VERSION picks
// the version, default stable). On Linux without a display run it under a virtual one:
// `xvfb-run -a npm run test:electron`. The browser-based suite (`npm run test:e2e`) needs no download.
import { mkdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { download, runTests } from '@vscode/test-electron';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const out = join(root, '.cache', 'electron');
mkdirSync(out, { recursive: true });

const b = spawnSync(process.execPath, [join(root, 'esbuild.mjs')], { cwd: root, stdio: 'inherit' });
if (b.status !== 0) process.exit(b.status ?? 1);
// The suite runs inside VS Code's extension host, which loads plain CommonJS: bundle it like the extension.
await esbuild.build({
  entryPoints: [join(root, 'test', 'electron', 'suite.ts')],
  outfile: join(out, 'suite.js'),
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  external: ['vscode'],
  sourcemap: 'inline',
  logLevel: 'warning',
});

if (process.platform === 'linux' && !process.env.DISPLAY && !process.env.WAYLAND_DISPLAY) {
  console.error('No display: run this under a virtual one, e.g. `xvfb-run -a npm run test:electron`.');
}
try {
  const vscodeExecutablePath = await download({ version: process.env.VSCODE_VERSION ?? 'stable', cachePath: join(root, '.cache', 'vscode-test') });
  await runTests({
    vscodeExecutablePath,
    extensionDevelopmentPath: root,
    extensionTestsPath: join(out, 'suite.js'),
    launchArgs: [
      join(root, 'examples'),
      '--disable-extensions',
      '--disable-workspace-trust',
      '--skip-welcome',
      '--skip-release-notes',
      '--user-data-dir', join(out, 'user-data'),
    ],
  });
} catch (e) {
  console.error(`test:electron failed: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
}
