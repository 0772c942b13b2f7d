/**
 * WebSocket (and any HTTP/1.1 Upgrade) requests: authenticated exactly like other requests, then sent upstream
 * over undici (`upgrade-upstream.ts`) with the headers a forwarded request gets. After the upstream's 101 the
 * client→upstream direction is a plain pipe and the other one is relayed by the session tracker
 * (`session-lifetime.ts`). Rejections are written as raw HTTP responses on the socket.
 *
 * Handshakes have a pool of their own, apart from the forwarder's: a handshake waiting for its 101 must not
 * hold one of the `upstream.connections` the request slots count on (upstream-slots.ts), and an upgraded
 * socket leaves its pool anyway. No keep-alive (`pipelining: 0`): every handshake opens a fresh connection,
 * so none meets a kept-alive one the upstream has just closed.
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { Pool } from 'undici';
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
import { UpgradeDispatch } from './upgrade-upstream.js';

export interface UpgradeUpstream {
  /** The upstream URL's origin. */
  origin: string;
  /** Its path without a trailing slash ('' for none), the Forwarder's: prefixed to every upgrade's path. */
  basePath: string;
  connectTimeoutMs: number;
}

export class UpgradeHandler {
  readonly #pool: Pool;
  readonly #basePath: string;

  constructor(
    upstream: UpgradeUpstream,
    private readonly handler: ProxyHandler,
    private readonly runtime: () => Runtime,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
    /** Relays the upstream's side, and closes sessions whose token expires or is revoked, or that reach the maximum lifetime. */
    private readonly sessions: SessionLifetime,
  ) {
    this.#basePath = upstream.basePath;
    this.#pool = new Pool(upstream.origin, { connect: { timeout: upstream.connectTimeoutMs }, pipelining: 0 });
  }

  readonly handle = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    if (dropIfRefused(socket)) return;
    socket.on('error', () => socket.destroy());
    const rt = this.runtime();
    const view = new NodeRequestView(req, rt.trustedProxies);
    // Node hands every `Connection: upgrade` request here; only a GET WebSocket upgrade is relayed, and the
    // others (e.g. `curl --http2`'s h2c upgrade) are answered clearly.
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
        // undici writes `Connection: upgrade` and `Upgrade` itself: the prepared headers have no hop-by-hop field.
        const { headers, path, requestId } = this.handler.prepare(rt, req, view, admission);
        this.metrics.websocketSessions.inc();
        socket.once('close', () => this.metrics.websocketSessions.dec());
        this.logger.info({ method: view.method, path, scheme: admission.identity?.scheme ?? 'public', sub: admission.identity?.subject, rid: requestId }, 'websocket upgrade');
        this.sessions.track(socket, admission.identity);
        // Bytes the client sent after its head belong to the session: they follow the 101 through the pipe.
        if (head.length > 0) socket.unshift(head);
        const { headersTimeoutMs, bodyTimeoutMs } = rt.config.upstream;
        this.#pool.dispatch({
          path: this.#basePath + path, method: 'GET', headers, upgrade: 'websocket', body: null,
          headersTimeout: headersTimeoutMs, bodyTimeout: bodyTimeoutMs,
        }, new UpgradeDispatch(socket, { opened: (upstream) => this.#opened(socket, upstream), failed: (err) => this.#failed(socket, err) }));
      },
      (err: unknown) => {
        const e = toTrackgateError(err);
        this.logger.warn({ method: view.method, path: view.path, err: e.code, reason: e.reason, detail: e.detail, scheme: failure.scheme, fp: failure.fingerprint }, 'websocket upgrade rejected');
        if (!socket.destroyed) socket.end(rawErrorResponse(e));
      },
    );
  };

  /** The upstream switched protocols: relay both ways until either side closes. */
  #opened(client: Duplex, upstream: Socket): void {
    upstream.setNoDelay(true);
    upstream.on('error', (err: NodeJS.ErrnoException) => {
      this.logger.warn({ err: err.code ?? err.message }, 'websocket upstream error');
      client.destroy();
    });
    client.pipe(upstream);
    this.sessions.relay(client, upstream);
  }

  /** No answer from the upstream: a 502/504 while the client is still there and has had no byte. */
  #failed(client: Duplex, err: Error): void {
    if (client.destroyed) return;
    const e = upstreamError(err);
    this.logger.warn({ err: (err as NodeJS.ErrnoException).code ?? err.message }, 'websocket upstream error');
    this.metrics.upstreamErrors.labels(e.kind).inc();
    client.end(rawErrorResponse(e));
  }

  /** Handshakes still waiting for their upstream are cut; open sessions are not the pool's any more. */
  async close(): Promise<void> {
    await this.#pool.destroy();
  }
}
