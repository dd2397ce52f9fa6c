/**
 * One graph viewer webview (used by the side-panel view and by each *.graph.json editor): its HTML
 * and options, the ready handshake, validation of every incoming message, replies by request id, and
 * export to files. What the viewer shows and does is delegated to its owner.
 */
import * as vscode from 'vscode';
import { isEngineError } from '../engine/errors';
import { randomBytes } from 'node:crypto';
import { dispatchMessage, parseFromWebview, type ExportFormat, type MessageHandlers, type FeatureCard, type FeatureRef, type FeatureSearchHitView, type FromWebview, type GraphFile, type InterventionOutcome, type InterventionSpec, type InterveneOptionsView, type FeatureAt, type QkView, type VerifyOptionsView, type VerifyView, type ToWebview, type ViewerInitState } from '../shared/protocol';
import { Disposable } from './disposable';
import { notificationText } from './errors';
import { viewerHtml } from '../shared/viewer-html';

export interface ViewerDelegate {
  initState(): ViewerInitState;
  featureCard(ref: FeatureRef): Promise<FeatureCard>;
  /** Features of the whole dictionary matching label text (the loaded model's feature dashboards). */
  searchFeatures(query: string): Promise<FeatureSearchHitView[]>;
  intervene(specs: InterventionSpec[], options?: InterveneOptionsView): Promise<InterventionOutcome>;
  /** Predicted vs measured ablation effects; absent where the graph's prompt cannot be run. */
  verify?(groups: FeatureAt[][], options: VerifyOptionsView, call: VerifyCall): Promise<VerifyView>;
  focusFeature(ref: FeatureRef, nodeId: string): void;
  openPrompt(): void;
  /** The viewer finished its handshake (it has drawn its initial state). */
  ready?(): void;
  /** Pins and supernodes as the viewer has them now (Neuronpedia qParams form). */
  viewState?(pinnedIds: string[], supernodes: string[][]): void;
  /** QK attribution of a node of the shown graph (absent: its prompt cannot be traced here). */
  qk?(nodeId: string, head?: { layer: number; head: number }): Promise<QkView>;
  /** The shown analysis pruned again at a node threshold (absent: this viewer's graph cannot be). */
  prune?(nodeThreshold: number): Promise<GraphFile>;
  /** Folder and base name offered by the export save dialog. */
  exportTarget(): { dir?: vscode.Uri; base: string };
}

/** How a long request is run: cancelled from the viewer, its progress shown there. */
export interface VerifyCall {
  signal: AbortSignal;
  onProgress(p: { stage: string; fraction?: number }): void;
}

export function webviewOptions(extensionUri: vscode.Uri): vscode.WebviewOptions {
  return {
    enableScripts: true,
    localResourceRoots: [vscode.Uri.joinPath(extensionUri, 'dist'), vscode.Uri.joinPath(extensionUri, 'media')],
  };
}

export class GraphWebview extends Disposable {
  private ready = false;
  private readonly queue: ToWebview[] = [];
  /** Requests that can be cancelled from the viewer, by request id. */
  private readonly running = new Map<number, AbortController>();

