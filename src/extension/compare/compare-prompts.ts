/**
 * Comparing two prompts: **Compare with Counterfactual** (the prompt block under the cursor against
 * its `counterfactual:` line) and **Compare with…** (against another block of this file or of another
 * prompt file). Both analyse the two prompts with the current model and settings, then open the compare
 * view (compare-panel.ts).
 */
import * as vscode from 'vscode';
import { basename } from 'node:path';
import { fromGraphFile } from '../../engine/graph-file';
import type { GraphFile } from '../../shared/graph-schema';
import { blockAt, dialectFor, findPromptBlocks, type PromptBlock } from '../../shared/prompt-blocks';
import type { Progress } from '../../shared/rpc';
import { showComparison } from './compare-panel';

/** What the compare commands need from the coordinator: a graph for a prompt text. */
export interface PromptAnalyzer {
  graphOf(text: string, signal: AbortSignal, onProgress: (p: Progress) => void): Promise<GraphFile>;
}

export interface ComparedPrompt {
  text: string;
  caption: string;
}

/** Analyses both prompts (cancellable, with progress) and opens the compare view. */
export async function comparePrompts(extensionUri: vscode.Uri, analyzer: PromptAnalyzer, a: ComparedPrompt, b: ComparedPrompt): Promise<vscode.WebviewPanel | undefined> {
  const ac = new AbortController();
  return vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: 'Circuit Inspector: comparing', cancellable: true }, async (progress, ct) => {
    ct.onCancellationRequested(() => ac.abort());
    const graphs = [];
    for (const [i, p] of [a, b].entries()) {
      let done = 0;
      progress.report({ message: `${p.caption} (${i + 1} of 2)` });
      const onProgress = (x: Progress) => {
        const f = x.fraction ?? done;
        progress.report({ message: `${p.caption}: ${x.stage}`, increment: Math.max(0, f - done) * 50 });
        done = Math.max(done, f);
      };
      graphs.push(fromGraphFile(await analyzer.graphOf(p.text, ac.signal, onProgress)));
    }
    return showComparison(extensionUri, { graph: graphs[0], caption: a.caption }, { graph: graphs[1], caption: b.caption });
  });
}

function blockUnderCursor(editor: vscode.TextEditor, offset?: number): { block?: PromptBlock; blocks: PromptBlock[] } {
  const doc = editor.document;
  const blocks = findPromptBlocks(doc.getText(), dialectFor(doc.languageId, doc.fileName));
  const at = offset ?? doc.offsetAt(editor.selection.active);
  return { block: blockAt(blocks, at) ?? blocks.find((b) => b.counterfactual && at >= b.start && at <= (b.counterfactual.end ?? b.end)) ?? (blocks.length === 1 ? blocks[0] : undefined), blocks };
}

async function editorFor(uri?: vscode.Uri): Promise<vscode.TextEditor | undefined> {
  if (!uri) return vscode.window.activeTextEditor;
  return vscode.window.visibleTextEditors.find((e) => e.document.uri.toString() === uri.toString()) ?? vscode.window.showTextDocument(uri);
}

/** The block's counterfactual line against the block. */
export async function compareWithCounterfactual(extensionUri: vscode.Uri, analyzer: PromptAnalyzer, uri?: vscode.Uri, offset?: number): Promise<void> {
  const editor = await editorFor(uri);
  if (!editor) {
    void vscode.window.showErrorMessage('Circuit Inspector: open a prompt file with a `counterfactual:` line under a prompt block.');
    return;
  }
  const { block } = blockUnderCursor(editor, offset);
  if (!block?.counterfactual) {
    const pick = await vscode.window.showErrorMessage(
      'Circuit Inspector: this prompt block has no counterfactual. Add a line `counterfactual: OTHER PROMPT` after the prompt, or pick the other prompt with Compare with….',
      'Compare with…',
    );
    if (pick) await compareWith(extensionUri, analyzer, editor.document.uri, offset);
    return;
  }
  await comparePrompts(extensionUri, analyzer, { text: block.text, caption: 'prompt' }, { text: block.counterfactual.prompt, caption: 'counterfactual' });
}

function oneLine(s: string): string {
  const t = s.replace(/\s+/g, ' ').trim();
  return t.length > 80 ? `${t.slice(0, 79)}…` : t;
}

/** Against another prompt block of this file, or of a prompt file picked from the workspace. */
export async function compareWith(extensionUri: vscode.Uri, analyzer: PromptAnalyzer, uri?: vscode.Uri, offset?: number): Promise<void> {
  const editor = await editorFor(uri);
  if (!editor) {
    void vscode.window.showErrorMessage('Circuit Inspector: open a prompt to compare it with another.');
    return;
  }
  const { block, blocks } = blockUnderCursor(editor, offset);
  const doc = editor.document;
  const a: ComparedPrompt = block
    ? { text: block.text, caption: `${basename(doc.fileName)}:${doc.positionAt(block.start).line + 1}` }
    : { text: doc.getText().trim(), caption: basename(doc.fileName) };
  if (!a.text) {
    void vscode.window.showErrorMessage('Circuit Inspector: there is no prompt here to compare.');
    return;
  }
  type Item = vscode.QuickPickItem & { prompt?: ComparedPrompt; other?: true };
  const items: Item[] = blocks
    .filter((b) => b !== block)
    .map((b) => ({ label: oneLine(b.text), description: `line ${doc.positionAt(b.start).line + 1}`, prompt: { text: b.text, caption: `${basename(doc.fileName)}:${doc.positionAt(b.start).line + 1}` } }));
  if (block?.counterfactual) items.unshift({ label: oneLine(block.counterfactual.prompt), description: 'counterfactual', prompt: { text: block.counterfactual.prompt, caption: 'counterfactual' } });
  items.push({ label: '$(file) A prompt in another file…', other: true });
  const picked = await vscode.window.showQuickPick(items, { title: `Compare "${oneLine(a.text)}" with…`, placeHolder: 'A prompt block, or another file' });
  if (!picked) return;
  let b = picked.prompt;
  if (picked.other) {
    const files = await vscode.window.showOpenDialog({ canSelectMany: false, openLabel: 'Compare with', filters: { Prompts: ['prompt', 'md', 'txt'] } });
    if (!files?.length) return;
    const other = await vscode.workspace.openTextDocument(files[0]);
    const otherBlocks = findPromptBlocks(other.getText(), dialectFor(other.languageId, other.fileName));
    if (otherBlocks.length > 1) {
      const pick = await vscode.window.showQuickPick(
        otherBlocks.map((x) => ({ label: oneLine(x.text), description: `line ${other.positionAt(x.start).line + 1}`, block: x })),
        { title: `A prompt of ${basename(other.fileName)}` },
      );
      if (!pick) return;
      b = { text: pick.block.text, caption: `${basename(other.fileName)}:${other.positionAt(pick.block.start).line + 1}` };
    } else {
      const text = otherBlocks[0]?.text ?? other.getText().trim();
      if (!text) {
        void vscode.window.showErrorMessage(`Circuit Inspector: ${basename(other.fileName)} holds no prompt.`);
        return;
      }
      b = { text, caption: basename(other.fileName) };
    }
  }
  if (b) await comparePrompts(extensionUri, analyzer, a, b);
}
