/**
 * Request headers refused before authentication (400), because an upstream could read them differently from
 * trackgate: a Host that is not `host[:port]` (it is forwarded in X-Forwarded-Host), a header that reads as a
 * body-framing header once `_` or `.` is taken for `-` (CGI/WSGI-style frameworks expose `Transfer_Encoding` as
 * `HTTP_TRANSFER_ENCODING`, the same variable as the real header), and a `Content-Encoding` that names the
 * `chunked` transfer coding.
 *
 * Other headers spelled that way (`X_Identity_Assertion`, `X_Real_IP`, …) are not refused: the header policy
 * strips them (src/proxy/headers.ts).
 */
import type { IncomingMessage } from 'node:http';
import { TrackgateError } from '../errors.js';
import { isValidHost } from './host.js';
import { normaliseHeaderName } from './header-name.js';

/** Headers that say where a request body ends or how to read it. */
const FRAMING = new Set(['transfer-encoding', 'content-length', 'content-encoding']);
const CHUNKED_CODING = /(?:^|,)[ \t]*chunked[ \t]*(?:,|$)/i;

export function refuseAmbiguousHeaders(req: IncomingMessage): void {
  const headers = req.headers;
  const host = headers.host;
  // The value itself is not logged: `user:password@host` would put a credential in the log.
  if (host !== undefined && !isValidHost(host)) {
    throw new TrackgateError('TG_ERR_INVALID_HOST', 'invalid Host header', { detail: `Host is not host[:port] (${host.length} characters)` });
  }
  for (const name in headers) {
    if ((name.includes('_') || name.includes('.')) && FRAMING.has(normaliseHeaderName(name))) {
      throw new TrackgateError('TG_ERR_AMBIGUOUS_FRAMING', 'header reads as a framing header', { detail: `header ${name.slice(0, 64)}` });
    }
  }
  const coding = headers['content-encoding'];
  if (coding !== undefined && CHUNKED_CODING.test(coding)) {
    throw new TrackgateError('TG_ERR_AMBIGUOUS_FRAMING', 'Content-Encoding must not be chunked', { detail: 'Content-Encoding names chunked' });
  }
}
