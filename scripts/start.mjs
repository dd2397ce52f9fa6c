// `npm start [-- FOLDER]`: builds the extension and opens a workspace with it: FOLDER, or by default a
// copy of examples/ made once under .cache/start/workspace (outside the sources, ignored by git), so the
// prompts you edit and the graphs you save never land in the repository.
// - With desktop VS Code on the PATH (`code`): an Extension Development Host on the sources
//   (`code --extensionDevelopmentPath=. WORKSPACE`).
// - Otherwise: code-server (installed once and cached by scripts/e2e-install.mjs; no browser needed
//   here, you open the printed URL in yours) with the freshly packaged .vsix installed, on 127.0.0.1,
//   with a clean first screen (scripts/start-profile.mjs). Ctrl+C stops it.
//   PORT chooses the port (default 8080, or a free one when 8080 is taken).
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { START_FLAGS, START_SETTINGS, prepareStartWorkspace } = await import('./start-profile.mjs');

function workspaceFolder() {
  const given = process.argv[2];
  if (!given) return prepareStartWorkspace(join(root, '.cache', 'start', 'workspace'));
  const dir = resolve(given);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    console.error(`npm start: ${dir} is not a folder. Give the folder to open (npm start -- FOLDER), or nothing for a copy of examples/.`);
    process.exit(2);
  }
  return dir;
}

function onPath(cmd) {
  return (process.env.PATH ?? '').split(':').some((d) => d && spawnSync('test', ['-x', join(d, cmd)]).status === 0);
}

function portFree(port) {
  return new Promise((res) => {
    const s = createServer();
    s.once('error', () => res(false));
    s.listen(port, '127.0.0.1', () => s.close(() => res(true)));
  });
}

async function choosePort() {
  if (process.env.PORT) return Number(process.env.PORT);
  if (await portFree(8080)) return 8080;
  return new Promise((res) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

async function main() {
  const examples = workspaceFolder();
  if (onPath('code')) {
    const b = spawnSync(process.execPath, [join(root, 'esbuild.mjs')], { cwd: root, stdio: 'inherit' });
    if (b.status !== 0) process.exit(b.status ?? 1);
    console.log(`Opening ${examples} in VS Code with the extension from this folder (Extension Development Host).`);
    const r = spawnSync('code', [`--extensionDevelopmentPath=${root}`, examples], { stdio: 'inherit' });
    process.exit(r.status ?? 0);
  }

  const { ensureE2eTools } = await import('./e2e-install.mjs');
  const { packageVsix } = await import('./e2e-package.mjs');
  let tools;
  let vsix;
  try {
    tools = ensureE2eTools({ browser: false, tag: 'start' });
    vsix = packageVsix().vsix;
  } catch (e) {
    console.error(e instanceof Error ? e.message : String(e));
    process.exit(1);
  }

  // A profile of its own, kept between runs (settings and open editors persist), beside the e2e cache.
  const home = join(root, '.cache', 'start');
  const userData = join(home, 'user-data');
  const extensions = join(home, 'extensions');
  mkdirSync(join(userData, 'User'), { recursive: true });
  mkdirSync(extensions, { recursive: true });
  const settings = join(userData, 'User', 'settings.json');
  try {
    writeFileSync(settings, JSON.stringify(START_SETTINGS, null, 2), { flag: 'wx' });
  } catch {
    // Already there: the user's own choices from an earlier run are kept.
  }
  const env = { ...tools.env, XDG_CONFIG_HOME: join(home, 'xdg-config'), XDG_DATA_HOME: join(home, 'xdg-data') };
  delete env.NODE_OPTIONS;
  const common = ['--user-data-dir', userData, '--extensions-dir', extensions];
  const inst = spawnSync(tools.node, [tools.codeServer, ...common, '--force', '--install-extension', vsix], { env, stdio: 'inherit' });
  if (inst.status !== 0) process.exit(inst.status ?? 1);

  const port = await choosePort();
  const url = `http://127.0.0.1:${port}/?folder=${encodeURIComponent(examples)}`;
  const server = spawn(
    tools.node,
    [tools.codeServer, '--auth', 'none', '--bind-addr', `127.0.0.1:${port}`, ...START_FLAGS, ...common, examples],
    { env, detached: true, stdio: ['ignore', 'inherit', 'inherit'] },
  );
  const stop = () => {
    try {
      process.kill(-server.pid, 'SIGTERM');
    } catch {
      // Already gone.
    }
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  process.on('exit', stop);
  for (let i = 0; i < 300; i++) {
    if (server.exitCode !== null) break;
    try {
      if ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok) {
        console.log(
          `\nCircuit Inspector is running in code-server ${tools.codeServerVersion.split(' ')[0]}.\nOpen ${url}\n` +
            `Workspace: ${examples}\n` +
            'Then: the Circuit Inspector icon in the activity bar (left) shows the graph view; the command palette (F1) → ' +
            '"Circuit Inspector: New Prompt" opens a prompt, its "Analyze" link computes the graph.\nCtrl+C stops it.\n',
        );
        break;
      }
    } catch {
      // Not listening yet.
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  server.on('exit', (code) => process.exit(code ?? 0));
}

await main();
