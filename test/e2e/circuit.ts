/**
 * Steps the scenarios share, in Circuit Inspector's terms: wait for activation, analyze a prompt and wait
 * for its graph, read the graph panel. Selectors are the `data-testid`s of src/shared/viewer-html.ts
 * and webview/*.ts; command titles are those package.json contributes.
 */
import type { FrameLocator } from 'playwright-core';
import type { VsCode } from './harness';

export const ANALYZE = 'Circuit Inspector: Analyze Prompt';
export const SAVE_GRAPH = 'Circuit Inspector: Save Graph';
export const CLEAR_DECORATIONS = 'Circuit Inspector: Clear Decorations';

/** The prompt the scenarios analyze, written into their copy of the workspace. */
export const PROMPT_FILE = 'e2e-capital.prompt';
// The toy language's one-hop fact sentence (tools/train/README.md): "the capital of Texas is Austin ."
export const PROMPT = 'the capital of Texas is';
export const PROMPT_WORD = 'Texas';

/** Waits for the extension's status bar item (the model and execution provider) and returns its text. */
export async function waitForActivation(vs: VsCode, timeout = 120_000, model: RegExp = /toy-llama/): Promise<string> {
  const item = vs.statusBarItem().filter({ hasText: model });
  await item.first().waitFor({ state: 'visible', timeout });
  return (await item.first().innerText()).trim();
}

export interface GraphSummary {
  nodes: number;
  links: number;
  embedding: number;
  feature: number;
  error: number;
  logit: number;
  text: string;
}

/** The counts the panel's summary line carries (shown nodes by kind) once a graph is drawn. */
export async function graphSummary(frame: FrameLocator, timeout = 60_000): Promise<GraphSummary> {
  const s = frame.locator('[data-testid="graph-summary"][data-nodes]');
  await s.waitFor({ state: 'attached', timeout });
  const d = await s.evaluate((e) => ({ ...(e as HTMLElement).dataset, text: (e as HTMLElement).innerText }));
  const n = (k: string) => Number(d[k as keyof typeof d] ?? NaN);
  return { nodes: n('nodes'), links: n('links'), embedding: n('embedding'), feature: n('feature'), error: n('error'), logit: n('logit'), text: d.text ?? '' };
}

/**
 * Runs Analyze Prompt from the palette on the file open in the active editor and waits until the side
 * panel draws the graph, or fails at once with the text of an error notification.
 */
export async function analyzeActiveFile(vs: VsCode, timeout = 600_000): Promise<GraphSummary> {
  await vs.runCommand(ANALYZE);
  return waitForGraph(vs, timeout);
}

/** Clicks the "Analyze" CodeLens above the first prompt block of the active editor and waits for the graph. */
export async function analyzeByCodeLens(vs: VsCode, timeout = 600_000): Promise<GraphSummary> {
  const lens = vs.activeEditor().locator('.codelens-decoration a', { hasText: /^\s*\S*\s*Analyze\s*$/ });
  await lens.first().waitFor({ timeout: 60_000 });
  await lens.first().click();
  return waitForGraph(vs, timeout);
}

/** Waits until the side panel draws a graph, or fails at once with the text of an error notification. */
async function waitForGraph(vs: VsCode, timeout: number): Promise<GraphSummary> {
  const drawn = vs.webview('view').locator('[data-testid="graph-summary"][data-nodes]');
  const failed = vs.page.locator('.notifications-toasts .notification-toast').filter({ has: vs.page.locator('.codicon-error, .codicon-warning') });
  // Both waits settle (the loser times out later, harmlessly): neither may reject unobserved.
  const which = await Promise.race([
    drawn.waitFor({ state: 'attached', timeout }).then(() => 'graph' as const, () => 'timeout' as const),
    failed.first().waitFor({ state: 'visible', timeout }).then(() => 'error' as const, () => 'timeout' as const),
  ]);
  if (which === 'timeout') throw new Error(`no graph and no error notification ${timeout / 1000} s after Analyze Prompt`);
  if (which === 'error') {
    const message = await failed.first().locator('.notification-list-item-message').innerText();
    throw new Error(`Analyze Prompt reported: ${message.trim()}`);
  }
  return graphSummary(vs.webview('view'));
}

/** Expands the panel's "Nodes" list (a folded <details>) so its rows can be clicked. */
export async function openNodeList(frame: FrameLocator): Promise<void> {
  const section = frame.locator('[data-testid="node-list-section"]');
  await section.waitFor();
  if ((await section.getAttribute('open')) === null) await section.locator('summary').click();
  await frame.locator('[data-testid="node-list"]').waitFor({ state: 'visible' });
}

export interface ErrorToast {
  message: string;
  actions: string[];
}

/** Waits for an error notification matching `match` and returns its message and action buttons. */
export async function waitForErrorToast(vs: VsCode, match: RegExp, timeout = 300_000): Promise<ErrorToast> {
  const toast = vs.page
    .locator('.notifications-toasts .notification-toast')
    .filter({ has: vs.page.locator('.codicon-error') })
    .filter({ has: vs.page.locator('.notification-list-item-message', { hasText: match }) });
  await toast.first().waitFor({ state: 'visible', timeout });
  const message = (await toast.first().locator('.notification-list-item-message').innerText()).trim();
  const actions = (await toast.first().locator('.notification-list-item-buttons-container .monaco-button').allInnerTexts()).map((s) => s.trim());
  return { message, actions };
}
