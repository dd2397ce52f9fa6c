/**
 * Circuit tests in VS Code's Testing view: a prompt file is a test item, each prompt block with
 * `expect` lines a test, each expectation a child; a failure carries its message at the expectation's
 * line. Runs go to the engine worker's circuit-test runner (the same as `circuit-inspector test`).
 * With `circuitInspector.tests.runOnSave`, saving a prompt file runs its tests.
 */
import * as vscode from 'vscode';
import type { BlockResult } from '../../shared/circuit-tests';
import { dialectFor, type PromptDialect } from '../../shared/prompt-blocks';
import { Disposable } from '../disposable';
import { testItemsOf } from './test-items';

export type CircuitTestRunner = (doc: string, dialect: PromptDialect, signal: AbortSignal) => Promise<BlockResult[]>;

const PROMPT_GLOB = '**/*.{prompt,prompt.md}';

export class CircuitTestController extends Disposable {
  private readonly ctrl: vscode.TestController;

  constructor(private readonly runTests: CircuitTestRunner, private readonly log: vscode.LogOutputChannel) {
    super();
    this.ctrl = this._register(vscode.tests.createTestController('circuitInspector.circuitTests', 'Circuit tests'));
    this.ctrl.resolveHandler = async (item) => {
      if (!item) await this.discover();
    };
    this.ctrl.refreshHandler = () => this.discover();
    this.ctrl.createRunProfile('Run circuit tests', vscode.TestRunProfileKind.Run, (req, token) => this.run(req, token), true);
    this._register(vscode.workspace.onDidOpenTextDocument((d) => this.update(d)));
    this._register(vscode.workspace.onDidChangeTextDocument((e) => this.update(e.document)));
    this._register(
      vscode.workspace.onDidSaveTextDocument((d) => {
        if (!vscode.workspace.getConfiguration('circuitInspector', d.uri).get<boolean>('tests.runOnSave', false)) return;
        const item = this.update(d);
        if (item) void this.run(new vscode.TestRunRequest([item]), new vscode.CancellationTokenSource().token);
      }),
    );
    const watcher = this._register(vscode.workspace.createFileSystemWatcher(PROMPT_GLOB));
    this._register(watcher.onDidCreate((u) => void this.updateUri(u)));
    this._register(watcher.onDidChange((u) => void this.updateUri(u)));
    this._register(watcher.onDidDelete((u) => this.ctrl.items.delete(u.toString())));
    for (const d of vscode.workspace.textDocuments) this.update(d);
  }

  private async discover(): Promise<void> {
    for (const uri of await vscode.workspace.findFiles(PROMPT_GLOB, '**/node_modules/**')) await this.updateUri(uri);
  }

