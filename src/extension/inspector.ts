/**
 * The extension's coordinator: resolves settings into a model to load, runs Analyze Prompt (forward
 * pass, then attribution) with a cancellable progress notification, keeps analyses for hovers and
 * decorations, feeds the side panel, saves graphs, and answers the viewers' requests.
 */
import * as vscode from 'vscode';
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { EngineError } from '../engine/errors';
import { serializeGraphFile, type GraphFile } from '../engine/graph-file';
import type { FeatureAt, FeatureCard, FeatureRef, FeatureSearchHitView, GraphPayload, InterveneOptionsView, InterventionOutcome, InterventionSpec, QkView, VerifyOptionsView, VerifyView } from '../shared/protocol';
import type { VerifyCall } from './graph-webview';

/** The panel's intervention options as the worker's request fields. */
function interveneExtras(o?: InterveneOptionsView) {
  return { semantics: o?.semantics, track: o?.trackIds, trackTokens: o?.track, generate: o?.generate };
}
import type { LoadModelArgs, Progress } from '../shared/rpc';
import { progressReporter } from './progress';
import type { DecompositionReport } from '../shared/decomposition-report';
import { AnalysisStore, type Analysis } from './analysis-store';
import { ActivationDecorations } from './decorations';
import { Disposable } from './disposable';
import { EngineHost } from './engine-host';
import { reportError } from './errors';
import { GRAPH_EDITOR_ID } from './graph-editor';
import { GraphViewProvider } from './graph-view';
import type { FocusArgs } from '../shared/hover-content';
import { choosePrompt, dialectFor, findPromptBlocks, type PromptDialect } from '../shared/prompt-blocks';
import { blockGraphFileName, shareableOwnMetadata, type LocalPathsSetting } from '../shared/saved-graph';
import type { BlockResult } from '../shared/circuit-tests';
import { SECTION, analysisSettings, labelMinF1Setting, providerSetting, resolveDictionaryName, resolveTrustedPath, PROVIDERS } from './settings';
import { ModelStatusBar } from './status-bar';

/** Features listed per search of the whole dictionary (the panel shows them with their scores). */
const SEARCH_RESULTS = 30;

interface PanelSource {
  uri: vscode.Uri;
  text: string;
}

export class Inspector extends Disposable {
  readonly store = this._register(new AnalysisStore());
  readonly decorations = this._register(new ActivationDecorations());
  readonly status = this._register(new ModelStatusBar());
  readonly view: GraphViewProvider;
  private panelSource?: PanelSource;
  /** The analysis whose unpruned attribution the worker keeps (its last `analyze`). */
  private attributed?: Analysis;
  private running?: AbortController;

