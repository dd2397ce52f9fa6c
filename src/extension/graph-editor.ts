/**
 * A read-only custom editor for `*.graph.json`: any circuit-tracer / Neuronpedia graph file opens as a
 * graph. The file is validated by the engine's graph-file reader; an invalid file shows its error in
 * the panel (and a notification), never a blank view. The toolbar links back to the prompt file.
 */
import * as vscode from 'vscode';
import { parseGraphFile } from '../engine/graph-file';
import type { FeatureAt, FeatureRef, GraphFile, GraphPayload, InterveneOptionsView, InterventionSpec, QkView, VerifyOptionsView, VerifyView } from '../shared/protocol';
import { Disposable } from './disposable';
import { notificationText } from './errors';
import { GraphWebview, type ViewerDelegate, type VerifyCall } from './graph-webview';
import { labelMinF1Setting, SECTION } from './settings';

export const GRAPH_EDITOR_ID = 'circuitInspector.graphFile';

export interface GraphFileHost {
  featureCardOn(graph: GraphFile, ref: FeatureRef): ReturnType<ViewerDelegate['featureCard']>;
  /** Searches the dictionary of the model the graph was made with (rejects when another is loaded). */
  searchFeaturesOn(graph: GraphFile, query: string): ReturnType<ViewerDelegate['searchFeatures']>;
  /** Steers on the graph's own prompt; rejects when the loaded model is not the graph's. */
  interveneOn(graph: GraphFile, specs: InterventionSpec[], options?: InterveneOptionsView): ReturnType<ViewerDelegate['intervene']>;
  verifyOn(graph: GraphFile, groups: FeatureAt[][], options: VerifyOptionsView, call: VerifyCall): Promise<VerifyView>;
  /** QK attribution of a node on the graph's own prompt; rejects when the loaded model is not the graph's. */
  qkOn(graph: GraphFile, nodeId: string, head?: { layer: number; head: number }): Promise<QkView>;
  /** Paints a feature on the prompt file, when it is open and holds the graph's prompt. */
  focusOnPrompt(promptUri: vscode.Uri | undefined, prompt: string, ref: FeatureRef): void;
  canInterveneOn(graph: GraphFile): boolean;
}

/** The prompt file a saved graph links to: metadata.prompt_file relative to the graph's folder. */
export function promptUriOf(graphUri: vscode.Uri, graph: GraphFile): vscode.Uri | undefined {
  const rel = graph.metadata.prompt_file;
  if (typeof rel !== 'string' || !rel || rel.includes('\0')) return undefined;
  const dir = vscode.Uri.joinPath(graphUri, '..');
  // Only a path inside the graph's folder tree: a file from a stranger must not point elsewhere.
  const target = vscode.Uri.joinPath(dir, rel);
  return target.path.startsWith(dir.path.endsWith('/') ? dir.path : dir.path + '/') ? target : undefined;
}

class GraphDocument implements vscode.CustomDocument {
  constructor(readonly uri: vscode.Uri) {}
  dispose(): void {}
}

export class GraphEditorProvider extends Disposable implements vscode.CustomReadonlyEditorProvider<GraphDocument> {
  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly host: GraphFileHost,
    private readonly log: vscode.LogOutputChannel,
  ) {
    super();
  }

  openCustomDocument(uri: vscode.Uri): GraphDocument {
    return new GraphDocument(uri);
  }

  async resolveCustomEditor(doc: GraphDocument, panel: vscode.WebviewPanel): Promise<void> {
    let payload: GraphPayload | undefined;
    let message: string | undefined;
    let graph: GraphFile | undefined;
    try {
      const bytes = await vscode.workspace.fs.readFile(doc.uri);
      graph = parseGraphFile(bytes, { onWarning: (m) => this.log.warn(`${doc.uri.fsPath}: ${m}`) });
      const promptUri = promptUriOf(doc.uri, graph);
      payload = {
        graph,
        title: doc.uri.path.split('/').pop() ?? 'graph',
        canIntervene: this.host.canInterveneOn(graph),
        canTraceQk: this.host.canInterveneOn(graph),
        source: 'file',
        promptLink: promptUri ? vscode.workspace.asRelativePath(promptUri) : undefined,
        labelMinF1: labelMinF1Setting((k) => vscode.workspace.getConfiguration(SECTION).get(k)),
      };
    } catch (e) {
      message = `This graph file cannot be shown. ${notificationText(e).text}`;
      this.log.error(`${doc.uri.fsPath}: ${e instanceof Error ? e.message : String(e)}`);
      void vscode.window.showErrorMessage(`Circuit Inspector: ${message}`, 'Open as Text').then((pick) => {
        if (pick) void vscode.commands.executeCommand('vscode.openWith', doc.uri, 'default');
      });
    }
    const g = graph;
    const viewer = new GraphWebview(
      panel.webview,
      this.extensionUri,
      {
        initState: () => ({ payload, message }),
        featureCard: (ref) => (g ? this.host.featureCardOn(g, ref) : Promise.reject(new Error('No graph.'))),
        searchFeatures: (query) => (g ? this.host.searchFeaturesOn(g, query) : Promise.reject(new Error('No graph.'))),
        intervene: (specs, options) => (g ? this.host.interveneOn(g, specs, options) : Promise.reject(new Error('No graph.'))),
        verify: (groups, options, call) => (g ? this.host.verifyOn(g, groups, options, call) : Promise.reject(new Error('No graph.'))),
        qk: (nodeId, head) => (g ? this.host.qkOn(g, nodeId, head) : Promise.reject(new Error('No graph.'))),
        focusFeature: (ref) => g && this.host.focusOnPrompt(promptUriOf(doc.uri, g), String(g.metadata.prompt ?? ''), ref),
        openPrompt: () => void this.openPrompt(doc.uri, g),
        exportTarget: () => ({ dir: vscode.Uri.joinPath(doc.uri, '..'), base: (doc.uri.path.split('/').pop() ?? 'graph').replace(/\.graph\.json$|\.json$/i, '') }),
      },
      this.log,
      payload?.title ?? 'Graph',
    );
    panel.onDidDispose(() => viewer.dispose());
  }

  private async openPrompt(graphUri: vscode.Uri, graph: GraphFile | undefined): Promise<void> {
    if (!graph) return;
    const uri = promptUriOf(graphUri, graph);
    if (uri) {
      try {
        await vscode.window.showTextDocument(uri, { viewColumn: vscode.ViewColumn.Beside });
        return;
      } catch {
        // The prompt file moved or was deleted: fall back to the prompt text kept in the graph.
      }
    }
    const doc = await vscode.workspace.openTextDocument({ content: String(graph.metadata.prompt ?? ''), language: 'circuit-prompt' });
    await vscode.window.showTextDocument(doc, { viewColumn: vscode.ViewColumn.Beside });
  }
}
