/**
 * A real VS Code for the end-to-end tests: code-server (the VS Code server) with the packaged .vsix
 * installed, opened in Debian's Chromium and driven by playwright-core.
 *
 * Every session gets fresh user-data, extensions and XDG folders under .cache/e2e-run/, so nothing from
 * the developer's own VS Code or an earlier run leaks in. code-server is started in its own process group
 * (a detached child calls setsid) and carries a marker variable; `close()` kills the group and then any
 * process that still carries the marker (the file watcher and extension host can outlive the main
 * process), so a failing test never leaves a server behind. A process 'exit' hook does the same if a
 * test forgets to close.
 *
 * The helpers act the way a user does (palette, mouse hover, clicks) and read what a user sees.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, cpSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { chromium, type Browser, type Frame, type FrameLocator, type Locator, type Page } from 'playwright-core';
import { ensureE2eTools, type E2eTools } from '../../scripts/e2e-install.mjs';
import { packageVsix } from '../../scripts/e2e-package.mjs';

export const repoRoot = resolve(__dirname, '..', '..');
export const resultsDir = join(repoRoot, 'test-results', 'e2e');
const runRoot = join(repoRoot, '.cache', 'e2e-run');
const EXTENSION_ID = 'circuit-inspector.circuit-inspector';
const MARKER = 'CIRCUIT_INSPECTOR_E2E_RUN';

/** Settings that keep the first screen clean and the run offline and quiet. */
export const baseSettings: Record<string, unknown> = {
  'workbench.startupEditor': 'none',
  'workbench.secondarySideBar.defaultVisibility': 'hidden',
  'workbench.tips.enabled': false,
  'workbench.welcomePage.walkthroughs.openOnInstall': false,
  'workbench.enableExperiments': false,
  'chat.disableAIFeatures': true,
  'telemetry.telemetryLevel': 'off',
  'update.mode': 'none',
  'extensions.autoUpdate': false,
  'extensions.autoCheckUpdates': false,
  'extensions.ignoreRecommendations': true,
  'security.workspace.trust.enabled': false,
  'git.enabled': false,
  'editor.hover.delay': 200,
  'editor.minimap.enabled': false,
  'window.commandCenter': false,
};

export interface LaunchOptions {
  /** Names the run folder and the screenshots. */
  name: string;
  /** Folder to open; default: examples/ when it holds a prompt file, otherwise a temporary workspace. */
  workspace?: string;
  /** Files (path relative to the workspace → text) written into a copy of that folder, which is opened instead. */
  files?: Record<string, string>;
  /** Install the packaged extension (default true). */
  extension?: boolean;
  /** Extra user settings. */
  settings?: Record<string, unknown>;
  viewport?: { width: number; height: number };
}

export interface Timings {
  /** Seconds from spawning code-server to /healthz answering. */
  serverReady: number;
  /** Seconds from spawning code-server to `.monaco-workbench` in the page. */
  workbench: number;
}

let tools: E2eTools | undefined;

/**
 * Kill functions of the sessions still running. code-server runs in its own session, so a Ctrl+C in the
 * terminal does not reach it, and Node does not run 'exit' hooks when a signal ends it: on SIGINT or
 * SIGTERM the live sessions are killed here before the process exits.
 */
const liveKills = new Set<() => void>();
let signalsHooked = false;
function hookSignals(): void {
  if (signalsHooked) return;
  signalsHooked = true;
  for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    process.once(sig, () => {
      for (const k of liveKills) k();
      process.exit(code);
    });
  }
}
let vsix: string | undefined;

/** Installs (once, cached) Node 24 and code-server. */
export function prepareTools(): E2eTools {
  return (tools ??= ensureE2eTools());
}

