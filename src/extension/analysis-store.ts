/**
 * The analyses of open documents: one per analysed prompt block (a file with several blocks keeps each
 * block's analysis, so hovering block 2 after analysing block 3 still describes block 2). Each holds the
 * prompt's place in the text, its tokens, per-token features and predictions, the graph, and the
 * logit-lens rows fetched so far (the hover cache). Edits before a prompt shift it; edits that touch it
 * drop that analysis only, so a hover never describes text that has changed.
 */
import * as vscode from 'vscode';
import type { FeatureRef, GraphFile } from '../shared/protocol';
import type { ForwardResult, LensRow } from '../shared/rpc';
import { Disposable } from './disposable';
import { shiftRange } from '../shared/token-map';

export interface Analysis {
  uri: vscode.Uri;
  promptStart: number;
  promptEnd: number;
  text: string;
  forward: ForwardResult;
  graph?: GraphFile;
  lens: Map<number, LensRow[]>;
  focused?: { feature: FeatureRef; values: number[] };
}

/** Whether two prompt ranges share a character (or are the same empty place). */
function overlaps(a: { promptStart: number; promptEnd: number }, b: { promptStart: number; promptEnd: number }): boolean {
  return a.promptStart < b.promptEnd && b.promptStart < a.promptEnd || a.promptStart === b.promptStart;
}

export class AnalysisStore extends Disposable {
  /** Per document, its analyses in the order they were made (the last is the latest). */
  private readonly byUri = new Map<string, Analysis[]>();
  private readonly _onDidChange = this._register(new vscode.EventEmitter<vscode.Uri>());
  readonly onDidChange = this._onDidChange.event;

  constructor() {
    super();
    this._register(
      vscode.workspace.onDidChangeTextDocument((ev) => {
        const list = this.byUri.get(ev.document.uri.toString());
        if (!list || !ev.contentChanges.length) return;
        const changes = ev.contentChanges.map((c) => ({ offset: c.rangeOffset, removed: c.rangeLength, inserted: c.text.length }));
        const kept = list.filter((a) => {
          const moved = shiftRange({ start: a.promptStart, end: a.promptEnd }, changes);
          if (!moved) return false;
          a.promptStart = moved.start;
          a.promptEnd = moved.end;
          return true;
        });
        if (kept.length === list.length) return;
        if (kept.length) this.byUri.set(ev.document.uri.toString(), kept);
        else this.byUri.delete(ev.document.uri.toString());
        this._onDidChange.fire(ev.document.uri);
      }),
    );
    this._register(vscode.workspace.onDidCloseTextDocument((d) => this.delete(d.uri)));
  }

  /**
   * The analysis of the block at `offset` (a cursor at a prompt's very end still counts as inside it);
   * without an offset, the document's latest analysis.
   */
  get(uri: vscode.Uri, offset?: number): Analysis | undefined {
    const list = this.byUri.get(uri.toString());
    if (!list?.length) return undefined;
    if (offset === undefined) return list[list.length - 1];
    return list.find((a) => offset >= a.promptStart && offset <= a.promptEnd);
  }

  /** Every analysis of a document, oldest first. */
  forUri(uri: vscode.Uri): readonly Analysis[] {
    return this.byUri.get(uri.toString()) ?? [];
  }

  has(a: Analysis): boolean {
    return this.forUri(a.uri).includes(a);
  }

  /** Adds (or refreshes) an analysis; one of the same block made earlier is replaced. */
  set(a: Analysis): void {
    const key = a.uri.toString();
    const list = (this.byUri.get(key) ?? []).filter((x) => x !== a && !overlaps(x, a));
    list.push(a);
    this.byUri.set(key, list);
    this._onDidChange.fire(a.uri);
  }

  delete(uri: vscode.Uri): void {
    if (this.byUri.delete(uri.toString())) this._onDidChange.fire(uri);
  }

  all(): Analysis[] {
    return [...this.byUri.values()].flat();
  }
}
