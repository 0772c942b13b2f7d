/**
 * Forwarding over undici: one keep-alive Pool per upstream, request and response bodies streamed in both
 * directions with back-pressure (a `Pool.dispatch` handler writes the upstream body straight into the
 * ServerResponse and pauses the upstream socket while the client is slow). Never retried: a non-idempotent
 * request is sent once.
 *
 * `dispatch` with the small handler below, rather than `Pool.stream` with an AbortSignal: the same
 * behaviour without an AbortController + EventTarget listener, an AsyncResource and a `finished()` watcher
 * (about a dozen listeners) per request, which together cost more CPU than all of trackgate's own work.
 */
import type { IncomingMessage, IncomingHttpHeaders, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { Pool, errors, type Dispatcher } from 'undici';
import { TrackgateError } from '../errors.js';
import type { UpstreamErrorKind } from '../observability/metrics.js';
import { downstreamHeaders } from './headers.js';
import type { ProgressWatch, WatchHandle } from './progress-watch.js';

export interface ForwarderOptions {
  url: string;
  connections: number;
  connectTimeoutMs: number;
  headersTimeoutMs: number;
  bodyTimeoutMs: number;
  keepAliveTimeoutMs: number;
}

export interface ForwardOutcome {
  status: number;
  /** Seconds until response headers arrived. */
  upstreamSeconds: number;
}

/** What a forwarded response needs from the app, read per response (live on reload). */
export interface ForwarderHooks {
  watch: ProgressWatch;
  /** `limits.sendIdleTimeoutMs`: a client that reads nothing of a response for this long is cut (0 = never). */
  sendIdleMs(): number;
  /** Draining for shutdown: responses say `Connection: close`. */
  draining(): boolean;
  /** A response was cut because its client stopped reading. */
  onSendStall(res: ServerResponse): void;
  /** Calls `end` once the rest of `req`'s body is drained, within bounds (a lingering close, lingering-close.ts). */
  endAfterBody(req: IncomingMessage, end: () => void): void;
}

/** Called once per forwarded request: `(undefined, outcome)` or `(error)`. */
export type ForwardDone = (err: unknown, outcome?: ForwardOutcome) => void;

export class Forwarder {
  readonly origin: URL;
  readonly #pool: Pool;
  /** The upstream URL's path without a trailing slash ('' for none): prefixed to every forwarded path. */
  readonly basePath: string;

  constructor(opts: ForwarderOptions, readonly hooks: ForwarderHooks) {
    this.origin = new URL(opts.url);
    this.basePath = this.origin.pathname === '/' ? '' : this.origin.pathname.replace(/\/$/, '');
    this.#pool = new Pool(this.origin.origin, {
      connections: opts.connections,
      connect: { timeout: opts.connectTimeoutMs },
      headersTimeout: opts.headersTimeoutMs,
      bodyTimeout: opts.bodyTimeoutMs,
      keepAliveTimeout: opts.keepAliveTimeoutMs,
      pipelining: 1,
      // HTTP/1.1 even to a TLS upstream offering HTTP/2 (undici 8's default): the header policy, lingering
      // close and WebSocket upgrades are written for HTTP/1.1 framing, and the upstream sees what a client sent.
      allowH2: false,
    });
  }

  /**
   * Sends the request upstream and streams the response into `res`, then calls `done` once: with the
   * outcome when the response started (if it broke off midway, `res` is destroyed), or with a TrackgateError
   * (502/504) when no response could be obtained. A callback rather than a promise: this runs per request.
   */
  forward(
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    headers: Record<string, string | string[]>,
    body: NodeJS.ReadableStream | Buffer | null,
    done: ForwardDone,
  ): void {
    const handler = new ForwardHandler(this.hooks, req, res, body as Readable | null, done);
    this.#pool.dispatch({ path: this.basePath + path, method: req.method as 'GET', headers, body: body as Readable | Buffer | null }, handler);
  }

  async close(): Promise<void> {
    await this.#pool.close();
  }
}