/** The .vsix under test: E2E_VSIX when the runner packaged it already, otherwise packaged now. */
export function prepareVsix(): string {
  const given = process.env.E2E_VSIX;
  return (vsix ??= given && existsSync(given) ? given : packageVsix().vsix);
}

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.unref();
    s.on('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => res(port));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Workspaces that hold a prompt file: examples/ once it has one. */
function defaultWorkspace(): string | undefined {
  const ex = join(repoRoot, 'examples');
  if (!existsSync(ex)) return undefined;
  const hasPrompt = (dir: string): boolean =>
    readdirSync(dir, { withFileTypes: true }).some((d) =>
      d.isDirectory() ? hasPrompt(join(dir, d.name)) : /\.prompt(\.md)?$/.test(d.name),
    );
  return hasPrompt(ex) ? ex : undefined;
}

/** The prompt file written into a temporary workspace when examples/ has none yet. */
export const FALLBACK_PROMPT_FILE = 'capital.prompt';
export const FALLBACK_PROMPT = 'the capital of Texas is\n';

/** Pids of live processes whose environment carries this run's marker. */
function markedPids(runId: string): number[] {
  const needle = `${MARKER}=${runId}\0`;
  const pids: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${d}/environ`, 'latin1').includes(needle)) pids.push(Number(d));
    } catch {
      // Gone meanwhile, or not ours to read.
    }
  }
  return pids;
}

function killQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // Already gone.
  }
}

export class VsCode {
  readonly consoleErrors: string[] = [];
  readonly dialogs: string[] = [];
  private shots = 0;
  private closed = false;

  private constructor(
    readonly name: string,
    readonly page: Page,
    private readonly browser: Browser,
    private readonly server: ChildProcess,
    readonly runId: string,
    readonly runDir: string,
    readonly workspace: string,
    readonly url: string,
    readonly timings: Timings,
  ) {}

  static async launch(opts: LaunchOptions): Promise<VsCode> {
    const t = prepareTools();
    const runId = `${opts.name}-${process.pid}-${Date.now().toString(36)}`;
    const runDir = join(runRoot, runId);
    const userData = join(runDir, 'user-data');
    const extensions = join(runDir, 'extensions');
    const xdgConfig = join(runDir, 'xdg-config');
    const xdgData = join(runDir, 'xdg-data');
    for (const d of [userData, extensions, xdgConfig, xdgData, join(userData, 'User'), resultsDir]) mkdirSync(d, { recursive: true });
    writeFileSync(join(userData, 'User', 'settings.json'), JSON.stringify({ ...baseSettings, ...opts.settings }, null, 2));

    // The examples/ folder (or the given one) is opened as it is; a test that writes files works on a
    // copy of it, never on the repository's files. Without examples yet, a temporary workspace holds a
    // prompt file.
    const base = opts.workspace ?? defaultWorkspace();
    let workspace: string;
    if (base && !opts.files) workspace = base;
    else {
      workspace = join(runDir, 'workspace');
      if (base) cpSync(base, workspace, { recursive: true });
      else mkdirSync(workspace, { recursive: true });
      for (const [rel, text] of Object.entries(opts.files ?? (base ? {} : { [FALLBACK_PROMPT_FILE]: FALLBACK_PROMPT }))) {
        mkdirSync(dirname(join(workspace, rel)), { recursive: true });
        writeFileSync(join(workspace, rel), text);
      }
    }

    const env: NodeJS.ProcessEnv = {
      ...t.env,
      XDG_CONFIG_HOME: xdgConfig,
      XDG_DATA_HOME: xdgData,
      XDG_CACHE_HOME: join(runDir, 'xdg-cache'),
      [MARKER]: runId,
    };
    // Anything the tests' own process was told about Node options must not reach code-server's Node 24.
    delete env.NODE_OPTIONS;
    if (opts.extension !== false) {
      const pkg = prepareVsix();
      const r = spawnSync(t.node, [t.codeServer, '--extensions-dir', extensions, '--user-data-dir', userData, '--install-extension', pkg], {
        env,
        encoding: 'utf8',
        timeout: 120_000,
      });
      if (r.status !== 0 || !existsSync(extensions) || !readdirSync(extensions).some((d) => d.startsWith(EXTENSION_ID))) {
        throw new Error(`installing ${pkg} into code-server failed:\n${r.stdout}\n${r.stderr}`);
      }
    }

    const port = await freePort();
    const logFd = openSync(join(runDir, 'code-server.log'), 'a');
    const started = Date.now();
    const args = [
      t.codeServer,
      '--auth', 'none',
      '--bind-addr', `127.0.0.1:${port}`,
      '--disable-telemetry',
      '--disable-update-check',
      '--disable-workspace-trust',
      '--disable-getting-started-override',
      '--user-data-dir', userData,
      '--extensions-dir', extensions,
      workspace,
    ];
    // detached: the child calls setsid(), so it leads a new process group that close() kills as a whole.
    const server = spawn(t.node, args, { env, detached: true, stdio: ['ignore', logFd, logFd] });
    closeSync(logFd);
    const killAll = () => {
      if (server.pid) killQuietly(-server.pid, 'SIGKILL');
      for (const pid of markedPids(runId)) killQuietly(pid, 'SIGKILL');
    };
    process.once('exit', killAll);
    liveKills.add(killAll);
    hookSignals();

    let browser: Browser | undefined;
    try {
      const base = `http://127.0.0.1:${port}`;
      const deadline = Date.now() + 60_000;
      for (;;) {
        if (server.exitCode !== null) throw new Error(`code-server exited with ${server.exitCode}; log: ${join(runDir, 'code-server.log')}`);
        try {
          if ((await fetch(`${base}/healthz`)).ok) break;
        } catch {
          // Not listening yet.
        }
        if (Date.now() > deadline) throw new Error(`code-server did not answer /healthz in 60 s; log: ${join(runDir, 'code-server.log')}`);
        await sleep(200);
      }
      const serverReady = (Date.now() - started) / 1000;

      browser = await chromium.launch({
        executablePath: t.chromium,
        headless: true,
        env: { ...process.env, XDG_CONFIG_HOME: xdgConfig, XDG_DATA_HOME: xdgData, XDG_CACHE_HOME: join(runDir, 'xdg-cache') },
        args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-dev-shm-usage'],
      });
      const context = await browser.newContext({ viewport: opts.viewport ?? { width: 1600, height: 1000 } });
      const page = await context.newPage();
      page.setDefaultTimeout(30_000);
      const url = `${base}/?folder=${encodeURIComponent(workspace)}`;
      const vs = new VsCode(opts.name, page, browser, server, runId, runDir, workspace, url, { serverReady, workbench: NaN });
      page.on('console', (m) => {
        if (m.type() === 'error') vs.consoleErrors.push(m.text());
      });
      page.on('pageerror', (e) => vs.consoleErrors.push(`uncaught: ${e.message}`));
      page.on('dialog', (d) => {
        // A dialog from a webview would mean page script ran; record it and dismiss so nothing hangs.
        vs.dialogs.push(`${d.type()}: ${d.message()}`);
        void d.dismiss().catch(() => {});
      });
      vs.exitHook = killAll;
      // A loaded machine (several code-servers at once on two cores) can take over 30 s to serve the page.
      await page.goto(url, { timeout: 120_000 });
      await page.locator('.monaco-workbench').waitFor({ timeout: 120_000 });
      await page.locator('.part.statusbar').waitFor();
      vs.timings.workbench = (Date.now() - started) / 1000;
      vs.started = started;
      return vs;
    } catch (e) {
      await browser?.close().catch(() => {});
      killAll();
      process.removeListener('exit', killAll);
      liveKills.delete(killAll);
      throw e;
    }
  }

  private exitHook: (() => void) | undefined;
  /** Date.now() when code-server was spawned. */
  started = 0;

  /** Seconds since code-server was spawned. */
  elapsed(): number {
    return (Date.now() - this.started) / 1000;
  }

  /** Closes the browser and kills code-server's process group and every process of this run. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.browser.close().catch(() => {});
    const pid = this.server.pid;
    if (pid) killQuietly(-pid, 'SIGTERM');
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline && (this.server.exitCode === null && this.server.signalCode === null || markedPids(this.runId).length)) {
      await sleep(100);
    }
    if (pid) killQuietly(-pid, 'SIGKILL');
    for (const p of markedPids(this.runId)) killQuietly(p, 'SIGKILL');
    if (this.exitHook) {
      process.removeListener('exit', this.exitHook);
      liveKills.delete(this.exitHook);
    }
    if (!process.env.E2E_KEEP_RUN) rmSync(this.runDir, { recursive: true, force: true, maxRetries: 3 });
  }

  /** Saves a screenshot as test-results/e2e/<name>-NN-<label>.png and returns its path. */
  async screenshot(label: string): Promise<string> {
    const file = join(resultsDir, `${this.name}-${String(++this.shots).padStart(2, '0')}-${label.replace(/[^\w.-]+/g, '_')}.png`);
    await this.page.screenshot({ path: file }).catch(() => {});
    return file;
  }

  /**
   * Runs one step of a scenario and screenshots the result; on failure the screenshot is marked FAILED
   * and the error carries the code-server log tail and the page's console errors.
   */
  async step<T>(label: string, fn: () => Promise<T>): Promise<T> {
    try {
      const r = await fn();
      await this.screenshot(label);
      return r;
    } catch (e) {
      const shot = await this.screenshot(`${label}-FAILED`);
      const err = e instanceof Error ? e : new Error(String(e));
      err.message += `\n  screenshot: ${shot}\n  ${this.diagnostics().replace(/\n/g, '\n  ')}`;
      throw err;
    }
  }

  /** The extension host's log files and the extension's own output channel log, under user-data/logs. */
  logFiles(): string[] {
    const found: string[] = [];
    const walk = (d: string) => {
      if (!existsSync(d)) return;
      for (const e of readdirSync(d, { withFileTypes: true })) {
        const p = join(d, e.name);
        if (e.isDirectory()) walk(p);
        else if (/exthost\.log$|Circuit Inspector\.log$/.test(e.name)) found.push(p);
      }
    };
    walk(join(this.runDir, 'user-data', 'logs'));
    return found;
  }

  /** The full text of the extension host logs (activation errors land there). */
  extensionHostLog(): string {
    return this.logFiles()
      .filter((f) => f.endsWith('exthost.log'))
      .map((f) => readFileSync(f, 'utf8'))
      .join('\n');
  }

  /** The tail of code-server's log, the extension host logs and the page's console errors. */
  diagnostics(): string {
    const tail = (f: string, n = 30) => (existsSync(f) ? readFileSync(f, 'utf8').split('\n').slice(-n).join('\n') : '(none)');
    const exthost = this.logFiles();
    return [
      `code-server log (tail):\n${tail(join(this.runDir, 'code-server.log'), 15)}`,
      ...exthost.map((f) => `${f} (tail):\n${tail(f)}`),
      `console errors:\n${this.consoleErrors.slice(-15).join('\n') || '(none)'}`,
      `dialogs: ${this.dialogs.join(' | ') || '(none)'}`,
    ].join('\n');
  }

  // -------------------------------------------------------------------------------------------------
  // What a user does

  /** Opens the command palette, types the command's title and runs the row whose label matches it. */
  async runCommand(title: string): Promise<void> {
    const input = await this.openQuickInput('F1');
    await input.fill(`>${title}`);
    const row = this.page.locator('.quick-input-list .monaco-list-row', {
      has: this.page.locator('.label-name', { hasText: new RegExp(`^\\s*${escapeRegExp(title)}\\s*$`) }),
    });
    await row.first().waitFor({ state: 'visible' });
    await row.first().click();
    await input.waitFor({ state: 'hidden' });
  }

  /**
   * Presses the key that opens the quick input (F1: commands, Control+P: files) and returns its text box.
   * A key pressed while a webview has the focus lands in the webview's iframe, where code-server does
   * not always pass it on; so the focus is first taken back to the workbench, and a second try clicks
   * the active editor group's tab bar first.
   */
  private async openQuickInput(key: string): Promise<Locator> {
    const input = this.page.locator('.quick-input-widget .quick-input-box input');
    for (let attempt = 0; ; attempt++) {
      await this.page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur?.());
      if (attempt === 1) {
        await this.page.locator('.part.editor .title .tabs-and-actions-container, .part.editor .editor-group-container.active').first()
          .click({ position: { x: 5, y: 5 } }).catch(() => {});
      }
      await this.page.keyboard.press(key);
      try {
        await input.waitFor({ state: 'visible', timeout: attempt === 0 ? 5_000 : 30_000 });
        return input;
      } catch (e) {
        if (attempt >= 1) throw e;
      }
    }
  }

  /** Opens a workspace file through Quick Open (Ctrl+P), as a user does, and waits for its editor tab. */
  async openFile(relPath: string): Promise<void> {
    const base = relPath.split('/').pop()!;
    const input = await this.openQuickInput('Control+P');
    await input.fill(relPath);
    const row = this.page.locator('.quick-input-list .monaco-list-row', { has: this.page.locator('.label-name', { hasText: base }) });
    await row.first().waitFor({ state: 'visible' });
    await this.page.keyboard.press('Enter');
    await input.waitFor({ state: 'hidden' });
    await this.page.locator('.tabs-container .tab.active', { hasText: base }).waitFor();
  }

  /**
   * Changes a string user setting the way a user does: the Settings editor, searched by the setting's id,
   * the value typed into its text box; then closes the Settings editor. (code-server does not notice
   * settings.json being changed behind its back, so the file cannot simply be rewritten.)
   */
  async setUserSetting(key: string, value: string): Promise<void> {
    await this.runCommand('Preferences: Open User Settings');
    const search = this.page.locator('.settings-editor .settings-header .suggest-input-container');
    await search.waitFor();
    await search.click();
    await this.page.keyboard.press('Control+A');
    await this.page.keyboard.type(key);
    const input = this.page.locator(`.settings-editor .setting-item-contents[data-key="${key}"] input.setting-control-focus-target`);
    await input.waitFor();
    await input.fill(value);
    await input.press('Tab'); // the value is written (debounced) when the box loses focus
    // Written means in settings.json on disk; closing the editor earlier can drop the pending write.
    const file = join(this.runDir, 'user-data', 'User', 'settings.json');
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        if (JSON.parse(readFileSync(file, 'utf8'))[key] === value) break;
      } catch {
        // Mid-write, or comments: read again.
      }
      if (Date.now() > deadline) throw new Error(`the Settings editor did not write ${key} = ${JSON.stringify(value)} to ${file}`);
      await sleep(200);
    }
    await this.closeSettingsEditor();
  }

  /**
   * Closes the Settings editor. VS Code 1.108+ opens it as a modal editor over the workbench (setting
   * workbench.editor.useModal, default "some"); while it is up, the modal swallows workbench keybindings
   * such as F1, so the palette cannot be used to close it: its own close button does, as a user would.
   */
  private async closeSettingsEditor(): Promise<void> {
    const modal = this.page.locator('.monaco-modal-editor-block');
    if (await modal.count()) {
      const close = modal.locator('.modal-editor-action-container .codicon-close, .modal-editor-action-container .codicon-close-all').first();
      if (await close.count()) await close.click();
      else await this.page.keyboard.press('Escape');
      await modal.first().waitFor({ state: 'detached', timeout: 10_000 });
      return;
    }
    await this.runCommand('View: Close Editor');
  }

  /**
   * Opens a workspace file by clicking it in the Explorer, as a user does, and waits for its editor tab.
   * Unlike Quick Open this needs no file-search index: the Explorer learns of files the extension wrote
   * through workspace.fs from the file service's own events (and "Refresh Explorer" makes sure of it).
   */
  async openFromExplorer(relPath: string): Promise<void> {
    const base = relPath.split('/').pop()!;
    await this.runCommand('View: Show Explorer');
    const view = this.page.locator('.explorer-folders-view');
    await view.waitFor();
    const row = view.locator('.monaco-list-row', { has: this.page.locator('.label-name', { hasText: new RegExp(`^\\s*${escapeRegExp(base)}\\s*$`) }) });
    try {
      await row.first().waitFor({ state: 'visible', timeout: 10_000 });
    } catch {
      await this.runCommand('File: Refresh Explorer');
      await row.first().waitFor({ state: 'visible', timeout: 30_000 });
    }
    await row.first().click();
    await this.page.locator('.tabs-container .tab.active', { hasText: base }).waitFor();
  }

  /** Waits for a notification toast whose message matches and returns its text. */
  async waitForNotification(match: RegExp | string, timeout = 60_000): Promise<string> {
    const toast = this.page
      .locator('.notifications-toasts .notification-toast .notification-list-item-message')
      .filter({ hasText: match });
    await toast.first().waitFor({ state: 'visible', timeout });
    await sleep(800); // the fade-in, so a screenshot shows it
    return (await toast.first().innerText()).trim();
  }

  /** Texts of all visible notification toasts. */
  async notifications(): Promise<string[]> {
    return (await this.page.locator('.notifications-toasts .notification-list-item-message').allInnerTexts()).map((s) => s.trim());
  }

  /** Status bar item(s) contributed by the extension (VS Code gives them the id "<extensionId>.<itemId>"). */
  statusBarItem(): Locator {
    return this.page.locator(`.part.statusbar [id^="${EXTENSION_ID}."]`);
  }

  /** The active text editor's Monaco instance. */
  activeEditor(): Locator {
    return this.page.locator('.editor-group-container.active .monaco-editor').first();
  }

  /**
   * Moves the mouse over the `nth` occurrence of `text` in the active editor (the middle of that text)
   * and returns the hover widget's text once it has loaded and, when `expect` is given, matches it
   * (hover providers answer asynchronously; the widget says "Loading..." meanwhile).
   */
  async hoverText(text: string, opts: { nth?: number; expect?: RegExp; timeout?: number } = {}): Promise<string> {
    const nth = opts.nth ?? 0;
    const editor = this.activeEditor();
    await editor.waitFor();
    const box = await editor.evaluate(
      (root, [needle, index]) => {
        const lines = Array.from(root.querySelectorAll('.view-lines .view-line')) as HTMLElement[];
        lines.sort((a, b) => a.getBoundingClientRect().top - b.getBoundingClientRect().top);
        let seen = 0;
        for (const line of lines) {
          const walker = document.createTreeWalker(line, NodeFilter.SHOW_TEXT);
          const nodes: Text[] = [];
          let full = '';
          for (let n = walker.nextNode(); n; n = walker.nextNode()) {
            nodes.push(n as Text);
            full += (n as Text).data;
          }
          // Monaco renders spaces as U+00A0.
          const norm = full.replace(/\u00a0/g, ' ');
          for (let at = norm.indexOf(needle as string); at >= 0; at = norm.indexOf(needle as string, at + 1)) {
            if (seen++ !== index) continue;
            const range = document.createRange();
            let offset = 0;
            let startSet = false;
            for (const node of nodes) {
              const len = node.data.length;
              if (!startSet && at < offset + len) {
                range.setStart(node, at - offset);
                startSet = true;
              }
              if (startSet && at + (needle as string).length <= offset + len) {
                range.setEnd(node, at + (needle as string).length - offset);
                break;
              }
              offset += len;
            }
            const r = range.getBoundingClientRect();
            return { x: r.left + r.width / 2, y: r.top + r.height / 2 };
          }
        }
        return null;
      },
      [text, nth] as const,
    );
    if (!box) throw new Error(`"${text}" (occurrence ${nth}) is not visible in the active editor`);
    const hover = this.page.locator('.monaco-hover:not(.hidden)').filter({ has: this.page.locator('.hover-contents, .hover-row') });
    const deadline = Date.now() + (opts.timeout ?? 60_000);
    let last = '';
    while (Date.now() < deadline) {
      // Move away first so the hover is shown afresh for this position.
      await this.page.mouse.move(box.x, box.y + 200);
      await this.page.mouse.move(box.x, box.y, { steps: 4 });
      try {
        await hover.first().waitFor({ state: 'visible', timeout: 10_000 });
      } catch {
        continue;
      }
      for (let i = 0; i < 20 && Date.now() < deadline; i++) {
        last = (await hover.first().innerText().catch(() => '')).trim();
        if (last && !/^Loading/.test(last) && (!opts.expect || opts.expect.test(last))) return last;
        await sleep(250);
      }
    }
    throw new Error(`the hover over "${text}" did not show ${opts.expect ?? 'content'}; last seen: ${JSON.stringify(last)}`);
  }

  /** Places the cursor on the `nth` occurrence of `text` in the active editor (a click there). */
  async clickText(text: string, nth = 0): Promise<void> {
    const line = this.activeEditor().locator('.view-lines .view-line', { hasText: text.replace(/ /g, '\u00a0') });
    await line.nth(nth).click({ position: { x: 2, y: 5 } });
  }

  /**
   * Decorations an extension drew in the active editor (TextEditorDecorationType): Monaco renders their
   * backgrounds as `.cdr.ced-<n>-TextEditorDecorationType<m>-<k>` boxes in the view overlays.
   */
  extensionDecorations(): Locator {
    return this.activeEditor().locator('.view-overlays .cdr[class*="TextEditorDecorationType"]');
  }

  /**
   * The DOM inside a webview: VS Code hosts each webview in an outer `iframe.webview` (its src carries
   * `purpose=webviewView` for a side-panel view, no purpose for an editor) whose document holds the
   * extension's page in the inner `#active-frame`. With several, the visible one.
   */
  webview(where: 'view' | 'editor'): FrameLocator {
    return this.outerWebview(where).contentFrame().frameLocator('#active-frame');
  }

  private outerWebview(where: 'view' | 'editor'): Locator {
    const sel = where === 'view' ? 'iframe.webview[src*="purpose=webviewView"]' : 'iframe.webview:not([src*="purpose=webviewView"])';
    return this.page.locator(sel).locator('visible=true').first();
  }

  /**
   * The page (Frame) inside the visible webview, for reading its globals: the inner frame is the child
   * of the outer iframe whose URL is fake.html?id=<the outer frame's name>.
   */
  async webviewFrame(where: 'view' | 'editor'): Promise<Frame> {
    const outer = this.outerWebview(where);
    await outer.waitFor();
    const id = await outer.getAttribute('name');
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      const f = this.page.frames().find((fr) => fr.url().includes('/fake.html?id=' + id) && fr.parentFrame()?.name() === id);
      if (f) return f;
      await sleep(200);
    }
    throw new Error(`no page inside the ${where} webview ${id}`);
  }
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Starts a session; the caller closes it in an `after` hook. */
export function launchVsCode(opts: LaunchOptions): Promise<VsCode> {
  return VsCode.launch(opts);
}
