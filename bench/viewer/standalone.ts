/**
 * The graph viewer served standalone for headless Chromium: the page the extension would give a
 * webview (same HTML, CSP, bundle and CSS), a stand-in for the VS Code host that answers the viewer's
 * requests, and a theme's --vscode-* variables. Used by render.ts (screenshots) and bench/editor.ts.
 */
import { createServer, type Server } from 'node:http';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, extname, join } from 'node:path';
import type { Browser } from 'playwright-core';
import { viewerHtml } from '../../src/shared/viewer-html';

/** The repository root: the nearest folder above this file (or the bundle that holds it) with dist/ beside package.json. */
function findRoot(): string {
  let d = __dirname;
  while (!(existsSync(join(d, 'package.json')) && existsSync(join(d, 'media', 'webview.css'))) && dirname(d) !== d) d = dirname(d);
  return d;
}
const root = findRoot();

export const THEMES: Record<string, Record<string, string>> = {
  dark: {
    '--vscode-editor-background': '#1e1e1e', '--vscode-foreground': '#cccccc', '--vscode-editor-foreground': '#d4d4d4',
    '--vscode-descriptionForeground': '#9d9d9d', '--vscode-panel-border': '#80808059', '--vscode-focusBorder': '#0078d4',
    '--vscode-charts-green': '#89d185', '--vscode-charts-purple': '#b180d7', '--vscode-disabledForeground': '#8c8c8c',
    '--vscode-charts-yellow': '#cca700', '--vscode-charts-blue': '#3794ff', '--vscode-charts-red': '#f14c4c', '--vscode-charts-orange': '#d18616',
    '--vscode-font-family': 'sans-serif', '--vscode-font-size': '13px', '--vscode-editor-font-family': 'monospace',
    '--vscode-editorHoverWidget-background': '#252526', '--vscode-editorHoverWidget-border': '#454545', '--vscode-list-hoverBackground': '#2a2d2e',
    '--vscode-button-background': '#0e639c', '--vscode-button-foreground': '#ffffff', '--vscode-input-background': '#3c3c3c', '--vscode-input-foreground': '#cccccc',
    '--vscode-errorForeground': '#f48771',
  },
  light: {
    '--vscode-editor-background': '#ffffff', '--vscode-foreground': '#3b3b3b', '--vscode-editor-foreground': '#000000',
    '--vscode-descriptionForeground': '#717171', '--vscode-panel-border': '#e5e5e5', '--vscode-focusBorder': '#005fb8',
    '--vscode-charts-green': '#388a34', '--vscode-charts-purple': '#652d90', '--vscode-disabledForeground': '#616161',
    '--vscode-charts-yellow': '#bf8803', '--vscode-charts-blue': '#1a85ff', '--vscode-charts-red': '#e51400', '--vscode-charts-orange': '#d18616',
    '--vscode-font-family': 'sans-serif', '--vscode-font-size': '13px', '--vscode-editor-font-family': 'monospace',
    '--vscode-editorHoverWidget-background': '#f8f8f8', '--vscode-editorHoverWidget-border': '#c8c8c8', '--vscode-list-hoverBackground': '#f2f2f2',
    '--vscode-button-background': '#005fb8', '--vscode-button-foreground': '#ffffff', '--vscode-input-background': '#ffffff', '--vscode-input-foreground': '#3b3b3b',
    '--vscode-errorForeground': '#a1260d',
    '--vscode-settings-textInputBackground': '#ffffff', '--vscode-settings-textInputForeground': '#3b3b3b', '--vscode-settings-textInputBorder': '#cecece',
    '--vscode-sideBarSectionHeader-background': '#f8f8f8', '--vscode-sideBarSectionHeader-foreground': '#3b3b3b',
  },
};