/**
 * One forwarded request: relays the upstream response into `res` and settles once `res` has finished (or
 * closed early). Settles with the outcome when the response started; with {@link upstreamError} when no
 * response could be obtained. A client that goes away cancels the upstream request, before or
 * after the response started; a request body that fails (e.g. over the size limit) fails the request with
 * its own error. A response that ends while the client is still sending its body (an early 413, say) says
 * `Connection: close` and is ended only after the rest of the body is drained, so the client reads it.
 */
class ForwardHandler implements Dispatcher.DispatchHandler {
  readonly #hooks: ForwarderHooks;
  readonly #req: IncomingMessage;
  readonly #res: ServerResponse;
  readonly #body: Readable | null;
  readonly #done: ForwardDone;
  readonly #started = performance.now();
  #status = 0;
  #upstreamSeconds = 0;
  #controller: Dispatcher.DispatchController | undefined;
  /** Set when the client left before undici started the request: it is aborted as soon as it starts. */
  #abortReason: Error | undefined;
  #settled = false;
  #waitingDrain = false;
  /** The upstream response is over (its end may wait for the request body): a later body error is moot. */
  #ended = false;
  /** Set while paused for a client that does not read (only with limits.sendIdleTimeoutMs). */
  #sendWatch: WatchHandle | undefined;

