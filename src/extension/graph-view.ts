/**
 * The side-panel graph: a webview view in the Circuit Inspector activity-bar container. It shows the
 * graph of the latest analysis; the webview is created when the view is first shown and disposed with
 * it (and everything it registered).
 */
import * as vscode from 'vscode';
import type { GraphPayload } from '../shared/protocol';
import { Disposable } from './disposable';
import { GraphWebview, type ViewerDelegate } from './graph-webview';

export const GRAPH_VIEW_ID = 'circuitInspector.graphView';

export class GraphViewProvider extends Disposable implements vscode.WebviewViewProvider {
  private view?: vscode.WebviewView;
  private viewer?: GraphWebview;
  private payload?: GraphPayload;

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly delegate: Omit<ViewerDelegate, 'initState'>,
    private readonly log: vscode.LogOutputChannel,
  ) {
    super();
    this._register({ dispose: () => this.viewer?.dispose() });
  }

  resolveWebviewView(view: vscode.WebviewView): void {
    this.viewer?.dispose();
    this.view = view;
    const viewer = new GraphWebview(
      view.webview,
      this.extensionUri,
      { ...this.delegate, initState: () => ({ payload: this.payload }), ready: () => this.afterReady() },
      this.log,
      'Circuit graph',
    );
    this.viewer = viewer;
    view.onDidDispose(() => {
      viewer.dispose();
      if (this.viewer === viewer) {
        this.viewer = undefined;
        this.view = undefined;
      }
    });
  }

  get current(): GraphPayload | undefined {
    return this.payload;
  }

  /** Shows a graph, opening the view if needed (the handshake then delivers it). */
  async show(payload: GraphPayload): Promise<void> {
    this.payload = payload;
    this.viewer?.post({ type: 'setGraph', payload });
    await this.reveal();
  }

  /** The shown graph was replaced in the viewer itself (re-pruned): remember it for a reloaded webview. */
  replaceGraph(graph: GraphPayload['graph']): void {
    if (this.payload) this.payload = { ...this.payload, graph };
  }

  /** Shows the view without taking the focus from the editor (the user goes on hovering the prompt). */
  async reveal(): Promise<void> {
    if (this.view) {
      this.view.show(true);
      return;
    }
    // A view that was never opened can only be created through its focus command, which moves the focus
    // (and the webview takes it again once loaded): give it back to the editor after the handshake.
    this.refocusEditor = !!vscode.window.activeTextEditor;
    await vscode.commands.executeCommand(`${GRAPH_VIEW_ID}.focus`);
  }

  private refocusEditor = false;
  private afterReady(): void {
    if (!this.refocusEditor) return;
    this.refocusEditor = false;
    setTimeout(() => void vscode.commands.executeCommand('workbench.action.focusActiveEditorGroup'), 150);
  }

  busy(busy: boolean, label?: string): void {
    this.viewer?.post({ type: 'busy', busy, label });
  }

  focusNode(feature: { layer: number; feature: number }, position?: number): void {
    this.viewer?.post({ type: 'focusNode', feature, position });
  }
}
