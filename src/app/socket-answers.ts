/**
 * The proxy port's answers written straight to a socket, before or outside the request handler: a
 * connection refused for its address, a CONNECT request, and bytes Node's parser cannot read. Each is a
 * short JSON error (`rawErrorResponse`), counted and logged without the request head.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { TrackgateError } from '../errors.js';
import type { Logger } from '../observability/log.js';
import type { Metrics } from '../observability/metrics.js';
import type { ClientConnections } from '../proxy/client-connections.js';
import { markRefused } from '../proxy/refused-sockets.js';
import { rawErrorResponse } from '../proxy/respond.js';

export interface SocketAnswersDeps {
  metrics: Metrics;
  logger: Logger;
  connections: ClientConnections;
  /** `limits.maxConnectionsPerClient` of the running config. */
  maxConnectionsPerClient(): number;
}

export class SocketAnswers {
  constructor(private readonly deps: SocketAnswersDeps) {}

  /** A new proxy-port connection: counted, and refused when its address has too many open already. */
  readonly connection = (socket: Socket): void => {
    const max = this.deps.maxConnectionsPerClient();
    if (this.deps.connections.admit(socket, max)) return;
    socket.on('error', () => socket.destroy());
    const e = new TrackgateError('TG_ERR_OVERLOADED', 'too many connections from this address', { detail: 'client_connections', headers: { 'retry-after': '1' } });
    this.deps.metrics.shed('client_connections');
    this.deps.logger.warn({ reason: 'client_connections', err: e.code, ip: socket.remoteAddress, limit: max }, 'request shed');
    // Sockets are half-open and the parser is already attached: end alone would still let a request sent
    // before the 503 be read and forwarded, so the handlers drop a marked socket and it is destroyed here.
    markRefused(socket);
    socket.end(rawErrorResponse(e), () => socket.destroy());
  };

  /** trackgate is not a forward proxy (without a listener Node would drop CONNECT without a word). */
  readonly connect = (req: IncomingMessage, socket: Duplex): void => {
    socket.on('error', () => socket.destroy());
    const e = new TrackgateError('TG_ERR_METHOD_NOT_ALLOWED', 'CONNECT is not supported', { detail: 'CONNECT request' });
    this.deps.metrics.badRequests.labels(e.code).inc();
    this.deps.logger.warn({ method: req.method, err: e.code, detail: e.detail, ip: (socket as Socket).remoteAddress }, 'request rejected');
    socket.end(rawErrorResponse(e));
  };

  readonly clientError = (err: NodeJS.ErrnoException & { code?: string }, socket: Duplex): void => {
    const code = err.code ?? '';
    if (code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    // Bad bytes after a complete request whose answer is still being made (Node keeps that response as
    // `_httpMessage`): a 400 written now would come first, and the client would read it as the answer to the
    // good request. Answer after it (or not at all, when that response closes the connection).
    const inFlight = (socket as Duplex & { _httpMessage?: ServerResponse | null })._httpMessage;
    if (inFlight != null && !inFlight.writableFinished && inFlight.req?.complete === true) {
      let retried = false;
      const retry = (): void => { if (!retried) { retried = true; setImmediate(() => this.clientError(err, socket)); } };
      inFlight.once('finish', retry);
      inFlight.once('close', retry);
      return;
    }
    let e: TrackgateError;
    if (code === 'HPE_HEADER_OVERFLOW') e = new TrackgateError('TG_ERR_HEADER_TOO_LARGE', 'request header too large');
    else if (code === 'ERR_HTTP_REQUEST_TIMEOUT') e = new TrackgateError('TG_ERR_BAD_REQUEST', 'request timeout', { status: 408 });
    else e = new TrackgateError('TG_ERR_BAD_REQUEST', 'malformed HTTP request');
    this.deps.metrics.badRequests.labels(e.code).inc();
    // Never log err.rawPacket: it holds the request head, credentials included.
    this.deps.logger.warn({ err: e.code, detail: code, ip: (socket as Socket).remoteAddress }, 'malformed request rejected');
    socket.end(rawErrorResponse(e));
  };
}
