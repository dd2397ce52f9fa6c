/** The status bar item: the model and the execution provider in use; a click offers to change them. */
import * as vscode from 'vscode';
import type { ModelInfo } from '../shared/rpc';
import { Disposable } from './disposable';

export class ModelStatusBar extends Disposable {
  private readonly item: vscode.StatusBarItem;

  constructor() {
    super();
    this.item = this._register(vscode.window.createStatusBarItem('circuitInspector.model', vscode.StatusBarAlignment.Right, 100));
    this.item.name = 'Circuit Inspector Model';
    this.item.command = 'circuitInspector.showModelMenu';
    this.item.show();
  }

  update(info: ModelInfo | undefined, configured: { modelLabel: string; provider: string; note?: string }): void {
    if (info) {
      this.item.text = `$(circuit-board) ${info.name} · ${info.provider}`;
      const md = new vscode.MarkdownString();
      md.appendText(`Model: ${info.name} (${info.nLayers} layers, d_model ${info.dModel})\n\n`);
      md.appendText(`Folder: ${info.dir}\n\n`);
      if (info.transcoders) md.appendText(`Dictionary: ${info.transcoders.kind}, ${info.transcoders.nFeatures} features\n\n`);
      md.appendText(`Execution provider: ${info.provider}${info.providerNote ? ` — ${info.providerNote}` : ''}\n\n`);
      if (configured.note) md.appendText(`${configured.note}\n\n`);
      md.appendText('Click to change the model or the execution provider.');
      this.item.tooltip = md;
    } else {
      this.item.text = `$(circuit-board) ${configured.modelLabel} · ${configured.provider}`;
      this.item.tooltip = `Circuit Inspector: ${configured.modelLabel} (not loaded yet) on ${configured.provider}.${configured.note ? ` ${configured.note}` : ''} Click to change.`;
    }
  }
}