  private async updateUri(uri: vscode.Uri): Promise<void> {
    const open = vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri.toString());
    if (open) {
      this.update(open);
      return;
    }
    try {
      const text = new TextDecoder().decode(await vscode.workspace.fs.readFile(uri));
      this.updateText(uri, text, dialectFor('', uri.path));
    } catch (e) {
      this.log.warn(`circuit tests: cannot read ${uri.toString()}: ${(e as Error).message}`);
    }
  }

  /** (Re)builds a document's items; returns the file item when it has tests. */
  private update(doc: vscode.TextDocument): vscode.TestItem | undefined {
    if (doc.uri.scheme !== 'file' && doc.uri.scheme !== 'untitled' && doc.uri.scheme !== 'vscode-remote') return undefined;
    const dialect = dialectFor(doc.languageId, doc.fileName);
    if (dialect === 'plain') return undefined;
    return this.updateText(doc.uri, doc.getText(), dialect);
  }

  private updateText(uri: vscode.Uri, text: string, dialect: PromptDialect): vscode.TestItem | undefined {
    const blocks = testItemsOf(text, dialect);
    const id = uri.toString();
    if (!blocks.length) {
      this.ctrl.items.delete(id);
      return undefined;
    }
    const file = this.ctrl.items.get(id) ?? this.ctrl.createTestItem(id, vscode.workspace.asRelativePath(uri), uri);
    file.children.replace(
      blocks.map((b) => {
        const block = this.ctrl.createTestItem(`${id}#${b.line}`, b.label, uri);
        block.range = new vscode.Range(b.line, 0, b.line, b.label.length);
        block.children.replace(
          b.expectations.map((e) => {
            const item = this.ctrl.createTestItem(`${id}#${e.line}`, e.label, uri);
            item.range = new vscode.Range(e.line, e.startCol, e.line, e.endCol);
            return item;
          }),
        );
        return block;
      }),
    );
    this.ctrl.items.add(file);
    return file;
  }

  private async run(request: vscode.TestRunRequest, token: vscode.CancellationToken): Promise<void> {
    const run = this.ctrl.createTestRun(request);
    const excluded = new Set((request.exclude ?? []).map((i) => i.id));
    // Which files to run, and which of their items to report (the requested ones and their descendants).
    const files = new Map<string, { file: vscode.TestItem; report: Set<string> }>();
    const roots = request.include ?? [...this.iter(this.ctrl.items)];
    for (const item of roots) {
      const fileId = item.id.split('#')[0];
      const file = this.ctrl.items.get(fileId);
      if (!file || excluded.has(item.id)) continue;
      const entry = files.get(fileId) ?? { file, report: new Set<string>() };
      const mark = (i: vscode.TestItem) => {
        if (excluded.has(i.id)) return;
        entry.report.add(i.id);
        i.children.forEach(mark);
      };
      mark(item);
      files.set(fileId, entry);
    }
    const ac = new AbortController();
    const sub = token.onCancellationRequested(() => ac.abort());
    try {
      for (const { file, report } of files.values()) {
        if (token.isCancellationRequested) break;
        const leaves: vscode.TestItem[] = [];
        file.children.forEach((b) => {
          b.children.forEach((e) => {
            if (report.has(e.id)) leaves.push(e);
          });
        });
        const blocks: vscode.TestItem[] = [];
        file.children.forEach((b) => {
          if (report.has(b.id)) blocks.push(b);
        });
        for (const i of [...blocks, ...leaves]) run.started(i);
        let results: BlockResult[];
        try {
          const doc = await vscode.workspace.openTextDocument(file.uri!);
          results = await this.runTests(doc.getText(), dialectFor(doc.languageId, doc.fileName), ac.signal);
        } catch (e) {
          const msg = new vscode.TestMessage((e as Error).message);
          for (const i of [...blocks, ...leaves]) run.errored(i, msg);
          continue;
        }
        const byLine = new Map(results.flatMap((b) => b.results.map((r) => [r.line, r] as const)));
        for (const item of leaves) {
          const line = Number(item.id.split('#')[1]);
          const r = byLine.get(line);
          if (!r) run.skipped(item);
          else if (r.ok) run.passed(item);
          else {
            const m = new vscode.TestMessage(r.message);
            m.location = new vscode.Location(file.uri!, item.range ?? new vscode.Range(line, 0, line, 0));
            run.failed(item, m);
          }
        }
        for (const block of blocks) {
          const res = results.find((b) => b.line === Number(block.id.split('#')[1]));
          if (!res) {
            run.skipped(block);
            continue;
          }
          const failed = res.results.filter((r) => !r.ok);
          if (res.stability) {
            const lines = [`${res.prompt}: stability over ${res.variants.length} variants (share of variants each feature appears in)`, ...res.stability.map((s) => `  ${s.node.padEnd(10)} ${s.share.toFixed(2)}  ${s.label}`)];
            run.appendOutput(lines.join('\r\n') + '\r\n', undefined, block);
          }
          if (!failed.length) run.passed(block);
          else {
            const m = new vscode.TestMessage(`${failed.length} of ${res.results.length} expectations failed: ${failed.map((f) => `line ${f.line + 1}`).join(', ')}`);
            m.location = new vscode.Location(file.uri!, block.range ?? new vscode.Range(res.line, 0, res.line, 0));
            run.failed(block, m);
          }
        }
      }
    } finally {
      sub.dispose();
      run.end();
    }
  }

  private *iter(c: vscode.TestItemCollection): Generator<vscode.TestItem> {
    const items: vscode.TestItem[] = [];
    c.forEach((i) => items.push(i));
    yield* items;
  }
}
