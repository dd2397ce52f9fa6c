/**
 * Hover on an analysed prompt's token: top features and predictions from the analysis, the logit lens
 * fetched from the worker once per position and cached with the analysis.
 */
import * as vscode from 'vscode';
import type { AnalysisStore } from './analysis-store';
import type { EngineHost } from './engine-host';
import { FOCUS_COMMAND, hoverMarkdown } from '../shared/hover-content';
import { tokenAtOffset, tokenSpan } from '../shared/token-map';
import { labelMinF1Setting, SECTION } from './settings';

export class TokenHoverProvider implements vscode.HoverProvider {
  constructor(
    private readonly store: AnalysisStore,
    private readonly engine: EngineHost,
    private readonly log: vscode.LogOutputChannel,
  ) {}

  async provideHover(doc: vscode.TextDocument, pos: vscode.Position, token: vscode.CancellationToken): Promise<vscode.Hover | undefined> {
    const offset = doc.offsetAt(pos);
    // The analysis of the block under the mouse: each block of a file keeps its own.
    const a = this.store.get(doc.uri, offset);
    if (!a) return undefined;
    const t = tokenAtOffset(a.forward.tokens, offset, a.promptStart);
    if (t < 0) return undefined;
    let lens = a.lens.get(t);
    if (!lens && this.engine.model) {
      const ac = new AbortController();
      const sub = token.onCancellationRequested(() => ac.abort());
      try {
        lens = await this.engine.call('logitLens', { text: a.text, position: t, k: 3 }, { signal: ac.signal });
        a.lens.set(t, lens);
      } catch (e) {
        // The hover still shows features and predictions; the lens is extra.
        this.log.warn(`logit lens failed: ${e instanceof Error ? e.message : String(e)}`);
      } finally {
        sub.dispose();
      }
    }
    if (token.isCancellationRequested) return undefined;
    const md = new vscode.MarkdownString(hoverMarkdown(doc.uri.toString(), a.forward, t, lens, 6, labelMinF1Setting((k) => vscode.workspace.getConfiguration(SECTION).get(k)), a.promptStart));
    md.isTrusted = { enabledCommands: [FOCUS_COMMAND] };
    md.supportHtml = false;
    const span = tokenSpan(a.forward.tokens, t, a.promptStart);
    return new vscode.Hover(md, new vscode.Range(doc.positionAt(span.start), doc.positionAt(span.end)));
  }
}
