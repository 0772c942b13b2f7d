/**
 * The proxy port's `http.Server`: Node's own limits from `limits.*`, and every event routed to the part that
 * answers it (requests and `Expect: 100-continue` to the handler, upgrades, CONNECT and parse errors).
 */
import { createServer, type Server } from 'node:http';
import type { Config } from '../config-schema.js';
import type { ProxyHandler } from '../proxy/handler.js';
import type { UpgradeHandler } from '../proxy/upgrade.js';
import type { SocketAnswers } from './socket-answers.js';

export function createProxyServer(config: Config, handler: ProxyHandler, upgrade: UpgradeHandler, answers: SocketAnswers): Server {
  const server = createServer({
    maxHeaderSize: config.limits.maxHeaderBytes, requestTimeout: config.limits.requestTimeoutMs,
    headersTimeout: config.limits.headersTimeoutMs, keepAliveTimeout: config.limits.keepAliveTimeoutMs,
    // Node enforces the two timeouts above only when it sweeps its connections, every 30 s by default: a
    // slowloris client then held a socket ~40 s against a 20 s headersTimeout. A sweep a second costs little.
    connectionsCheckingInterval: checkingIntervalMs(config.limits.headersTimeoutMs),
    // The guard rejects a Host-less HTTP/1.1 request itself, with a JSON body and a log line.
    requireHostHeader: false,
  }, handler.handle);
  server.on('connection', answers.connection);
  // `Expect: 100-continue`: Node would send 100 at once; the handler sends it only after authentication,
  // so a client with bad credentials does not upload its body for nothing.
  server.on('checkContinue', handler.handle);
  server.on('upgrade', upgrade.handle);
  server.on('clientError', answers.clientError);
  server.on('connect', answers.connect);
  return server;
}

/**
 * The server's own limits, applied again on reload (Node reads them per connection or per sweep); only the
 * sweep interval stays as it was at start.
 */
export function applyServerLimits(server: Server, config: Config): void {
  (server as Server & { maxHeaderSize: number }).maxHeaderSize = config.limits.maxHeaderBytes;
  server.requestTimeout = config.limits.requestTimeoutMs;
  server.headersTimeout = config.limits.headersTimeoutMs;
  server.keepAliveTimeout = config.limits.keepAliveTimeoutMs;
}

/** Node's connection sweep interval: `headersTimeoutMs` is then honoured within a quarter of it, at most 1 s late. */
function checkingIntervalMs(headersTimeoutMs: number): number {
  return Math.max(50, Math.min(1000, Math.floor(headersTimeoutMs / 4)));
}
