/**
 * The webview's end of src/shared/protocol.ts: posts FromWebview messages, matches replies by `inReplyTo`,
 * and hands every other message to one handler.
 */
import type { FromWebview, ToWebview } from '../src/shared/protocol';

interface VsCodeApi {
  postMessage(msg: unknown): void;
  getState(): unknown;
  setState(s: unknown): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

type Reply = Extract<ToWebview, { inReplyTo: number }>;
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
export type Request = Extract<FromWebview, { requestId: number }>;

export class HostChannel {
  readonly api: VsCodeApi;
  private nextId = 1;
  private readonly pending = new Map<number, (r: Reply) => void>();

  constructor(private readonly onMessage: (m: ToWebview) => void) {
    this.api = acquireVsCodeApi();
    window.addEventListener('message', (ev: MessageEvent) => {
      const m = ev.data as ToWebview;
      if (!m || typeof m !== 'object' || typeof m.type !== 'string') return;
      if ('inReplyTo' in m && typeof m.inReplyTo === 'number') {
        const r = this.pending.get(m.inReplyTo);
        if (r) {
          this.pending.delete(m.inReplyTo);
          r(m);
          return;
        }
      }
      this.onMessage(m);
    });
  }

  post(m: Exclude<FromWebview, Request>): void {
    this.api.postMessage(m);
  }

  request<R extends Reply>(m: DistributiveOmit<Request, 'requestId'>): Promise<R> {
    const requestId = this.nextId++;
    return new Promise<R>((resolve) => {
      this.pending.set(requestId, resolve as (r: Reply) => void);
      this.api.postMessage({ ...m, requestId });
    });
  }
}
