/**
 * The decision listener's `http.Server` (`decision.listen`): Node's own limits as on the proxy port, and no
 * upgrades or CONNECT (an edge asks with plain requests). Unparsable bytes get a bare 400 and a closed socket.
 */
import { createServer, type Server } from 'node:http';
import type { Config } from '../config-schema.js';
import type { DecisionHandler } from '../proxy/decision/handler.js';

export function createDecisionServer(config: Config, handler: DecisionHandler): Server {
  const server = createServer({
    maxHeaderSize: config.limits.maxHeaderBytes, requestTimeout: config.limits.requestTimeoutMs,
    headersTimeout: config.limits.headersTimeoutMs, keepAliveTimeout: config.limits.keepAliveTimeoutMs,
    // The guard answers a Host-less HTTP/1.1 request with a JSON body, as on the proxy port.
    requireHostHeader: false,
  }, handler.handle);
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    else socket.destroy();
  });
  server.on('connect', (_req, socket) => socket.destroy());
  server.on('upgrade', (_req, socket) => socket.destroy());
  return server;
}
