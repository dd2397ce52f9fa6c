/**
 * Both ends of the engine RPC over any MessagePort-like channel (a worker_threads Worker on the host
 * side, `parentPort` inside the worker, or a MessageChannel in tests).
 */
import { EngineError, isEngineError } from '../engine/errors';
import type {
  ArgsOf,
  CallContext,
  Handlers,
  HostToWorker,
  Method,
  Progress,
  ResultOf,
  SerializedError,
  WorkerToHost,
} from '../shared/rpc';

/** The part of MessagePort / Worker both ends use. */
export interface Port {
  postMessage(value: unknown): void;
  on(event: 'message', listener: (value: unknown) => void): unknown;
  off(event: 'message', listener: (value: unknown) => void): unknown;
}

export function serializeError(e: unknown): SerializedError {
  if (isEngineError(e)) {
    const ee = e as EngineError;
    return { name: 'EngineError', code: ee.code, message: ee.message, hint: ee.hint, stack: ee.stack };
  }
  if (e instanceof Error) {
    return { name: e.name, code: 'INTERNAL', message: e.message, stack: e.stack };
  }
  return { name: 'Error', code: 'INTERNAL', message: String(e) };
}

/** Turns a serialized error back into an EngineError, so callers handle one error type. */
export function deserializeError(s: SerializedError): EngineError {
  const err = new EngineError(s.code as EngineError['code'], s.message, s.hint);
  if (s.stack) err.stack = s.stack;
  return err;
}

/**
 * Worker side: runs handlers, one AbortController per call. `shutdown` first cancels every other running
 * call and waits until each has settled, so its handler releases sessions no native run still uses.
 */
export function serve(port: Port, handlers: Handlers): { dispose(): void } {
  const running = new Map<number, { ac: AbortController; done: Promise<unknown> }>();
  const listener = (raw: unknown) => {
    const msg = raw as HostToWorker;
    if (msg.kind === 'cancel') {
      running.get(msg.id)?.ac.abort();
      return;
    }
    if (msg.kind !== 'call') return;
    const ac = new AbortController();
    const others = msg.method === 'shutdown' ? [...running.values()] : [];
    for (const o of others) o.ac.abort();
    const ctx: CallContext = {
      signal: ac.signal,
      progress: (progress: Progress) => port.postMessage({ kind: 'progress', id: msg.id, progress } satisfies WorkerToHost),
    };
    const handler = handlers[msg.method] as ((a: unknown, c: CallContext) => unknown) | undefined;
    const done = Promise.allSettled(others.map((o) => o.done))
      .then(() => {
        if (!handler) throw new EngineError('INTERNAL', `Unknown engine method ${String(msg.method)}.`);
        return handler(msg.args, ctx);
      })
      .then(
        (result) => {
          // A call cancelled while its last step finished still reports CANCELLED: the host stopped waiting.
          if (ac.signal.aborted) throw new EngineError('CANCELLED', 'Cancelled.');
          port.postMessage({ kind: 'result', id: msg.id, result } satisfies WorkerToHost);
        },
      )
      .catch((e: unknown) => {
        const error = ac.signal.aborted ? serializeError(new EngineError('CANCELLED', 'Cancelled.')) : serializeError(e);
        port.postMessage({ kind: 'error', id: msg.id, error } satisfies WorkerToHost);
      })
      .finally(() => running.delete(msg.id));
    running.set(msg.id, { ac, done });
  };
  port.on('message', listener);
  return {
    dispose() {
      port.off('message', listener);
      for (const r of running.values()) r.ac.abort();
      running.clear();
    },
  };
}

export interface CallOptions {
  signal?: AbortSignal;
  onProgress?: (p: Progress) => void;
}

interface Pending {
  resolve(v: unknown): void;
  reject(e: unknown): void;
  onProgress?: (p: Progress) => void;
  cleanup(): void;
}

/** Host side: typed calls; cancelling the signal sends `cancel` and rejects with CANCELLED at once. */
export class RpcClient {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly listener = (raw: unknown) => {
    const msg = raw as WorkerToHost;
    const p = this.pending.get(msg.id);
    if (!p) return;
    if (msg.kind === 'progress') {
      p.onProgress?.(msg.progress);
      return;
    }
    this.pending.delete(msg.id);
    p.cleanup();
    if (msg.kind === 'result') p.resolve(msg.result);
    else p.reject(deserializeError(msg.error));
  };

  constructor(private readonly port: Port) {
    port.on('message', this.listener);
  }

  call<M extends Method>(method: M, args: ArgsOf<M>, opts: CallOptions = {}): Promise<ResultOf<M>> {
    const id = this.nextId++;
    return new Promise<ResultOf<M>>((resolve, reject) => {
      if (opts.signal?.aborted) {
        reject(new EngineError('CANCELLED', 'Cancelled.'));
        return;
      }
      const onAbort = () => {
        if (!this.pending.delete(id)) return;
        this.port.postMessage({ kind: 'cancel', id } satisfies HostToWorker);
        reject(new EngineError('CANCELLED', 'Cancelled.'));
      };
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      this.pending.set(id, {
        resolve: resolve as (v: unknown) => void,
        reject,
        onProgress: opts.onProgress,
        cleanup: () => opts.signal?.removeEventListener('abort', onAbort),
      });
      this.port.postMessage({ kind: 'call', id, method, args } satisfies HostToWorker);
    });
  }

  /** Fails every call in flight (the worker died or is being replaced). */
  failAll(error: EngineError): void {
    for (const p of this.pending.values()) {
      p.cleanup();
      p.reject(error);
    }
    this.pending.clear();
  }

  get inFlight(): number {
    return this.pending.size;
  }

  dispose(): void {
    this.port.off('message', this.listener);
    this.failAll(new EngineError('CANCELLED', 'The engine was stopped.'));
  }
}
