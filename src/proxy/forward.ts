/**
 * Forwarding over undici: one keep-alive Pool per upstream, request and response bodies streamed in both
 * directions with back-pressure (`Pool.stream` writes the upstream body straight into the ServerResponse and
 * pauses the upstream socket while the client is slow). Never retried: a non-idempotent request is sent once.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Pool } from 'undici';
import { TrackgateError } from '../errors.js';
import type { UpstreamErrorKind } from '../observability/metrics.js';
import { downstreamHeaders } from './headers.js';

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

export class Forwarder {
  readonly origin: URL;
  readonly #pool: Pool;
  /** The upstream URL's path without a trailing slash ('' for none): prefixed to every forwarded path. */
  readonly basePath: string;

  constructor(opts: ForwarderOptions) {
    this.origin = new URL(opts.url);
    this.basePath = this.origin.pathname === '/' ? '' : this.origin.pathname.replace(/\/$/, '');
    this.#pool = new Pool(this.origin.origin, {
      connections: opts.connections,
      connect: { timeout: opts.connectTimeoutMs },
      headersTimeout: opts.headersTimeoutMs,
      bodyTimeout: opts.bodyTimeoutMs,
      keepAliveTimeout: opts.keepAliveTimeoutMs,
      pipelining: 1,
    });
  }

  /**
   * Sends the request upstream and streams the response into `res`. Rejects with a TrackgateError
   * (502/504) when no response could be obtained; if the response had started, `res` is destroyed instead.
   */
  forward(
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    headers: Record<string, string | string[]>,
    body: NodeJS.ReadableStream | null,
  ): Promise<ForwardOutcome> {
    const started = process.hrtime.bigint();
    const ac = new AbortController();
    // A client that goes away cancels the upstream request (before the response starts; after that,
    // undici sees the ServerResponse close and aborts by itself).
    const onClose = (): void => { if (!res.writableFinished) ac.abort(); };
    res.once('close', onClose);
    let status = 0;
    let upstreamSeconds = 0;
    return this.#pool.stream(
      {
        path: this.basePath + path,
        method: req.method as 'GET',
        headers,
        body: body as import('node:stream').Readable | null,
        signal: ac.signal,
      },
      ({ statusCode, headers: resHeaders }) => {
        status = statusCode;
        upstreamSeconds = Number(process.hrtime.bigint() - started) / 1e9;
        res.writeHead(statusCode, downstreamHeaders(resHeaders));
        return res;
      },
    ).then(
      () => ({ status, upstreamSeconds }),
      (err: unknown) => {
        if (status !== 0) {
          res.destroy();
          return { status, upstreamSeconds };
        }
        throw upstreamError(err);
      },
    ).finally(() => res.removeListener('close', onClose));
  }

  async close(): Promise<void> {
    await this.#pool.close();
  }
}

/** Maps a transport error to the client-facing error and a metric kind. */
export function upstreamError(err: unknown): TrackgateError & { kind: UpstreamErrorKind } {
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
