/**
 * The focused feature's activation painted over the prompt's tokens: five intensity levels, each a
 * theme colour contributed by the extension (`circuitInspector.activationN`), so light, dark and
 * high-contrast themes each get readable colours and users can override them.
 */
import * as vscode from 'vscode';
import { Disposable } from './disposable';
import { intensityLevel, valuedSpans } from '../shared/token-map';
import type { Analysis } from './analysis-store';

export const LEVELS = 5;

export class ActivationDecorations extends Disposable {
  private readonly types: vscode.TextEditorDecorationType[];
  /** Documents currently painted, so Clear Decorations and re-analysis know what to clear. */
  private readonly painted = new Set<string>();

  constructor() {
    super();
    this.types = Array.from({ length: LEVELS }, (_, i) =>
      this._register(
        vscode.window.createTextEditorDecorationType({
          backgroundColor: new vscode.ThemeColor(`circuitInspector.activation${i + 1}`),
          borderRadius: '2px',
          rangeBehavior: vscode.DecorationRangeBehavior.ClosedClosed,
        }),
      ),
    );
    // An editor that becomes visible again gets its paint back.
    this._register(vscode.window.onDidChangeVisibleTextEditors(() => this.onEditorsChanged?.()));
  }

  onEditorsChanged?: () => void;

  paint(a: Analysis): void {
    const values = a.focused?.values ?? [];
    const max = Math.max(0, ...values);
    const buckets: vscode.DecorationOptions[][] = this.types.map(() => []);
    for (const editor of vscode.window.visibleTextEditors) {
      if (editor.document.uri.toString() !== a.uri.toString()) continue;
      for (const b of buckets) b.length = 0;
      for (const { span, value, t } of valuedSpans(a.forward.tokens, values, a.promptStart)) {
        const level = intensityLevel(value, max, LEVELS);
        if (!level) continue;
        const range = new vscode.Range(editor.document.positionAt(span.start), editor.document.positionAt(span.end));
        buckets[level - 1].push({ range, hoverMessage: `activation ${value.toFixed(3)} (token ${t})` });
      }
      this.types.forEach((type, i) => editor.setDecorations(type, buckets[i]));
    }
    this.painted.add(a.uri.toString());
  }

  clear(uri?: vscode.Uri): void {
    for (const editor of vscode.window.visibleTextEditors) {
      if (uri && editor.document.uri.toString() !== uri.toString()) continue;
      for (const type of this.types) editor.setDecorations(type, []);
    }
    if (uri) this.painted.delete(uri.toString());
    else this.painted.clear();
  }
}
