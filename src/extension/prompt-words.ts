/**
 * Words the model does not know, in prompt files: each is underlined (a Warning diagnostic naming the
 * word, what the model reads instead and what to write), with a quick fix when the vocabulary has a close
 * spelling; and the completion list offers the vocabulary's words inside prompt blocks.
 *
 * The vocabulary comes from the engine worker (tokenizer.json only), once per model folder; the check
 * itself is a whitespace split and set look-ups, debounced after each edit so typing never waits on it.
 * Only prompt blocks are checked (`*.prompt` files, ```prompt fences in markdown), never their
 * `expect` / `counterfactual` lines, and nothing for subword models, which spell any text.
 */
import * as vscode from 'vscode';
import { Disposable } from './disposable';
import type { EngineHost } from './engine-host';
import { dialectFor, findPromptBlocks } from '../shared/prompt-blocks';
import { WordChecker } from '../shared/vocabulary';

export const UNKNOWN_WORD_SOURCE = 'Circuit Inspector';
export const UNKNOWN_WORD_CODE = 'unknown-word';
const DEBOUNCE_MS = 250;

export const PROMPT_SELECTOR: vscode.DocumentSelector = [{ language: 'circuit-prompt' }, { pattern: '**/*.prompt' }, { pattern: '**/*.prompt.md' }, { language: 'markdown' }];

function isPromptDocument(doc: vscode.TextDocument): boolean {
  return dialectFor(doc.languageId, doc.fileName) !== 'plain';
}

export class PromptWords extends Disposable implements vscode.CompletionItemProvider, vscode.CodeActionProvider {
  private readonly diagnostics = this._register(vscode.languages.createDiagnosticCollection('circuitInspector.words'));
  private readonly timers = new Map<string, ReturnType<typeof setTimeout>>();
  private checker?: { modelPath: string; promise: Promise<WordChecker | undefined> };
  /** The checker the current diagnostics came from (quick fixes are computed synchronously). */
  private ready?: WordChecker;

  constructor(
    private readonly engine: EngineHost,
    private readonly modelPath: () => string,
    private readonly log: vscode.LogOutputChannel,
  ) {
    super();
    this._register(vscode.workspace.onDidOpenTextDocument((d) => this.schedule(d, 0)));
    this._register(vscode.workspace.onDidChangeTextDocument((e) => e.contentChanges.length && this.schedule(e.document, DEBOUNCE_MS)));
    this._register(vscode.workspace.onDidCloseTextDocument((d) => {
      this.cancel(d.uri);
      this.diagnostics.delete(d.uri);
    }));
    // Another model, another vocabulary: check every open prompt again.
    this._register(engine.onDidChangeModel(() => this.recheckAll()));
    this._register({ dispose: () => this.timers.forEach((t) => clearTimeout(t)) });
    this._register(vscode.languages.registerCompletionItemProvider(PROMPT_SELECTOR, this));
    this._register(vscode.languages.registerCodeActionsProvider(PROMPT_SELECTOR, this, { providedCodeActionKinds: [vscode.CodeActionKind.QuickFix] }));
    this.recheckAll();
  }

  /** The checker of the model the settings name now (its vocabulary fetched once per folder). */
  private wordChecker(): Promise<WordChecker | undefined> {
    const modelPath = this.modelPath();
    if (this.checker?.modelPath !== modelPath) {
      const promise = this.engine.call('vocabulary', { modelPath }).then(
        (v) => (v.wordLevel ? new WordChecker(v) : undefined),
        (e: unknown) => {
          // The model's own errors are reported when it is used; the word check just stays quiet.
          this.log.warn(`unknown-word check off: ${e instanceof Error ? e.message : String(e)}`);
          return undefined;
        },
      );
      this.checker = { modelPath, promise };
    }
    return this.checker.promise;
  }

  private recheckAll(): void {
    for (const d of vscode.workspace.textDocuments) this.schedule(d, 0);
  }

  private cancel(uri: vscode.Uri): void {
    const t = this.timers.get(uri.toString());
    if (t) clearTimeout(t);
    this.timers.delete(uri.toString());
  }

  private schedule(doc: vscode.TextDocument, delay: number): void {
    if (!isPromptDocument(doc)) return;
    this.cancel(doc.uri);
    this.timers.set(doc.uri.toString(), setTimeout(() => {
      this.timers.delete(doc.uri.toString());
      void this.check(doc);
    }, delay));
  }

  private async check(doc: vscode.TextDocument): Promise<void> {
    const version = doc.version;
    const checker = await this.wordChecker();
    // Edited meanwhile: the newer check (already scheduled) will report.
    if (doc.isClosed || doc.version !== version) return;
    this.ready = checker;
    if (!checker) {
      this.diagnostics.delete(doc.uri);
      return;
    }
    const text = doc.getText();
    const found: vscode.Diagnostic[] = [];
    for (const block of findPromptBlocks(text, dialectFor(doc.languageId, doc.fileName))) {
      for (const u of checker.unknownWords(block.text)) {
        const range = new vscode.Range(doc.positionAt(block.start + u.start), doc.positionAt(block.start + u.end));
        const d = new vscode.Diagnostic(range, checker.message(u), vscode.DiagnosticSeverity.Warning);
        d.source = UNKNOWN_WORD_SOURCE;
        d.code = UNKNOWN_WORD_CODE;
        found.push(d);
      }
    }
    this.diagnostics.set(doc.uri, found);
  }

  async provideCompletionItems(doc: vscode.TextDocument, pos: vscode.Position): Promise<vscode.CompletionItem[] | undefined> {
    const offset = doc.offsetAt(pos);
    const blocks = findPromptBlocks(doc.getText(), dialectFor(doc.languageId, doc.fileName));
    // In a prompt block, or on the empty line where the next one starts.
    const inBlock = blocks.some((b) => offset >= b.start && offset <= b.end) || (dialectFor(doc.languageId, doc.fileName) === 'prompt' && !doc.lineAt(pos.line).text.trim());
    if (!inBlock) return undefined;
    const checker = await this.wordChecker();
    if (!checker) return undefined;
    const range = doc.getWordRangeAtPosition(pos, /\S+/);
    return checker.vocabulary.words.map((w, i) => {
      const item = new vscode.CompletionItem(w, vscode.CompletionItemKind.Text);
      item.detail = `a word ${checker.vocabulary.model} knows`;
      // Vocabulary order (frequent words first in the embedded model), not alphabetical.
      item.sortText = String(i).padStart(6, '0');
      if (range) item.range = range;
      return item;
    });
  }

  provideCodeActions(doc: vscode.TextDocument, _range: vscode.Range, ctx: vscode.CodeActionContext): vscode.CodeAction[] {
    const out: vscode.CodeAction[] = [];
    for (const d of ctx.diagnostics) {
      // Diagnostics come back from the workbench as plain data: the suggestion is computed again.
      if (d.source !== UNKNOWN_WORD_SOURCE || d.code !== UNKNOWN_WORD_CODE || !this.ready) continue;
      const suggestion = this.ready.suggest(doc.getText(d.range));
      if (suggestion === undefined) continue;
      const fix = new vscode.CodeAction(`Change to "${suggestion}"`, vscode.CodeActionKind.QuickFix);
      fix.edit = new vscode.WorkspaceEdit();
      fix.edit.replace(doc.uri, d.range, suggestion);
      fix.diagnostics = [d];
      fix.isPreferred = true;
      out.push(fix);
    }
    return out;
  }
}
