/**
 * The webview's end of src/shared/protocol.ts: posts FromWebview messages, matches replies by `inReplyTo`,
 * and hands every other message to one handler.
 */
import type { FromWebview, HostEvent, ProgressEvent, Reply, ReplyTo, Request, ToWebview } from '../src/shared/protocol';

interface VsCodeApi {
  postMessage(msg: unknown): void;
  getState(): unknown;
  setState(s: unknown): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
export type { Request };

export class HostChannel {
  readonly api: VsCodeApi;
  private nextId = 1;
  private readonly pending = new Map<number, (r: Reply) => void>();
  private readonly progress = new Map<number, (p: ProgressEvent) => void>();

  constructor(private readonly onMessage: (m: HostEvent) => void) {
    this.api = acquireVsCodeApi();
    window.addEventListener('message', (ev: MessageEvent) => {
      const m = ev.data as ToWebview;
      if (!m || typeof m !== 'object' || typeof m.type !== 'string') return;
      if (m.type === 'progress') {
        this.progress.get(m.forRequest)?.(m);
        return;
      }
      if ('inReplyTo' in m && typeof m.inReplyTo === 'number') {
        const r = this.pending.get(m.inReplyTo);
        if (r) {
          this.pending.delete(m.inReplyTo);
          this.progress.delete(m.inReplyTo);
          r(m);
          return;
        }
      }
      // A reply nobody waits for (its view was replaced) is dropped; everything else is an event.
      if (!('inReplyTo' in m)) this.onMessage(m);
    });
  }

  post(m: Exclude<FromWebview, Request>): void {
    this.api.postMessage(m);
  }

  /**
   * Sends a request; the promise resolves with its reply (the type REPLY_TO names for it). `onProgress`
   * hears the host's progress events for it; aborting `signal` asks the host to cancel it (the reply
   * then carries the cancellation).
   */
  request<M extends DistributiveOmit<Request, 'requestId'>>(m: M, opts: { onProgress?: (p: ProgressEvent) => void; signal?: AbortSignal } = {}): Promise<ReplyTo<M['type']>> {
    const requestId = this.nextId++;
    return new Promise<ReplyTo<M['type']>>((resolve) => {
      this.pending.set(requestId, resolve as (r: Reply) => void);
      if (opts.onProgress) this.progress.set(requestId, opts.onProgress);
      opts.signal?.addEventListener('abort', () => this.pending.has(requestId) && this.api.postMessage({ type: 'cancel', forRequest: requestId } satisfies FromWebview), { once: true });
      this.api.postMessage({ ...m, requestId });
    });
  }
}