export const fakeHost = (graph: unknown, title = 'dallas.prompt') => `
(() => {
  const state = { v: undefined };
  const reply = (m) => setTimeout(() => window.postMessage(m, '*'), 10);
  window.__posted = [];
  window.acquireVsCodeApi = () => ({
    getState: () => state.v, setState: (s) => { state.v = s; },
    postMessage: (m) => {
      window.__posted.push(m);
      if (m.type === 'ready') reply({ type: 'init', inReplyTo: m.requestId, state: { payload: { graph: ${JSON.stringify(graph)}, title: ${JSON.stringify(title)}, canIntervene: true, source: 'analysis' } } });
      if (m.type === 'requestFeatureCard') reply({ type: 'featureCard', inReplyTo: m.requestId, card: { ...m.feature, label: 'Texas (the state)', examples: [{ tokens: ['Dallas', ' is', ' in', ' Texas'], values: [0, 0.2, 0.5, 3.1] }, { tokens: ['Houston', ',', ' Texas'], values: [0.1, 0, 2.7] }], topLogits: [{ token: ' Austin', value: 1.2 }, { token: ' Texas', value: 0.9 }], bottomLogits: [{ token: ' Paris', value: -0.7 }] } });
      if (m.type === 'intervene') reply({ type: 'interventionResult', inReplyTo: m.requestId, outcome: { before: [{ token: ' Austin', prob: 0.61 }, { token: ' Dallas', prob: 0.12 }, { token: ' Houston', prob: 0.05 }], after: [{ token: ' Sacramento', prob: 0.33 }, { token: ' Austin', prob: 0.2 }, { token: ' Dallas', prob: 0.1 }] } });
      if (m.type === 'export') reply({ type: 'exportDone', inReplyTo: m.requestId, path: '/tmp/x' });
    },
  });
})();`;


export interface Standalone {
  /** URL of the viewer page showing `graph` in `theme` ('dark' | 'light'). */
  url(theme: string): string;
  close(): Promise<void>;
}

/** Serves the viewer page with the given graph (call after `node esbuild.mjs`). */
export async function serveViewer(graph: unknown, title?: string): Promise<Standalone> {
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const theme = url.searchParams.get('theme') ?? 'dark';
    if (url.pathname === '/') {
      const port = (server.address() as { port: number }).port;
      const origin = `http://127.0.0.1:${port}`;
      const nonce = 'dGVzdG5vbmNl';
      let html = viewerHtml({ cspSource: origin, nonce, scriptUri: `${origin}/dist/webview.js`, cssUri: `${origin}/media/webview.css`, codiconUri: `${origin}/dist/codicons/codicon.css`, title: 'Graph' });
      html = html
        .replace('<body ', `<body class="vscode-${theme === 'light' ? 'light' : 'dark'}" `)
        .replace('</head>', `<link rel="stylesheet" href="${origin}/theme.css?theme=${theme}">\n<script nonce="${nonce}">${fakeHost(graph, title)}</script>\n</head>`);
      res.writeHead(200, { 'content-type': 'text/html' }).end(html);
      return;
    }
    if (url.pathname === '/theme.css') {
      const vars = THEMES[theme] ?? THEMES.dark;
      res.writeHead(200, { 'content-type': 'text/css' }).end(`html { ${Object.entries(vars).map(([k, v]) => `${k}: ${v};`).join(' ')} }`);
      return;
    }
    try {
      const body = readFileSync(join(root, url.pathname));
      const type = { '.js': 'text/javascript', '.css': 'text/css', '.ttf': 'font/ttf' }[extname(url.pathname)] ?? 'application/octet-stream';
      res.writeHead(200, { 'content-type': type }).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    url: (theme) => `http://127.0.0.1:${port}/?theme=${theme}`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

export function launchChromium(): Promise<Browser> {
  // Loaded at run time from the repository's node_modules, so bundling this file (into dist/bench.js)
  // does not pull playwright into the bundle.
  const { chromium } = createRequire(join(root, 'package.json'))('playwright-core') as typeof import('playwright-core');
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}
