/**
 * The analyses of open documents: per document, the analysed prompt's place in the text, its tokens,
 * per-token features and predictions, the graph, and the logit-lens rows fetched so far (the hover
 * cache). Edits before a prompt shift it; edits that touch it drop the analysis, so a hover never
 * describes text that has changed.
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

export class AnalysisStore extends Disposable {
  private readonly byUri = new Map<string, Analysis>();
  private readonly _onDidChange = this._register(new vscode.EventEmitter<vscode.Uri>());
  readonly onDidChange = this._onDidChange.event;

  constructor() {
    super();
    this._register(
      vscode.workspace.onDidChangeTextDocument((ev) => {
        const a = this.byUri.get(ev.document.uri.toString());
        if (!a || !ev.contentChanges.length) return;
        const moved = shiftRange(
          { start: a.promptStart, end: a.promptEnd },
          ev.contentChanges.map((c) => ({ offset: c.rangeOffset, removed: c.rangeLength, inserted: c.text.length })),
        );
        if (!moved) this.delete(ev.document.uri);
        else {
          a.promptStart = moved.start;
          a.promptEnd = moved.end;
        }
      }),
    );
    this._register(vscode.workspace.onDidCloseTextDocument((d) => this.delete(d.uri)));
  }

  get(uri: vscode.Uri): Analysis | undefined {
    return this.byUri.get(uri.toString());
  }

  set(a: Analysis): void {
    this.byUri.set(a.uri.toString(), a);
    this._onDidChange.fire(a.uri);
  }

  delete(uri: vscode.Uri): void {
    if (this.byUri.delete(uri.toString())) this._onDidChange.fire(uri);
  }

  all(): Analysis[] {
    return [...this.byUri.values()];
  }
}
