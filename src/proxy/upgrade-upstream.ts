/**
 * Guards the upstream side of one WebSocket handshake. http-proxy sends it with no timeout at all (an upstream
 * that accepts and never answers holds the client and two sockets forever), and relays an answer other than
 * 101 by writing the upstream's head verbatim and piping the decoded body after it: a chunked refusal reaches
 * the client as `Transfer-Encoding: chunked` over an unchunked body, and a body that stalls or breaks off leaves
 * the client's socket open for good. Here the handshake gets `upstream.headersTimeoutMs` (→ 504), and a refusal
 * is relayed framed (by its length, or chunked) with `upstream.bodyTimeoutMs` between body chunks, and cut (no
 * final chunk) when its body breaks off.
 */
import type { ClientRequest, IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { downstreamHeaders } from './headers.js';

export interface UpgradeTimeouts {
  /** Until the upstream's answer head (`upstream.headersTimeoutMs`). */
  headersMs: number;
  /** Longest silence inside a refusal's body (`upstream.bodyTimeoutMs`; 0: none). */
  bodyIdleMs: number;
}

/**
 * Call from http-proxy's `proxyReqWs` event, which comes before http-proxy adds its own listeners: the
 * `response` listener added here runs first, so the head and the body http-proxy relays are already reframed.
 */
export function guardUpgradeRequest(proxyReq: ClientRequest, client: Duplex, timeouts: UpgradeTimeouts): void {
  // Destroying the request with an error takes http-proxy's error path: the client gets the 504 before any 101.
  const timer = setTimeout(() => {
    proxyReq.destroy(Object.assign(new Error('upstream did not answer the WebSocket handshake in time'), { code: 'UND_ERR_HEADERS_TIMEOUT' }));
  }, timeouts.headersMs);
  const clear = (): void => clearTimeout(timer);
  proxyReq.once('upgrade', clear);
  proxyReq.once('close', clear);
  proxyReq.once('response', (res: IncomingMessage) => {
    clear();
    reframeRefusal(res, client, timeouts.bodyIdleMs);
  });
}

/**
 * http-proxy writes `res.headers` as the head and then calls `res.pipe(client)`: give it hop-by-hop-free headers
 * with explicit framing, and a `pipe` that chunk-encodes the body when it has no length.
 */
function reframeRefusal(res: IncomingMessage, client: Duplex, bodyIdleMs: number): void {
  // An HTTP/1.0 status line cannot announce chunks: such a body stays delimited by the close, as it was.
  const chunked = res.headers['content-length'] === undefined && res.httpVersion === '1.1';
  const headers: Record<string, string | string[]> = { ...downstreamHeaders(res.headers), connection: 'close' };
  if (chunked) headers['transfer-encoding'] = 'chunked';
  res.headers = headers as IncomingMessage['headers'];
  res.pipe = (<T extends NodeJS.WritableStream>(dest: T): T => {
    res.on('data', (chunk: Buffer) => {
      if (chunked) dest.write(`${chunk.length.toString(16)}\r\n`);
      const more = dest.write(chunk);
      if (chunked) dest.write('\r\n');
      if (!more) {
        res.pause();
        dest.once('drain', () => res.resume());
      }
    });
    res.once('end', () => { if (chunked) dest.end('0\r\n\r\n'); else dest.end(); });
    return dest;
  }) as typeof res.pipe;
  res.on('error', () => undefined);
  // Cut, never left hanging: a body that breaks off or stalls closes the client's connection unterminated.
  res.once('close', () => { if (!res.complete) client.destroy(); });
  if (bodyIdleMs > 0) res.setTimeout(bodyIdleMs, () => res.destroy());
  client.once('close', () => { if (!res.complete) res.destroy(); });
}