  constructor(hooks: ForwarderHooks, req: IncomingMessage, res: ServerResponse, body: Readable | null, done: ForwardDone) {
    this.#hooks = hooks;
    this.#req = req;
    this.#res = res;
    this.#body = body;
    this.#done = done;
    res.once('close', this.#onClose);
    if (body !== null && typeof body.on === 'function') body.on('error', (err: Error) => this.onResponseError(undefined, err));
    // A client already gone will not emit 'close' again: handle it now, so the request is aborted and `done` runs.
    if (res.destroyed) this.#onClose();
  }

  readonly #onClose = (): void => {
    if (this.#settled) return;
    if (this.#res.writableFinished) { this.#succeed(); return; }
    // The client went away: cancel the upstream request.
    const reason = new errors.RequestAbortedError();
    if (this.#controller !== undefined) this.#controller.abort(reason);
    else this.#abortReason = reason;
    if (this.#status !== 0) { this.#res.destroy(); this.#succeed(); }
    // Before the response started, undici reports the abort through onResponseError.
  };

  readonly #onDrain = (): void => {
    this.#waitingDrain = false;
    if (this.#sendWatch !== undefined) { this.#sendWatch.remove(); this.#sendWatch = undefined; }
    this.#controller?.resume();
  };

  readonly #onFinish = (): void => { this.#succeed(); };

  onRequestStart(controller: Dispatcher.DispatchController): void {
    if (this.#abortReason !== undefined) { controller.abort(this.#abortReason); return; }
    this.#controller = controller;
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    if (statusCode < 200) return; // 1xx informational: not relayed (Pool.stream ignored them too)
    this.#controller = controller;
    this.#status = statusCode;
    this.#upstreamSeconds = (performance.now() - this.#started) / 1000;
    if (this.#hooks.draining() || this.#bodyArriving()) this.#res.shouldKeepAlive = false;
    const out = downstreamHeaders(headers, this.#res.hasHeader('cache-control'));
    // A deprecation notice's Link (migration policies) joins the upstream's own links instead of being replaced.
    const link = this.#res.getHeader('link');
    if (link !== undefined && out.link !== undefined) out.link = [out.link, String(link)].flat();
    this.#res.writeHead(statusCode, out);
    if (this.#res.writableNeedDrain) this.#pause(controller);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (!this.#res.write(chunk)) this.#pause(controller);
  }

  onResponseEnd(): void {
    this.#ended = true;
    if (this.#bodyArriving()) {
      // Out now (a bodiless head is otherwise held until end), so the client can stop sending.
      this.#res.flushHeaders();
      this.#hooks.endAfterBody(this.#req, () => this.#res.end(this.#onFinish));
    } else {
      this.#res.end(this.#onFinish);
    }
  }

  onResponseError(_controller: Dispatcher.DispatchController | undefined, err: Error): void {
    const body = this.#body;
    if (body !== null && typeof body.destroy === 'function' && !body.destroyed) body.destroy(err);
    if (this.#settled || this.#ended) return;
    if (this.#status !== 0) {
      // The response had started: it cannot become an error response any more.
      this.#res.destroy();
      this.#succeed();
      return;
    }
    this.#settled = true;
    this.#res.removeListener('close', this.#onClose);
    this.#done(upstreamError(err));
  }

  /** Whether the client is still sending a streamed body (a buffered one was read whole). */
  #bodyArriving(): boolean {
    return this.#body !== null && !Buffer.isBuffer(this.#body) && !this.#req.complete;
  }

  #pause(controller: Dispatcher.DispatchController): void {
    controller.pause();
    if (!this.#waitingDrain) {
      this.#waitingDrain = true;
      this.#res.once('drain', this.#onDrain);
      const idleMs = this.#hooks.sendIdleMs();
      if (idleMs > 0) {
        // Progress is a drain, which removes this watch: the client read nothing for idleMs.
        this.#sendWatch = this.#hooks.watch.add({
          progress: () => 0, blocked: () => false,
          stalled: () => { this.#sendWatch = undefined; this.#hooks.onSendStall(this.#res); this.#res.destroy(); },
        }, { idleMs, minBytesPerSecond: 0 });
      }
    }
  }

  #succeed(): void {
    if (this.#settled) return;
    this.#settled = true;
    if (this.#sendWatch !== undefined) { this.#sendWatch.remove(); this.#sendWatch = undefined; }
    this.#res.removeListener('close', this.#onClose);
    this.#done(undefined, { status: this.#status, upstreamSeconds: this.#upstreamSeconds });
  }
}

/** Maps a transport error to the client-facing error and a metric kind. */
export function upstreamError(err: unknown): TrackgateError & { kind: UpstreamErrorKind } {
  // The request body's own failure (e.g. a client too slow to send it), not the upstream's.
  if (err instanceof TrackgateError) return Object.assign(err, { kind: 'other' as const });
  const code = (err as { code?: string }).code ?? '';
  let kind: UpstreamErrorKind = 'other';
  let out: TrackgateError;
  if (code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'ETIMEDOUT') {
    kind = 'timeout';
    out = new TrackgateError('TG_ERR_UPSTREAM_TIMEOUT', 'upstream timed out', { detail: code, cause: err });
  } else if (code === 'UND_ERR_ABORTED' || (err as Error).name === 'AbortError') {
    out = new TrackgateError('TG_ERR_BAD_REQUEST', 'client closed request', { detail: 'client disconnected', status: 499, cause: err });
  } else if (code === 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH') {
    out = new TrackgateError('TG_ERR_BAD_REQUEST', 'request body shorter or longer than Content-Length', { detail: code, cause: err });
  } else if (code === 'TG_BODY_TOO_LARGE') {
    out = new TrackgateError('TG_ERR_BODY_TOO_LARGE', 'request body too large', { detail: 'streamed body over limit', cause: err });
  } else {
    kind = code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EHOSTUNREACH' || code === 'EAI_AGAIN' ? 'refused'
      : code === 'UND_ERR_SOCKET' || code === 'ECONNRESET' || code === 'EPIPE' || code === 'UND_ERR_CLOSED' ? 'reset' : 'other';
    out = new TrackgateError('TG_ERR_UPSTREAM_UNAVAILABLE', 'upstream unavailable', { detail: code || String(err), cause: err });
  }
  return Object.assign(out, { kind });
}
