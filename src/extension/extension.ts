/**
 * Activation: the engine worker, the coordinator, and every contribution (commands, hover, CodeLens,
 * side-panel view, custom editor, status bar), each registered once on the extension's subscriptions.
 */
import * as vscode from 'vscode';
import { join } from 'node:path';
import { CODELENS_SELECTOR, PromptCodeLensProvider } from './codelens';
import { compareGraphFiles } from './compare/compare-panel';
import { compareWith, compareWithCounterfactual } from './compare/compare-prompts';
import { compareDecompositions } from './compare/compare-decompositions';
import { reportError } from './errors';
import { EngineHost } from './engine-host';
import { GRAPH_EDITOR_ID, GraphEditorProvider } from './graph-editor';
import { GRAPH_VIEW_ID } from './graph-view';
import type { FocusArgs } from '../shared/hover-content';
import { TokenHoverProvider } from './hover';
import { Inspector } from './inspector';
import { PromptWords } from './prompt-words';
import { NEW_PROMPT_TEMPLATE } from '../shared/new-prompt';
import { CircuitTestController } from './circuit-tests/controller';

function isFocusArgs(x: unknown): x is FocusArgs {
  const o = x as Record<string, unknown>;
  return !!o && typeof o === 'object' && typeof o.uri === 'string' && Number.isInteger(o.layer) && Number.isInteger(o.feature) && Number.isInteger(o.position) && (o.at === undefined || Number.isInteger(o.at));
}

export function activate(context: vscode.ExtensionContext): { inspector: Inspector } {
  const log = vscode.window.createOutputChannel('Circuit Inspector', { log: true });
  const engine = new EngineHost(join(context.extensionPath, 'dist', 'engine-worker.js'), log);
  const inspector = new Inspector(context, engine, log);
  const sub = (d: vscode.Disposable) => context.subscriptions.push(d);
  sub(log);
  sub(engine);
  sub(inspector);

  const command = (id: string, fn: (...args: unknown[]) => unknown) => sub(vscode.commands.registerCommand(id, fn));
  command('circuitInspector.analyzePrompt', (uri, start, end) =>
    inspector.analyze(uri instanceof vscode.Uri ? uri : undefined, typeof start === 'number' ? start : undefined, typeof end === 'number' ? end : undefined),
  );
  command('circuitInspector.showGraph', (uri, offset) => inspector.showGraph(uri instanceof vscode.Uri ? uri : undefined, typeof offset === 'number' ? offset : undefined));
  command('circuitInspector.saveGraph', (uri) => inspector.saveGraph(uri instanceof vscode.Uri ? uri : undefined));
  // The side panel's own Save button: the graph it shows, whatever block the editor's cursor is in.
  command('circuitInspector.saveShownGraph', () => inspector.saveGraph(undefined, true));
  command('circuitInspector.clearDecorations', () => inspector.clearDecorations());
  command('circuitInspector.focusFeature', (args) => inspector.focusFeature(isFocusArgs(args) ? args : undefined));
  command('circuitInspector.selectModel', () => inspector.selectModel());
  command('circuitInspector.buildDashboards', () => inspector.buildDashboards());
  command('circuitInspector.useEmbeddedModel', () => inspector.useEmbeddedModel());
  command('circuitInspector.selectExecutionProvider', () => inspector.selectProvider());
  command('circuitInspector.selectDictionary', () => inspector.selectDictionary());
  command('circuitInspector.showModelMenu', () => inspector.showModelMenu());
  command('circuitInspector.showLog', () => log.show());
  command('circuitInspector.newPrompt', async () => {
    const doc = await vscode.workspace.openTextDocument({ language: 'circuit-prompt', content: NEW_PROMPT_TEMPLATE });
    const editor = await vscode.window.showTextDocument(doc);
    // The cursor on the first prompt, where Analyze Prompt and the hovers start.
    const end = doc.lineAt(0).range.end;
    editor.selection = new vscode.Selection(end, end);
  });
  const at = (uri: unknown, offset: unknown) => [uri instanceof vscode.Uri ? uri : undefined, typeof offset === 'number' ? offset : undefined] as const;
  command('circuitInspector.compareCounterfactual', (uri, offset) => compareWithCounterfactual(context.extensionUri, inspector, ...at(uri, offset)));
  command('circuitInspector.compareWith', (uri, offset) => compareWith(context.extensionUri, inspector, ...at(uri, offset)));
  command('circuitInspector.compareGraphs', (uri, uris) => compareGraphFiles(context.extensionUri, uri instanceof vscode.Uri ? uri : undefined, Array.isArray(uris) ? uris : undefined));
  command('circuitInspector.compareDecompositions', async (uri, offset) => {
    try {
      await compareDecompositions(context.extensionUri, inspector, ...at(uri, offset));
    } catch (e) {
      await reportError(e, log, 'compare decompositions');
    }
  });
  command('circuitInspector.openGraphAsText', (uri) => uri instanceof vscode.Uri && vscode.commands.executeCommand('vscode.openWith', uri, 'default'));

  sub(vscode.window.registerWebviewViewProvider(GRAPH_VIEW_ID, inspector.view, { webviewOptions: { retainContextWhenHidden: true } }));
  sub(
    vscode.window.registerCustomEditorProvider(
      GRAPH_EDITOR_ID,
      new GraphEditorProvider(context.extensionUri, {
        featureCardOn: (g, ref) => inspector.featureCardOn(g, ref),
        searchFeaturesOn: (g, query) => inspector.searchFeaturesOn(g, query),
        interveneOn: (g, specs, options) => inspector.interveneOn(g, specs, options),
        verifyOn: (g, groups, options, call) => inspector.verifyOn(g, groups, options, call),
        qkOn: (g, nodeId, head) => inspector.qkOn(g, nodeId, head),
        focusOnPrompt: (uri, prompt, ref) => void inspector.focusOnPrompt(uri, prompt, ref),
        canInterveneOn: (g) => inspector.canInterveneOn(g),
      }, log),
      { webviewOptions: { retainContextWhenHidden: false }, supportsMultipleEditorsPerDocument: true },
    ),
  );
  sub(vscode.languages.registerHoverProvider('*', new TokenHoverProvider(inspector.store, engine, log)));
  sub(vscode.languages.registerCodeLensProvider(CODELENS_SELECTOR, new PromptCodeLensProvider(inspector.store)));
  sub(new PromptWords(engine, () => inspector.modelConfig().args.modelPath, log));
  sub(new CircuitTestController((doc, dialect, signal) => inspector.runCircuitTests(doc, dialect, signal), log));
  return { inspector };
}

export function deactivate(): void {
  // Everything is on context.subscriptions; VS Code disposes it (the worker is terminated there).
}
