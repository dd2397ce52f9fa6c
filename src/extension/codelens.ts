/** "Analyze" above each prompt block of `*.prompt` / `*.prompt.md` / markdown ```prompt blocks. */
import * as vscode from 'vscode';
import { dialectFor, findPromptBlocks } from '../shared/prompt-blocks';
import type { AnalysisStore } from './analysis-store';

export const CODELENS_SELECTOR: vscode.DocumentSelector = [
  { language: 'circuit-prompt' },
  { pattern: '**/*.prompt' },
  { pattern: '**/*.prompt.md' },
  { language: 'markdown' },
];

export class PromptCodeLensProvider implements vscode.CodeLensProvider {
  readonly onDidChangeCodeLenses: vscode.Event<void>;

  constructor(private readonly store: AnalysisStore) {
    const emitter = new vscode.EventEmitter<void>();
    store.onDidChange(() => emitter.fire());
    this.onDidChangeCodeLenses = emitter.event;
  }

  provideCodeLenses(doc: vscode.TextDocument): vscode.CodeLens[] {
    const text = doc.getText();
    const dialect = dialectFor(doc.languageId, doc.fileName);
    const blocks = findPromptBlocks(text, dialect);
    const analysed = this.store.forUri(doc.uri);
    const lenses: vscode.CodeLens[] = [];
    for (const b of blocks) {
      // A fenced block's lens sits on its opening fence, not between the fence and the prompt.
      const line = Math.max(0, doc.positionAt(b.start).line - (dialect === 'markdown' ? 1 : 0));
      const range = new vscode.Range(line, 0, line, 0);
      lenses.push(
        new vscode.CodeLens(range, {
          title: '$(type-hierarchy) Analyze',
          tooltip: 'Compute the attribution graph of this prompt',
          command: 'circuitInspector.analyzePrompt',
          arguments: [doc.uri, b.start, b.end],
        }),
      );
      if (b.counterfactual) {
        lenses.push(
          new vscode.CodeLens(range, {
            title: '$(diff) Compare with counterfactual',
            tooltip: `Compare this prompt's graph with the graph of "${b.counterfactual.prompt}"`,
            command: 'circuitInspector.compareCounterfactual',
            arguments: [doc.uri, b.start],
          }),
        );
      }
      if (analysed.some((a) => a.promptStart === b.start && a.graph)) {
        lenses.push(new vscode.CodeLens(range, { title: 'Show Graph', command: 'circuitInspector.showGraph', arguments: [doc.uri, b.start] }));
      }
    }
    return lenses;
  }
}