  constructor(
    private readonly webview: vscode.Webview,
    extensionUri: vscode.Uri,
    private readonly delegate: ViewerDelegate,
    private readonly log: vscode.LogOutputChannel,
    title: string,
  ) {
    super();
    webview.options = webviewOptions(extensionUri);
    const uri = (...p: string[]) => webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, ...p)).toString();
    webview.html = viewerHtml({
      cspSource: webview.cspSource,
      nonce: randomBytes(16).toString('base64'),
      scriptUri: uri('dist', 'webview.js'),
      cssUri: uri('media', 'webview.css'),
      codiconUri: uri('dist', 'codicons', 'codicon.css'),
      title,
    });
    this._register(webview.onDidReceiveMessage((raw) => this.onMessage(raw)));
  }

  /** Posts now when the viewer is ready, otherwise after its handshake (messages before it would be lost). */
  post(m: ToWebview): void {
    if (this.ready) void this.webview.postMessage(m);
    else this.queue.push(m);
  }

  private reply(m: ToWebview): void {
    void this.webview.postMessage(m);
  }

  private async onMessage(raw: unknown): Promise<void> {
    const m = parseFromWebview(raw);
    if (!m) {
      this.log.warn('ignored a malformed message from the graph view');
      return;
    }
    try {
      await this.dispatch(m);
    } catch (e) {
      // Expected refusals in one line; a stack trace only for a bug.
      if (isEngineError(e) && e.code !== 'INTERNAL') this.log.warn(`graph view ${m.type}: [${e.code}] ${e.message}`);
      else this.log.error(`graph view ${m.type}: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
    }
  }

  private dispatch(m: FromWebview): Promise<void> {
    return dispatchMessage(this.handlers, m);
  }

  /** One handler per message the webview may send (a new message type without one fails to compile). */
  private readonly handlers = {
    ready: async (m) => {
      // A reloaded webview (hidden and shown again) handshakes again: start from the current state.
      this.ready = false;
      this.reply({ type: 'init', inReplyTo: m.requestId, state: this.delegate.initState() });
      this.ready = true;
      for (const q of this.queue.splice(0)) if (q.type !== 'setGraph') void this.webview.postMessage(q);
      this.delegate.ready?.();
    },
    requestFeatureCard: async (m) => {
      try {
        this.reply({ type: 'featureCard', inReplyTo: m.requestId, card: await this.delegate.featureCard(m.feature) });
      } catch (e) {
        this.reply({ type: 'featureCard', inReplyTo: m.requestId, error: notificationText(e).text });
      }
    },
    searchFeatures: async (m) => {
      try {
        this.reply({ type: 'featureSearch', inReplyTo: m.requestId, hits: await this.delegate.searchFeatures(m.query) });
      } catch (e) {
        this.reply({ type: 'featureSearch', inReplyTo: m.requestId, error: notificationText(e).text });
      }
    },
    intervene: async (m) => {
      try {
        this.reply({ type: 'interventionResult', inReplyTo: m.requestId, outcome: await this.delegate.intervene(m.interventions, m.options) });
      } catch (e) {
        this.reply({ type: 'interventionResult', inReplyTo: m.requestId, error: notificationText(e).text });
      }
    },
    prune: async (m) => {
      try {
        if (!this.delegate.prune) throw new Error('This graph cannot be pruned again: it holds only the edges it was saved with.');
        this.reply({ type: 'pruned', inReplyTo: m.requestId, graph: await this.delegate.prune(m.nodeThreshold) });
      } catch (e) {
        this.reply({ type: 'pruned', inReplyTo: m.requestId, error: notificationText(e).text });
      }
    },
    verify: async (m) => {
      const abort = new AbortController();
      this.running.set(m.requestId, abort);
      try {
        if (!this.delegate.verify) throw new Error('This graph cannot be verified here.');
        const onProgress = (p: { stage: string; fraction?: number }) => this.reply({ type: 'progress', forRequest: m.requestId, stage: p.stage, ...(p.fraction !== undefined ? { fraction: p.fraction } : {}) });
        const options = { ...(m.semantics ? { semantics: m.semantics } : {}), ...(m.keep ? { keep: m.keep } : {}) };
        this.reply({ type: 'verifyResult', inReplyTo: m.requestId, report: await this.delegate.verify(m.groups, options, { signal: abort.signal, onProgress }) });
      } catch (e) {
        this.reply({ type: 'verifyResult', inReplyTo: m.requestId, error: notificationText(e).text });
      } finally {
        this.running.delete(m.requestId);
      }
    },
    cancel: async (m) => this.running.get(m.forRequest)?.abort(),
    requestQk: async (m) => {
      try {
        if (!this.delegate.qk) throw new Error('This graph\'s prompt cannot be traced here: open it from an analysis.');
        this.reply({ type: 'qkResult', inReplyTo: m.requestId, qk: await this.delegate.qk(m.nodeId, m.head) });
      } catch (e) {
        this.reply({ type: 'qkResult', inReplyTo: m.requestId, error: notificationText(e).text });
      }
    },
    focusFeature: async (m) => this.delegate.focusFeature(m.feature, m.nodeId),
    openPrompt: async () => this.delegate.openPrompt(),
    analyze: async () => {
      await vscode.commands.executeCommand('circuitInspector.analyzePrompt');
    },
    viewState: async (m) => this.delegate.viewState?.(m.pinnedIds, m.supernodes),
    export: async (m) => {
      try {
        const path = await this.saveExport(m.format, m.data);
        this.reply({ type: 'exportDone', inReplyTo: m.requestId, path });
      } catch (e) {
        this.reply({ type: 'exportDone', inReplyTo: m.requestId, error: notificationText(e).text });
      }
    },
    log: async (m) => {
      if (m.level === 'error') this.log.error(`graph view: ${m.message}`);
      else this.log.info(`graph view: ${m.message}`);
    },
  } satisfies MessageHandlers<FromWebview, Promise<void>>;

  private async saveExport(format: ExportFormat, data: string): Promise<string | undefined> {
    const { dir, base } = this.delegate.exportTarget();
    const ext = format === 'json' ? 'graph.json' : format;
    const filters: Record<string, string[]> = format === 'png' ? { 'PNG image': ['png'] } : format === 'svg' ? { 'SVG image': ['svg'] } : { 'Graph JSON': ['json'] };
    const defaultUri = dir ? vscode.Uri.joinPath(dir, `${base}.${ext}`) : undefined;
    const target = await vscode.window.showSaveDialog({ defaultUri, filters, title: `Export graph as ${format.toUpperCase()}` });
    if (!target) return undefined;
    const bytes = format === 'png' ? Buffer.from(data, 'base64') : Buffer.from(data, 'utf8');
    await vscode.workspace.fs.writeFile(target, bytes);
    void vscode.window.showInformationMessage(`Graph exported to ${vscode.workspace.asRelativePath(target)}.`);
    return target.fsPath;
  }
}
