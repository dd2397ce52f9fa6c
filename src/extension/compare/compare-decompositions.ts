/**
 * **Compare Decompositions**: the decomposition report of the prompt under the cursor (or the selection)
 * for every dictionary of the model — transcoders, CLT, SAE, e2e SAE — computed in the engine worker
 * with progress and Cancel, shown in an editor-area panel (decompositions-html.ts).
 */
import * as vscode from 'vscode';
import type { DecompositionReport } from '../../shared/decomposition-report';
import { choosePrompt, dialectFor } from '../../shared/prompt-blocks';
import type { Progress } from '../../shared/rpc';
import { decompositionsHtml } from './decompositions-html';
import { progressReporter } from '../progress';

export const DECOMPOSITIONS_PANEL_TYPE = 'circuitInspector.decompositions';

/** What the command needs from the coordinator: the report of one prompt with the current model. */
export interface DecompositionAnalyzer {
  decompositionsOf(text: string, signal: AbortSignal, onProgress: (p: Progress) => void): Promise<DecompositionReport>;
}

export function showDecompositions(extensionUri: vscode.Uri, report: DecompositionReport): vscode.WebviewPanel {
  const title = `Decompositions: ${report.model}`;
  const panel = vscode.window.createWebviewPanel(DECOMPOSITIONS_PANEL_TYPE, title, vscode.ViewColumn.Beside, {
    enableScripts: false,
    localResourceRoots: [vscode.Uri.joinPath(extensionUri, 'media')],
  });
  panel.webview.html = decompositionsHtml({ cspSource: panel.webview.cspSource, cssUri: panel.webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'media', 'decompositions.css')).toString(), title }, report);
  return panel;
}

export async function compareDecompositions(extensionUri: vscode.Uri, analyzer: DecompositionAnalyzer, uri?: vscode.Uri, offset?: number): Promise<vscode.WebviewPanel | undefined> {
  const editor = uri ? vscode.window.visibleTextEditors.find((e) => e.document.uri.toString() === uri.toString()) ?? (await vscode.window.showTextDocument(uri)) : vscode.window.activeTextEditor;
  if (!editor) {
    void vscode.window.showErrorMessage('Circuit Inspector: open a prompt to compare the model’s decompositions on it.');
    return undefined;
  }
  const doc = editor.document;
  const prompt = choosePrompt(
    doc.getText(),
    dialectFor(doc.languageId, doc.fileName),
    editor.selection.isEmpty ? undefined : { start: doc.offsetAt(editor.selection.start), end: doc.offsetAt(editor.selection.end) },
    offset ?? doc.offsetAt(editor.selection.active),
  );
  if (!prompt?.text.trim()) {
    void vscode.window.showErrorMessage('Circuit Inspector: there is no prompt here. Put the cursor in a prompt block, or select the text.');
    return undefined;
  }
  const ac = new AbortController();
  const report = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: 'Circuit Inspector: comparing decompositions', cancellable: true }, async (progress, ct) => {
    ct.onCancellationRequested(() => ac.abort());
    return analyzer.decompositionsOf(prompt.text, ac.signal, progressReporter(progress));
  });
  return showDecompositions(extensionUri, report);
}
