// One script builds every bundle: the extension host code, the engine worker, the CLI, the bench and
// the webview. `vscode` is provided by the host; onnxruntime-node carries native binaries, so it stays
// a runtime dependency shipped in node_modules rather than being bundled.
import * as esbuild from 'esbuild';
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';

const watch = process.argv.includes('--watch');
const production = process.argv.includes('--production');

const node = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: !production,
  minify: production,
  external: ['vscode', 'onnxruntime-node'],
  logLevel: 'warning',
};

const entries = [
  { ...node, entryPoints: ['src/extension/extension.ts'], outfile: 'dist/extension.js' },
  { ...node, entryPoints: ['src/worker/engine-worker.ts'], outfile: 'dist/engine-worker.js' },
  { ...node, entryPoints: ['src/cli.ts'], outfile: 'dist/cli.js', banner: { js: '#!/usr/bin/env node' } },
  { ...node, entryPoints: ['bench/bench.ts'], outfile: 'dist/bench.js' },
  { ...node, entryPoints: ['bench/gpu-check.ts'], outfile: 'dist/gpu-check.js' },
  {
    bundle: true,
    platform: 'browser',
    target: 'es2022',
    format: 'iife',
    sourcemap: !production,
    minify: production,
    entryPoints: ['webview/main.ts'],
    outfile: 'dist/webview.js',
    logLevel: 'warning',
  },
  // Bench only (not shipped): the cytoscape renderer the viewer used before, to measure against.
  { bundle: true, platform: 'browser', target: 'es2022', format: 'iife', minify: production, entryPoints: ['bench/cytoscape/page.ts'], outfile: 'dist/bench-cytoscape.js', logLevel: 'warning' },
].filter((e) => e.entryPoints.every((p) => existsSync(p)));

if (watch) {
  for (const e of entries) (await esbuild.context(e)).watch();
} else {
  await Promise.all(entries.map((e) => esbuild.build(e)));
}

// sql.js's WebAssembly build (the feature store: SQLite with FTS4, no native module per platform)
// beside the bundles that load it (src/engine/features/sqlite.ts looks in its own folder first).
mkdirSync('dist', { recursive: true });
copyFileSync('node_modules/sql.js/dist/sql-wasm.wasm', 'dist/sql-wasm.wasm');

// The webview's icons: codicon.css + codicon.ttf copied into dist/ (the webview may only load from
// dist/ and media/, and the .vsix need not carry the rest of @vscode/codicons).
if (existsSync('webview/main.ts')) {
  mkdirSync('dist/codicons', { recursive: true });
  for (const f of ['codicon.css', 'codicon.ttf']) copyFileSync(`node_modules/@vscode/codicons/dist/${f}`, `dist/codicons/${f}`);
}
