/**
 * Request/response over a Node IPC channel (a cluster worker's `process.send`, the primary's `worker.send`),
 * the same on both ends: numbered requests, answers matched by id, a timeout per request, notifications
 * without an answer. Messages carry a `trackgate` tag so other users of the channel (Node's own cluster
 * messages, prom-client's) pass by untouched.
 *
 * A failure of the channel itself (no answer in time, channel closed) rejects with a 503
 * `TG_ERR_SOURCE_UNAVAILABLE`, `reason: 'unavailable'`: callers on the request path fail closed with it. A
 * TrackgateError thrown by the far end's handler (a 429 from the shared throttle) arrives as the same error.
 */
import { TrackgateError, type AuthReason, type ErrorCode } from '../errors.js';

/** Default time to wait for an answer. The far end is another process on the same machine. */
export const IPC_TIMEOUT_MS = 2000;

interface WireError {
  code: ErrorCode;
  message: string;
  status: number;
  reason?: AuthReason;
  headers?: Record<string, string | string[]>;
  detail?: string;
}

export type IpcMessage =
  | { trackgate: 'req'; id: number; method: string; params: unknown }
  | { trackgate: 'res'; id: number; ok: true; value: unknown }
  | { trackgate: 'res'; id: number; ok: false; error: WireError }
  | { trackgate: 'note'; method: string; params: unknown };

/** Sends one message; calls `onError` if it could not be handed to the channel. */
export type IpcSend = (msg: IpcMessage, onError: (err: Error) => void) => void;

export type IpcHandler = (params: any) => unknown;

interface Pending { resolve(v: unknown): void; reject(e: Error): void; timer: NodeJS.Timeout; method: string }

function unavailable(method: string, why: string): TrackgateError {
  return new TrackgateError('TG_ERR_SOURCE_UNAVAILABLE', 'authentication source unavailable', {
    reason: 'unavailable', detail: `cluster IPC ${method}: ${why}`,
  });
}

function toWire(err: unknown): WireError {
  if (err instanceof TrackgateError) {
    return {
      code: err.code, message: err.message, status: err.status,
      ...(err.reason !== undefined ? { reason: err.reason } : {}),
      ...(err.headers !== undefined ? { headers: err.headers } : {}),
      ...(err.detail !== undefined ? { detail: err.detail } : {}),
    };
  }
  return { code: 'TG_ERR_INTERNAL', message: 'internal error', status: 500, detail: err instanceof Error ? `${err.name}: ${err.message}` : String(err) };
}

function fromWire(e: WireError): TrackgateError {
  return new TrackgateError(e.code, e.message, {
    status: e.status,
    ...(e.reason !== undefined ? { reason: e.reason } : {}),
    ...(e.headers !== undefined ? { headers: e.headers } : {}),
    ...(e.detail !== undefined ? { detail: e.detail } : {}),
  });
}

export function isIpcMessage(msg: unknown): msg is IpcMessage {
  return typeof msg === 'object' && msg !== null && typeof (msg as { trackgate?: unknown }).trackgate === 'string';
}

export class IpcChannel {
  readonly #send: IpcSend;
  readonly #handlers = new Map<string, IpcHandler>();
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #closed: string | undefined;

  constructor(send: IpcSend) {
    this.#send = send;
  }

  /** Serves `method` for the far end (a request's answer is the handler's result; a notification's is dropped). */
  handle(method: string, handler: IpcHandler): this {
    this.#handlers.set(method, handler);
    return this;
  }

  /** Feeds one received message in; returns false when it is not a trackgate message. */
  receive(msg: unknown): boolean {
    if (!isIpcMessage(msg)) return false;
    switch (msg.trackgate) {
      case 'res': {
        const p = this.#pending.get(msg.id);
        if (p === undefined) return true; // answered after its timeout
        this.#pending.delete(msg.id);
        clearTimeout(p.timer);
        if (msg.ok) p.resolve(msg.value);
        else p.reject(fromWire(msg.error));
        return true;
      }
      case 'req':
        void this.#serve(msg.id, msg.method, msg.params);
        return true;
      case 'note': {
        const h = this.#handlers.get(msg.method);
        if (h !== undefined) {
          try { void Promise.resolve(h(msg.params)).catch(() => undefined); } catch { /* a notification has nobody to tell */ }
        }
        return true;
      }
      default:
        return true;
    }
  }

  async #serve(id: number, method: string, params: unknown): Promise<void> {
    let reply: IpcMessage;
    const h = this.#handlers.get(method);
    try {
      if (h === undefined) throw new TrackgateError('TG_ERR_INTERNAL', 'internal error', { detail: `cluster IPC: no handler for ${method}` });
      reply = { trackgate: 'res', id, ok: true, value: await h(params) };
    } catch (err) {
      reply = { trackgate: 'res', id, ok: false, error: toWire(err) };
    }
    if (this.#closed !== undefined) return;
    // The asker may be gone (exited); its own timeout covers that.
    try { this.#send(reply, () => undefined); } catch { /* channel closed */ }
  }

  /** Asks the far end; rejects with a 503 TrackgateError when it does not answer within `timeoutMs`. */
  request<T>(method: string, params?: unknown, timeoutMs = IPC_TIMEOUT_MS): Promise<T> {
    if (this.#closed !== undefined) return Promise.reject(unavailable(method, this.#closed));
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(unavailable(method, `no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      timer.unref();
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer, method });
      const failed = (err: Error): void => {
        const p = this.#pending.get(id);
        if (p === undefined) return;
        this.#pending.delete(id);
        clearTimeout(p.timer);
        p.reject(unavailable(method, `channel error (${(err as NodeJS.ErrnoException).code ?? err.message})`));
      };
      try {
        this.#send({ trackgate: 'req', id, method, params }, failed);
      } catch (err) {
        failed(err as Error);
      }
    });
  }

  /** Tells the far end something; no answer, no delivery guarantee. */
  notify(method: string, params?: unknown): void {
    if (this.#closed !== undefined) return;
    try { this.#send({ trackgate: 'note', method, params }, () => undefined); } catch { /* channel closed */ }
  }

  /** The far end is gone: every pending and later request fails at once. */
  close(why = 'channel closed'): void {
    if (this.#closed !== undefined) return;
    this.#closed = why;
    for (const [id, p] of this.#pending) {
      this.#pending.delete(id);
      clearTimeout(p.timer);
      p.reject(unavailable(p.method, why));
    }
  }
}