  constructor(
    private readonly context: vscode.ExtensionContext,
    readonly engine: EngineHost,
    private readonly log: vscode.LogOutputChannel,
  ) {
    super();
    this.view = this._register(
      new GraphViewProvider(
        context.extensionUri,
        {
          featureCard: (ref) => this.featureCard(ref),
          searchFeatures: (query) => this.searchFeatures(query),
          intervene: (specs, options) => this.interveneOnPanel(specs, options),
          verify: (groups, options, call) => this.verifyOnPanel(groups, options, call),
          focusFeature: (ref) => this.panelSource && void this.focusFeature({ uri: this.panelSource.uri.toString(), ...ref, position: -1, at: this.panelAnalysis()?.promptStart }, false),
          openPrompt: () => this.panelSource && void vscode.window.showTextDocument(this.panelSource.uri),
          viewState: (pinnedIds, supernodes) => {
            const a = this.panelAnalysis();
            if (a?.graph) a.graph = { ...a.graph, qParams: { ...(a.graph.qParams ?? {}), pinnedIds, supernodes } };
          },
          prune: (t) => this.pruneOnPanel(t),
          qk: (nodeId, head) => this.qkOnPanel(nodeId, head),
          exportTarget: () => this.exportTarget(),
        },
        log,
      ),
    );
    this._register(engine.onDidChangeModel(() => this.updateStatus()));
    this._register(
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (['modelPath', 'transcoderPath', 'dictionary', 'executionProvider', 'precision'].some((k) => e.affectsConfiguration(`${SECTION}.${k}`))) {
          engine.invalidate();
          this.updateStatus();
        }
      }),
    );
    this._register(vscode.workspace.onDidGrantWorkspaceTrust(() => {
      engine.invalidate();
      this.updateStatus();
    }));
    this._register(this.store.onDidChange((uri) => {
      if (!this.store.forUri(uri).some((a) => a.focused)) this.decorations.clear(uri);
    }));
    this.decorations.onEditorsChanged = () => {
      for (const a of this.store.all()) if (a.focused) this.decorations.paint(a);
    };
    this._register({ dispose: () => this.running?.abort() });
    this.updateStatus();
  }

  // ------------------------------------------------------------------------------------------ model

  private get embeddedModel(): string {
    return join(this.context.extensionPath, 'models', 'toy-llama');
  }

  private absPath(p: string): string {
    let q = p.trim();
    if (q === '~' || q.startsWith('~/')) q = join(homedir(), q.slice(1));
    if (!isAbsolute(q)) {
      const folder = vscode.workspace.workspaceFolders?.[0];
      if (folder) q = join(folder.uri.fsPath, q);
    }
    return q;
  }

  /** The model to load, honouring workspace trust (restricted mode ignores workspace paths). */
  modelConfig(): { args: LoadModelArgs; label: string; note?: string } {
    const cfg = vscode.workspace.getConfiguration(SECTION);
    const trusted = vscode.workspace.isTrusted;
    const m = resolveTrustedPath(cfg.inspect<string>('modelPath'), trusted);
    const tc = resolveTrustedPath(cfg.inspect<string>('transcoderPath'), trusted);
    const named = resolveDictionaryName(cfg.inspect<string>('dictionary'), trusted);
    const modelPath = m.value ? this.absPath(m.value) : this.embeddedModel;
    const ignored = m.ignoredWorkspaceValue || tc.ignoredWorkspaceValue || named.ignoredWorkspaceValue;
    const precision = cfg.get<string>('precision');
    return {
      args: {
        modelPath,
        transcoderPath: tc.value ? this.absPath(tc.value) : named.value ? join(modelPath, named.value) : undefined,
        provider: providerSetting(cfg.get('executionProvider')),
        precision: precision === 'f32' || precision === 'f16' ? precision : 'auto',
        cacheDir: join(this.context.globalStorageUri.fsPath, 'onnx-cache'),
        dashboardsDir: join(this.context.globalStorageUri.fsPath, 'dashboards'),
      },
      label: m.value ? modelPath.split(/[\\/]/).filter(Boolean).pop() ?? modelPath : 'toy-llama (embedded)',
      note: ignored ? 'A model path from the workspace settings was ignored because this workspace is not trusted.' : undefined,
    };
  }

  private updateStatus(): void {
    const c = this.modelConfig();
    this.status.update(this.engine.model, { modelLabel: c.label, provider: c.args.provider, note: c.note });
  }

  private ensureModel(signal?: AbortSignal, onProgress?: (p: Progress) => void) {
    return this.engine.ensureModel(this.modelConfig().args, { signal, onProgress });
  }

  /** Runs a prompt document's circuit tests in the engine (the runner `circuit-inspector test` uses). */
  async runCircuitTests(doc: string, dialect: PromptDialect, signal?: AbortSignal): Promise<BlockResult[]> {
    await this.ensureModel(signal);
    return this.engine.call('circuitTests', { doc, dialect }, { signal });
  }

  // ------------------------------------------------------------------------------------- dashboards

  /**
   * Build Feature Dashboards: the corpus named by circuitInspector.dashboards.corpus (files relative to
   * the workspace; asked for when unset), streamed through the model in the worker with progress and
   * Cancel; a cancelled build keeps a checkpoint and the next run continues from it.
   */
  async buildDashboards(): Promise<void> {
    try {
      const cfg = vscode.workspace.getConfiguration(SECTION);
      // A workspace may name its corpus only when trusted (it makes the extension read those files).
      const named = resolveTrustedPath(cfg.inspect<string>('dashboards.corpus'), vscode.workspace.isTrusted).value;
      let files = named ? named.split(/[,;]/).map((f) => f.trim()).filter(Boolean).map((f) => this.absPath(f)) : [];
      if (!files.length) {
        const picked = await vscode.window.showOpenDialog({ canSelectMany: true, openLabel: 'Build dashboards from this corpus', filters: { 'Text or JSONL': ['txt', 'jsonl', 'md'] } });
        if (!picked?.length) return;
        files = picked.map((u) => u.fsPath);
      }
      const ac = new AbortController();
      const r = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: 'Circuit Inspector: feature dashboards', cancellable: true },
        async (progress, ct) => {
          ct.onCancellationRequested(() => ac.abort());
          const onProgress = progressReporter(progress);
          await this.ensureModel(ac.signal, onProgress);
          return this.engine.call('buildDashboards', { corpus: files, resume: true }, { signal: ac.signal, onProgress });
        },
      );
      this.log.info(`dashboards: ${r.features} features over ${r.tokens} tokens in ${r.seconds.toFixed(1)} s (${r.tokensPerSecond.toFixed(0)} tokens/s) → ${r.path}`);
      void vscode.window.showInformationMessage(`Circuit Inspector: dashboards of ${r.features} features built from ${r.tokens} tokens (${r.tokensPerSecond.toFixed(0)} tokens/s).`);
    } catch (e) {
      await reportError(e, this.log, 'build dashboards');
    }
  }

  // ---------------------------------------------------------------------------------------- analyze

  async analyze(uriArg?: vscode.Uri, startArg?: number, endArg?: number): Promise<void> {
    const editor = uriArg
      ? vscode.window.visibleTextEditors.find((e) => e.document.uri.toString() === uriArg.toString()) ?? (await vscode.window.showTextDocument(uriArg))
      : vscode.window.activeTextEditor;
    if (!editor) {
      const pick = await vscode.window.showErrorMessage('Circuit Inspector: open a prompt (any text file) to analyze it.', 'New Prompt File');
      if (pick) await vscode.commands.executeCommand('circuitInspector.newPrompt');
      return;
    }
    const doc = editor.document;
    const full = doc.getText();
    const prompt =
      typeof startArg === 'number' && typeof endArg === 'number' && startArg >= 0 && endArg <= full.length && endArg > startArg
        ? { start: startArg, end: endArg, text: full.slice(startArg, endArg) }
        : choosePrompt(
            full,
            dialectFor(doc.languageId, doc.fileName),
            editor.selection.isEmpty ? undefined : { start: doc.offsetAt(editor.selection.start), end: doc.offsetAt(editor.selection.end) },
            doc.offsetAt(editor.selection.active),
          );
    if (!prompt || !prompt.text.trim()) {
      await reportError(new EngineError('PROMPT_EMPTY', 'There is no prompt to analyze.', 'Type a prompt, or select the text to analyze.'), this.log, 'analyze');
      return;
    }
    this.running?.abort();
    const ac = new AbortController();
    this.running = ac;
    const settings = analysisSettings((k) => vscode.workspace.getConfiguration(SECTION).get(k));
    const title = doc.uri.path.split('/').pop() ?? 'prompt';
    const started = Date.now();
    this.view.busy(true, `Analyzing ${title}…`);
    try {
      await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: 'Circuit Inspector', cancellable: true },
        async (progress, ct) => {
          ct.onCancellationRequested(() => ac.abort());
          const onProgress = progressReporter(progress);
          await this.ensureModel(ac.signal, onProgress);
          const forward = await this.engine.call('forward', { text: prompt!.text }, { signal: ac.signal, onProgress });
          const analysis: Analysis = { uri: doc.uri, promptStart: prompt!.start, promptEnd: prompt!.end, text: prompt!.text, forward, lens: new Map() };
          // Hovers work from here on, while attribution runs.
          this.store.set(analysis);
          const firstGraphAt = Date.now();
          const result = await this.engine.call(
            'analyze',
            { text: prompt!.text, ...settings, slug: title.replace(/\W+/g, '-').toLowerCase() },
            { signal: ac.signal, onProgress },
          );
          analysis.graph = result.graph;
          this.attributed = analysis;
          // An edit inside the prompt while attribution ran dropped the analysis: hovers must not come back
          // for text that changed (the panel still shows the graph of what was analysed).
          if (this.store.has(analysis)) this.store.set(analysis);
          this.panelSource = { uri: doc.uri, text: prompt!.text };
          await this.view.show(this.payloadOf(analysis, title));
          this.log.info(
            `analyzed ${title}: ${forward.tokens.length} tokens, ${result.graph.nodes.length} nodes, ${result.graph.links.length} links; ` +
              `command → graph ${Date.now() - started} ms (attribution ${Date.now() - firstGraphAt} ms)` +
              (result.scores ? `; replacement ${result.scores.replacement?.toFixed(3)}, completeness ${result.scores.completeness?.toFixed(3)}` : ''),
          );
        },
      );
    } catch (e) {
      await reportError(e, this.log, 'analyze');
    } finally {
      // A newer analysis that replaced this one owns the busy indicator now.
      if (this.running === ac) {
        this.running = undefined;
        this.view.busy(false);
      }
    }
  }

  /** The graph of a prompt text with the current model and settings (the compare commands use it). */
  async graphOf(text: string, signal: AbortSignal, onProgress: (p: Progress) => void): Promise<GraphFile> {
    await this.ensureModel(signal, onProgress);
    const settings = analysisSettings((k) => vscode.workspace.getConfiguration(SECTION).get(k));
    const slug = text.slice(0, 40).replace(/\W+/g, '-').toLowerCase();
    return (await this.engine.call('analyze', { text, ...settings, slug }, { signal, onProgress })).graph;
  }

  /** The decomposition report of a prompt text for every dictionary of the current model (Compare Decompositions). */
  async decompositionsOf(text: string, signal: AbortSignal, onProgress: (p: Progress) => void): Promise<DecompositionReport> {
    await this.ensureModel(signal, onProgress);
    return this.engine.call('decompositions', { text }, { signal, onProgress });
  }

  private payloadOf(a: Analysis, title: string): GraphPayload {
    return { graph: a.graph!, title, canIntervene: true, source: 'analysis', canPrune: a === this.attributed, canTraceQk: true, labelMinF1: labelMinF1Setting((k) => vscode.workspace.getConfiguration(SECTION).get(k)) };
  }

  /** The analysis the side panel shows (its document may hold other blocks' analyses too). */
  private panelAnalysis(): Analysis | undefined {
    const p = this.panelSource;
    return p && this.store.forUri(p.uri).find((a) => a.text === p.text);
  }

  /**
   * The analysis a command means: of the block at `offset` in `uri`; else, in the active editor, of the
   * block under the cursor; else that document's latest.
   */
  private analysisAt(uri?: vscode.Uri, offset?: number): Analysis | undefined {
    const editor = vscode.window.activeTextEditor;
    const target = uri ?? editor?.document.uri;
    if (!target) return undefined;
    if (offset === undefined && editor && editor.document.uri.toString() === target.toString()) offset = editor.document.offsetAt(editor.selection.active);
    return (offset !== undefined ? this.store.get(target, offset) : undefined) ?? this.store.get(target);
  }

  async showGraph(uri?: vscode.Uri, offset?: number): Promise<void> {
    const target = uri ?? vscode.window.activeTextEditor?.document.uri;
    const a = this.analysisAt(uri, offset);
    if (a?.graph) {
      this.panelSource = { uri: a.uri, text: a.text };
      await this.view.show(this.payloadOf(a, a.uri.path.split('/').pop() ?? 'prompt'));
      return;
    }
    await this.view.reveal();
    // Saying so beats showing another file's graph as if it were this one's.
    if (target && target.scheme !== 'vscode-webview') {
      const name = target.path.split('/').pop() ?? 'This file';
      const pick = await vscode.window.showInformationMessage(`Circuit Inspector: ${name} has no graph yet.`, 'Analyze Prompt');
      if (pick) await this.analyze(target);
    }
  }

  // ----------------------------------------------------------------------------------------- focus

  async focusFeature(args: FocusArgs | undefined, toPanel = true): Promise<void> {
    try {
      if (!args) {
        args = await this.pickFeature();
        if (!args) return;
      }
      const uri = vscode.Uri.parse(args.uri);
      const a = args.at !== undefined ? this.store.get(uri, args.at) : this.store.get(uri);
      if (!a) {
        void vscode.window.showWarningMessage('Circuit Inspector: analyze the prompt again — it changed since its analysis.', 'Analyze Prompt').then((p) => {
          if (p) void this.analyze(uri);
        });
        return;
      }
      const ref: FeatureRef = { layer: args.layer, feature: args.feature };
      const values = await this.engine.call('featureActivations', { text: a.text, ...ref });
      // One painted feature per document: another block's paint gives way.
      for (const other of this.store.forUri(uri)) if (other !== a) other.focused = undefined;
      a.focused = { feature: ref, values };
      this.decorations.paint(a);
      if (toPanel && this.panelSource?.uri.toString() === uri.toString()) {
        this.view.focusNode(ref, args.position >= 0 ? args.position : undefined);
        await this.view.reveal();
      }
    } catch (e) {
      await reportError(e, this.log, 'focus feature');
    }
  }

  private async pickFeature(): Promise<FocusArgs | undefined> {
    const a = this.analysisAt();
    if (!a) {
      void vscode.window.showInformationMessage('Circuit Inspector: analyze a prompt first.');
      return undefined;
    }
    const best = new Map<string, { f: FocusArgs; act: number; label: string }>();
    a.forward.features.forEach((fs, t) =>
      fs.forEach((f) => {
        const key = `${f.layer}:${f.feature}`;
        if ((best.get(key)?.act ?? -Infinity) < f.activation) best.set(key, { f: { uri: a.uri.toString(), layer: f.layer, feature: f.feature, position: t, at: a.promptStart }, act: f.activation, label: f.label });
      }),
    );
    const items = [...best.values()].sort((x, y) => y.act - x.act).map((b) => ({ label: b.label || `#${b.f.feature}`, description: `L${b.f.layer} #${b.f.feature} · max ${b.act.toFixed(2)}`, b }));
    const pick = await vscode.window.showQuickPick(items, { placeHolder: 'Feature to light up on the prompt', matchOnDescription: true });
    return pick?.b.f;
  }

  clearDecorations(): void {
    for (const a of this.store.all()) a.focused = undefined;
    this.decorations.clear();
  }

  // -------------------------------------------------------------------------------- viewer requests

  async featureCard(ref: FeatureRef): Promise<FeatureCard> {
    await this.ensureModel();
    return this.engine.call('featureCard', ref);
  }

  /** Features of the loaded dictionary matching label text, best label score first (the feature dashboards). */
  async searchFeatures(query: string): Promise<FeatureSearchHitView[]> {
    await this.ensureModel();
    return this.engine.call('searchFeatures', { query, limit: SEARCH_RESULTS });
  }

  async searchFeaturesOn(graph: GraphFile, query: string): Promise<FeatureSearchHitView[]> {
    await this.checkModelOf(graph);
    return this.engine.call('searchFeatures', { query, limit: SEARCH_RESULTS });
  }

  /** Re-prunes the panel's analysis from the worker's kept attribution; Save Graph then writes this graph. */
  private async pruneOnPanel(nodeThreshold: number): Promise<GraphFile> {
    const a = this.attributed;
    if (!a?.graph || !this.panelSource || a.uri.toString() !== this.panelSource.uri.toString() || a.text !== this.panelSource.text) {
      throw new EngineError('PROMPT_EMPTY', 'This graph is no longer the latest analysis.', 'Run Analyze Prompt again to change its pruning.');
    }
    const settings = analysisSettings((k) => vscode.workspace.getConfiguration(SECTION).get(k));
    const r = await this.engine.call('prune', { nodeThreshold, edgeThreshold: settings.edgeThreshold, slug: a.graph.metadata.slug });
    // Pins and supernodes stay the user's, whatever the threshold.
    a.graph = { ...r.graph, qParams: { ...r.graph.qParams, pinnedIds: a.graph.qParams.pinnedIds, supernodes: a.graph.qParams.supernodes } };
    this.view.replaceGraph(a.graph);
    return a.graph;
  }

  /** QK attribution of a node of the panel's graph: from the worker's kept attribution of that prompt. */
  private async qkOnPanel(nodeId: string, head?: { layer: number; head: number }): Promise<QkView> {
    if (!this.panelSource) throw new EngineError('PROMPT_EMPTY', 'No prompt is shown.');
    await this.ensureModel();
    return this.engine.call('qk', { text: this.panelSource.text, nodeId, head, top: 8 });
  }

  private async interveneOnPanel(specs: InterventionSpec[], options?: InterveneOptionsView): Promise<InterventionOutcome> {
    if (!this.panelSource) throw new EngineError('PROMPT_EMPTY', 'No prompt is shown.');
    await this.ensureModel();
    return this.engine.call('intervene', { text: this.panelSource.text, interventions: specs, k: 5, ...interveneExtras(options) });
  }

  private async verifyOnPanel(groups: FeatureAt[][], options: VerifyOptionsView, call: VerifyCall): Promise<VerifyView> {
    if (!this.panelSource) throw new EngineError('PROMPT_EMPTY', 'No prompt is shown.');
    await this.ensureModel(call.signal);
    return this.engine.call('verify', { text: this.panelSource.text, groups, ...options }, call);
  }

  async verifyOn(graph: GraphFile, groups: FeatureAt[][], options: VerifyOptionsView, call: VerifyCall): Promise<VerifyView> {
    await this.checkModelOf(graph);
    return this.engine.call('verify', { text: String(graph.metadata.prompt ?? ''), groups, ...options }, call);
  }

  async qkOn(graph: GraphFile, nodeId: string, head?: { layer: number; head: number }): Promise<QkView> {
    await this.checkModelOf(graph);
    return this.engine.call('qk', { text: String(graph.metadata.prompt ?? ''), nodeId, head, top: 8 });
  }

  private async checkModelOf(graph: GraphFile): Promise<void> {
    const info = await this.ensureModel();
    const made = (graph.metadata.circuit_inspector as { model?: string } | undefined)?.model;
    if (made && made !== info.name) {
      throw new EngineError('MODEL_NOT_FOUND', `This graph was made with ${made}; the loaded model is ${info.name}.`, 'Select that model folder to steer this graph.');
    }
  }

  /** A card for a feature of a saved graph: only from the model the graph was made with. */
  async featureCardOn(graph: GraphFile, ref: FeatureRef): Promise<FeatureCard> {
    const info = await this.ensureModel();
    const made = (graph.metadata.circuit_inspector as { model?: string } | undefined)?.model;
    if (made && made !== info.name) throw new EngineError('MODEL_NOT_FOUND', `This graph was made with ${made}; the loaded model is ${info.name}.`);
    return this.engine.call('featureCard', ref);
  }

  canInterveneOn(graph: GraphFile): boolean {
    const ci = graph.metadata.circuit_inspector as { model?: unknown } | undefined;
    return typeof graph.metadata.prompt === 'string' && graph.metadata.prompt.length > 0 && typeof ci?.model === 'string';
  }

  async interveneOn(graph: GraphFile, specs: InterventionSpec[], options?: InterveneOptionsView): Promise<InterventionOutcome> {
    await this.checkModelOf(graph);
    return this.engine.call('intervene', { text: String(graph.metadata.prompt ?? ''), interventions: specs, k: 5, ...interveneExtras(options) });
  }

  /** From a saved graph: paint the feature on its prompt file when that file is open and holds the prompt. */
  async focusOnPrompt(promptUri: vscode.Uri | undefined, prompt: string, ref: FeatureRef): Promise<void> {
    if (!promptUri || !prompt) return;
    const editor = vscode.window.visibleTextEditors.find((e) => e.document.uri.toString() === promptUri.toString());
    if (!editor) return;
    try {
      let a = this.store.forUri(promptUri).find((x) => x.text === prompt);
      if (!a) {
        const at = editor.document.getText().indexOf(prompt);
        if (at < 0) return;
        await this.ensureModel();
        const forward = await this.engine.call('forward', { text: prompt });
        a = { uri: promptUri, promptStart: at, promptEnd: at + prompt.length, text: prompt, forward, lens: new Map() };
        this.store.set(a);
      }
      await this.focusFeature({ uri: promptUri.toString(), ...ref, position: -1, at: a.promptStart }, false);
    } catch (e) {
      await reportError(e, this.log, 'focus feature');
    }
  }

  private exportTarget(): { dir?: vscode.Uri; base: string } {
    const src = this.panelSource?.uri;
    if (!src || src.scheme === 'untitled') return { dir: vscode.workspace.workspaceFolders?.[0]?.uri, base: 'graph' };
    const doc = vscode.workspace.textDocuments.find((d) => d.uri.toString() === src.toString());
    const blocks = doc ? findPromptBlocks(doc.getText(), dialectFor(doc.languageId, doc.fileName)) : [];
    const at = this.panelAnalysis()?.promptStart ?? -1;
    const block = blocks.findIndex((b) => at >= b.start && at <= b.end);
    return { dir: vscode.Uri.joinPath(src, '..'), base: blockGraphFileName(src.path.split('/').pop() ?? 'prompt', block, blocks.length).replace(/\.graph\.json$/, '') };
  }

  // ------------------------------------------------------------------------------------------ save

  /**
   * Save Graph: from the palette, the graph of the block under the cursor of the given (or active)
   * prompt, else the one the side panel shows; from the panel's own button (`shown`), the panel's graph.
   * Either way the graph is written exactly as that analysis holds it (the panel's pruning included).
   */
  async saveGraph(uriArg?: vscode.Uri, shown = false): Promise<void> {
    const a = shown ? this.panelAnalysis() : ((uriArg || vscode.window.activeTextEditor ? this.analysisAt(uriArg) : undefined) ?? this.panelAnalysis());
    if (!a?.graph) {
      const pick = await vscode.window.showWarningMessage('Circuit Inspector: analyze a prompt first, then save its graph.', 'Analyze Prompt');
      if (pick) await this.analyze();
      return;
    }
    try {
      const name = a.uri.path.split('/').pop() ?? 'prompt';
      const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
      let target: vscode.Uri | undefined;
      if (a.uri.scheme === 'untitled') {
        target = await this.askWhere(folder ? vscode.Uri.joinPath(folder, 'prompt.graph.json') : undefined);
      } else {
        const doc = vscode.workspace.textDocuments.find((d) => d.uri.toString() === a.uri.toString());
        const blocks = doc ? findPromptBlocks(doc.getText(), dialectFor(doc.languageId, doc.fileName)) : [];
        const block = blocks.findIndex((b) => a.promptStart >= b.start && a.promptStart <= b.end);
        target = vscode.Uri.joinPath(a.uri, '..', blockGraphFileName(name, block, blocks.length));
        if (await this.exists(target)) {
          const rel = vscode.workspace.asRelativePath(target);
          const pick = await vscode.window.showWarningMessage(
            `${rel} already exists. Replace it with the graph of this prompt?`,
            { modal: true, detail: `Prompt: "${a.text.length > 80 ? a.text.slice(0, 77) + '…' : a.text}"` },
            'Replace',
            'Save As…',
          );
          if (pick === 'Save As…') target = await this.askWhere(target);
          else if (pick !== 'Replace') return;
        }
      }
      if (!target) return;
      // Paths of this machine stay on it: relative to the workspace, or left out (setting graphFile.localPaths).
      const folders = (vscode.workspace.workspaceFolders ?? []).map((f) => f.uri.fsPath);
      const paths: LocalPathsSetting = vscode.workspace.getConfiguration(SECTION).get('graphFile.localPaths') === 'omit' ? 'omit' : 'relative';
      const ci = a.graph.metadata.circuit_inspector;
      const graph = {
        ...a.graph,
        metadata: {
          ...a.graph.metadata,
          ...(ci ? { circuit_inspector: shareableOwnMetadata(ci, folders, paths) } : {}),
          ...(a.uri.scheme === 'untitled' ? {} : { prompt_file: name }),
        },
      };
      // Validated again on write: a graph that would not read back is never written.
      const text = serializeGraphFile(graph);
      await vscode.workspace.fs.writeFile(target, Buffer.from(text, 'utf8'));
      this.log.info(`saved ${vscode.workspace.asRelativePath(target)}`);
      const pick = await vscode.window.showInformationMessage(`Circuit Inspector: saved ${vscode.workspace.asRelativePath(target)}.`, 'Open Graph');
      if (pick) await vscode.commands.executeCommand('vscode.openWith', target, GRAPH_EDITOR_ID);
    } catch (e) {
      await reportError(e, this.log, 'save graph');
    }
  }

  /** The save dialog (which asks about replacing a file itself). */
  private async askWhere(defaultUri?: vscode.Uri): Promise<vscode.Uri | undefined> {
    return vscode.window.showSaveDialog({ defaultUri, filters: { 'Graph JSON': ['json'] }, saveLabel: 'Save Graph' });
  }

  private async exists(uri: vscode.Uri): Promise<boolean> {
    try {
      await vscode.workspace.fs.stat(uri);
      return true;
    } catch {
      return false;
    }
  }

  // ------------------------------------------------------------------------------ model selection

  async selectModel(): Promise<void> {
    const picked = await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, canSelectMany: false, openLabel: 'Use This Model', title: 'Select a model folder (config.json, *.safetensors, tokenizer.json)' });
    const dir = picked?.[0];
    if (!dir) return;
    try {
      const ok = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: 'Circuit Inspector: checking the model folder…', cancellable: true }, (_p, ct) => {
        const ac = new AbortController();
        ct.onCancellationRequested(() => ac.abort());
        return this.engine.call('validateModel', { modelPath: dir.fsPath }, { signal: ac.signal });
      });
      // User settings: the user picked this folder; a workspace must not be able to choose it for them.
      await vscode.workspace.getConfiguration(SECTION).update('modelPath', dir.fsPath, vscode.ConfigurationTarget.Global);
      void vscode.window.showInformationMessage(`Circuit Inspector: using ${ok.name} (${ok.nLayers} layers).`);
    } catch (e) {
      await reportError(e, this.log, 'select model');
    }
  }

  /**
   * Select Dictionary…: the model folder's dictionaries (transcoders, CLT, SAEs), each with the graph it
   * gives, or another folder. The choice goes to the user settings (`dictionary` by name inside the model
   * folder; `transcoderPath` for a folder elsewhere), and the next analysis uses it.
   */
  async selectDictionary(): Promise<void> {
    try {
      const cfg = vscode.workspace.getConfiguration(SECTION);
      const { args } = this.modelConfig();
      const choices = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: 'Circuit Inspector: reading the dictionaries…', cancellable: true }, (_p, ct) => {
        const ac = new AbortController();
        ct.onCancellationRequested(() => ac.abort());
        return this.engine.call('listDictionaries', { modelPath: args.modelPath }, { signal: ac.signal });
      });
      const current = args.transcoderPath ?? join(args.modelPath, 'transcoders');
      type Item = vscode.QuickPickItem & { name?: string; other?: true };
      const kindText: Record<string, string> = { transcoders: 'per-layer transcoders', clt: 'cross-layer transcoder', sae: 'SAE' };
      const items: Item[] = choices.map((c) => ({
        label: c.name,
        description: `${kindText[c.kind] ?? c.kind}${c.kind === 'sae' ? ` at layer ${c.layers.join(', ')}` : ''} · ${c.nFeatures} features`,
        detail: c.graph === 'SAE graph' ? 'SAE graph: attribution patching (features and error at the SAE’s site, MLPs linearised at the prompt)' : c.graph === 'transcoder graph' ? 'Transcoder graph (circuit-tracing method)' : 'No attribution graph (an SAE over several layers)',
        picked: c.dir === current,
        name: c.name,
      }));
      items.push({ label: '$(folder-opened) Another folder…', other: true });
      const pick = await vscode.window.showQuickPick(items, { title: 'Dictionary for features and attribution graphs', placeHolder: choices.find((c) => c.dir === current)?.name ?? 'A dictionary folder' });
      if (!pick) return;
      if (pick.other) {
        const picked = await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, canSelectMany: false, openLabel: 'Use This Dictionary', title: 'A transcoder set, CLT or residual-stream SAE folder' });
        if (!picked?.[0]) return;
        await cfg.update('transcoderPath', picked[0].fsPath, vscode.ConfigurationTarget.Global);
        return;
      }
      // A folder path set before would win over the name: the pick replaces it.
      if (cfg.inspect<string>('transcoderPath')?.globalValue) await cfg.update('transcoderPath', undefined, vscode.ConfigurationTarget.Global);
      await cfg.update('dictionary', pick.name, vscode.ConfigurationTarget.Global);
      const still = this.modelConfig().args.transcoderPath;
      if (still && still !== join(args.modelPath, pick.name!)) {
        void vscode.window.showWarningMessage(`Circuit Inspector: the workspace sets circuitInspector.transcoderPath (${still}), which wins over the dictionary you picked.`);
      }
    } catch (e) {
      await reportError(e, this.log, 'select dictionary');
    }
  }

  async useEmbeddedModel(): Promise<void> {
    await vscode.workspace.getConfiguration(SECTION).update('modelPath', undefined, vscode.ConfigurationTarget.Global);
  }

  async selectProvider(): Promise<void> {
    const current = providerSetting(vscode.workspace.getConfiguration(SECTION).get('executionProvider'));
    const describe: Record<string, string> = {
      auto: 'The best available here, falling back to CPU',
      cpu: 'Works everywhere',
      cuda: 'NVIDIA GPUs (Linux, CUDA libraries)',
      tensorrt: 'NVIDIA TensorRT (Linux)',
      webgpu: 'GPU through WebGPU',
      dml: 'DirectML (Windows)',
      coreml: 'CoreML (macOS)',
    };
    const pick = await vscode.window.showQuickPick(
      PROVIDERS.map((p) => ({ label: p, description: describe[p], picked: p === current, detail: p === current ? 'current' : undefined })),
      { placeHolder: 'Execution provider for the model' },
    );
    if (pick) await vscode.workspace.getConfiguration(SECTION).update('executionProvider', pick.label, vscode.ConfigurationTarget.Global);
  }

  async showModelMenu(): Promise<void> {
    const items = [
      { label: '$(folder-opened) Select Model Folder…', command: 'circuitInspector.selectModel' },
      { label: '$(library) Select Dictionary…', command: 'circuitInspector.selectDictionary' },
      { label: '$(chip) Select Execution Provider…', command: 'circuitInspector.selectExecutionProvider' },
      { label: '$(package) Use the Embedded Model', command: 'circuitInspector.useEmbeddedModel' },
      { label: '$(output) Show Log', command: 'circuitInspector.showLog' },
    ];
    const pick = await vscode.window.showQuickPick(items, { placeHolder: this.engine.model ? `${this.engine.model.name} on ${this.engine.model.provider}` : 'Circuit Inspector model' });
    if (pick) await vscode.commands.executeCommand(pick.command);
  }
}
