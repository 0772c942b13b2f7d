/**
 * WebSocket (and any HTTP/1.1 Upgrade) requests: authenticated exactly like other requests, then relayed by
 * http-proxy, which handles the upgrade handshake and the two-way socket pipe. Rejections are written as
 * raw HTTP responses on the socket.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import httpProxy from 'http-proxy';
import { TrackgateError, toTrackgateError } from '../errors.js';
import type { AuthFailureContext } from '../authn/pipeline.js';
import type { Logger } from '../observability/log.js';
import type { Metrics } from '../observability/metrics.js';
import { NodeRequestView } from './request-view.js';
import { upstreamError } from './forward.js';
import { rawErrorResponse } from './respond.js';
import { dropIfRefused } from './refused-sockets.js';
import type { ProxyHandler } from './handler.js';
import type { Runtime } from './runtime.js';
import type { SessionLifetime } from './session-lifetime.js';
import { guardUpgradeRequest } from './upgrade-upstream.js';

export class UpgradeHandler {
  readonly #proxy: httpProxy;

  constructor(
    /** The upstream origin plus its base path (the Forwarder's), which http-proxy prepends to req.url. */
    target: string,
    private readonly handler: ProxyHandler,
    private readonly runtime: () => Runtime,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
    /** Closes sessions whose token expires or is revoked, or that reach the maximum lifetime. */
    private readonly sessions?: SessionLifetime,
  ) {
    this.#proxy = httpProxy.createProxyServer({ target, ws: true, xfwd: false, changeOrigin: true });
    this.sessions?.attach(this.#proxy);
    // Read per handshake, so a reload applies to the next one.
    this.#proxy.on('proxyReqWs', (proxyReq, _req, socket) => {
      const { headersTimeoutMs, bodyTimeoutMs } = this.runtime().config.upstream;
      guardUpgradeRequest(proxyReq, socket as Duplex, { headersMs: headersTimeoutMs, bodyIdleMs: bodyTimeoutMs });
    });
    this.#proxy.on('error', (err, _req, socket) => {
      this.logger.warn({ err: (err as NodeJS.ErrnoException).code ?? err.message }, 'websocket upstream error');
      const s = socket as (Duplex & { bytesWritten?: number }) | undefined;
      if (s === undefined || !('destroy' in s) || s.destroyed) return;
      // Before the 101 (or a refusal's head) went out the client can still get a proper 502/504; after it, only
      // a close.
      if (s.bytesWritten === 0) {
        const e = upstreamError(err);
        this.metrics.upstreamErrors.labels(e.kind).inc();
        s.end(rawErrorResponse(e));
      } else s.destroy();
    });
  }

  readonly handle = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    if (dropIfRefused(socket)) return;
    socket.on('error', () => socket.destroy());
    const rt = this.runtime();
    const view = new NodeRequestView(req, rt.trustedProxies);
    // Node hands every `Connection: upgrade` request here; http-proxy silently drops anything but a GET
    // WebSocket upgrade (e.g. `curl --http2`'s h2c upgrade), so answer those clearly instead.
    let refusal: TrackgateError | undefined;
    if (!rt.config.upstream.websockets) {
      refusal = new TrackgateError('TG_ERR_NOT_FOUND', 'WebSocket proxying is disabled', { detail: 'upstream.websockets is false' });
    } else if (req.method !== 'GET' || (req.headers.upgrade ?? '').toLowerCase() !== 'websocket') {
      refusal = new TrackgateError('TG_ERR_BAD_REQUEST', 'unsupported upgrade: only WebSocket over GET is proxied', {
        detail: `${view.method} with Upgrade: ${String(req.headers.upgrade).slice(0, 64)}`,
      });
    }
    if (refusal !== undefined) {
      this.logger.warn({ method: view.method, path: view.path, err: refusal.code, detail: refusal.detail, ip: view.remoteAddress }, 'websocket upgrade rejected');
      socket.end(rawErrorResponse(refusal));
      return;
    }
    const failure: AuthFailureContext = { scheme: undefined, fingerprint: undefined };
    // Through a promise, so a synchronous refusal and a rejected verification take the same path.
    Promise.resolve().then(() => {
      this.handler.guard(rt, req, view);
      return this.handler.admit(rt, req, view, failure);
    }).then(
      (admission) => {
        // Shutdown may have closed every session (sessions.closeAll) while this one was being verified: one
        // opened now would outlive it, so it is refused instead.
        if (this.handler.draining || socket.destroyed) {
          const e = new TrackgateError('TG_ERR_SHUTTING_DOWN', 'server shutting down', { detail: 'upgrade verified after shutdown started', headers: { 'retry-after': '1' } });
          this.logger.warn({ method: view.method, path: view.path, err: e.code, detail: e.detail, ip: view.remoteAddress }, 'websocket upgrade rejected');
          if (!socket.destroyed) socket.end(rawErrorResponse(e), () => socket.destroy());
          return;
        }
        const { headers, path, requestId } = this.handler.prepare(rt, req, view, admission, true);
        // http-proxy copies req.headers and req.url: replace them with the cleaned versions.
        req.headers = headers as IncomingMessage['headers'];
        req.url = path;
        this.metrics.websocketSessions.inc();
        socket.once('close', () => this.metrics.websocketSessions.dec());
        this.logger.info({ method: view.method, path, scheme: admission.identity?.scheme ?? 'public', sub: admission.identity?.subject, rid: requestId }, 'websocket upgrade');
        this.sessions?.track(socket, admission.identity);
        this.#proxy.ws(req, socket, head);
      },
      (err: unknown) => {
        const e = toTrackgateError(err);
        this.logger.warn({ method: view.method, path: view.path, err: e.code, reason: e.reason, detail: e.detail, scheme: failure.scheme, fp: failure.fingerprint }, 'websocket upgrade rejected');
        if (!socket.destroyed) socket.end(rawErrorResponse(e));
      },
    );
  };

  close(): void {
    this.#proxy.close();
  }
}
