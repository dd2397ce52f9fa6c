/**
 * The extension's handle on the engine worker: starts `dist/engine-worker.js` in a worker_threads
 * Worker (so the extension host stays responsive while a model runs), makes typed calls, loads the
 * model the settings ask for when it changes, and restarts the worker if it dies.
 */
import * as vscode from 'vscode';
import { Worker } from 'node:worker_threads';
import { EngineError } from '../engine/errors';
import { Disposable } from './disposable';
import { RpcClient, type CallOptions } from '../worker/rpc-endpoints';
import type { ArgsOf, LoadModelArgs, Method, ModelInfo, ResultOf } from '../shared/rpc';

/** How long a stopping worker may take to settle its calls and release its sessions. */
const SHUTDOWN_MS = 5000;

export class EngineHost extends Disposable {
  private worker?: Worker;
  private client?: RpcClient;
  private loaded?: { key: string; info: ModelInfo };
  private loading?: { key: string; promise: Promise<ModelInfo> };
  private readonly _onDidChangeModel = this._register(new vscode.EventEmitter<ModelInfo | undefined>());
  readonly onDidChangeModel = this._onDidChangeModel.event;

  constructor(
    private readonly workerPath: string,
    private readonly log: vscode.LogOutputChannel,
  ) {
    super();
    this._register({ dispose: () => this.stopWorker() });
  }

  get model(): ModelInfo | undefined {
    return this.loaded?.info;
  }

  private ensureClient(): RpcClient {
    if (this.client) return this.client;
    const worker = new Worker(this.workerPath, { stdout: false, stderr: false });
    const client = new RpcClient(worker);
    worker.on('error', (e) => {
      this.log.error(`engine worker error: ${e.stack ?? e.message}`);
    });
    worker.on('exit', (code) => {
      if (this.worker !== worker) return;
      this.log.warn(`engine worker exited with code ${code}`);
      client.failAll(new EngineError('INTERNAL', 'The engine stopped unexpectedly.', 'Run the command again; see the Circuit Inspector log for details.'));
      this.worker = undefined;
      this.client = undefined;
      this.loaded = undefined;
      this.loading = undefined;
      this._onDidChangeModel.fire(undefined);
    });
    this.worker = worker;
    this.client = client;
    return client;
  }

  call<M extends Method>(method: M, args: ArgsOf<M>, opts?: CallOptions): Promise<ResultOf<M>> {
    return this.ensureClient().call(method, args, opts);
  }

  /** Loads the model unless the same one (same folder, transcoders, provider) is already loaded. */
  ensureModel(args: LoadModelArgs, opts?: CallOptions): Promise<ModelInfo> {
    const key = JSON.stringify([args.modelPath, args.transcoderPath ?? '', args.provider, args.precision ?? 'auto']);
    if (this.loaded?.key === key) return Promise.resolve(this.loaded.info);
    if (this.loading?.key === key) return this.loading.promise;
    const started = Date.now();
    const promise = this.call('loadModel', args, opts).then(
      (info) => {
        if (this.loading?.promise === promise) this.loading = undefined;
        this.loaded = { key, info };
        this.log.info(`loaded ${info.name} from ${info.dir} on ${info.provider} in ${Date.now() - started} ms`);
        // "auto" trying the GPU providers and settling on the CPU is expected, not a problem to flag.
        if (info.providerNote) (args.provider === 'auto' ? this.log.info : this.log.warn).call(this.log, info.providerNote);
        this._onDidChangeModel.fire(info);
        return info;
      },
      (e: unknown) => {
        if (this.loading?.promise === promise) this.loading = undefined;
        throw e;
      },
    );
    this.loading = { key, promise };
    return promise;
  }

  /** Forgets the loaded model so the next call reloads it (after a settings change). */
  invalidate(): void {
    this.loaded = undefined;
    this._onDidChangeModel.fire(undefined);
  }

  private stopWorker(): void {
    const w = this.worker;
    const client = this.client;
    this.worker = undefined;
    this.client = undefined;
    if (!w) return;
    // The worker settles its calls and releases its sessions first (see `shutdown`); a worker that does
    // not answer within SHUTDOWN_MS is terminated anyway.
    const stopped = client ? client.call('shutdown', {}).catch(() => undefined) : Promise.resolve();
    const timeout = new Promise<void>((done) => setTimeout(done, SHUTDOWN_MS).unref?.());
    void Promise.race([stopped, timeout]).finally(() => {
      client?.dispose();
      void w.terminate();
    });
  }
}
