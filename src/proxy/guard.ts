/**
 * Checks on the raw request before any authentication: duplicated credential headers (Node keeps only the
 * first in `req.headers`, so they are looked for in `rawHeaders`), a Connection header naming the identity
 * header or a credential header, absurd Content-Length, and a target that is not a path. The path itself
 * is checked and canonicalised next, by src/authn/canonical-path.ts.
 */
import type { IncomingMessage } from 'node:http';
import { TrackgateError } from '../errors.js';
import { normaliseHeaderName } from './header-name.js';
import { connectionTokens } from './headers.js';
import { refuseAmbiguousHeaders } from './header-guard.js';

export interface GuardPolicy {
  identityHeader: string;
  /** Headers that must appear at most once. */
  singletonHeaders: ReadonlySet<string>;
  maxBodyBytes: number;
}

export function guardRequest(req: IncomingMessage, path: string, policy: GuardPolicy): void {
  refuseAmbiguousHeaders(req);
  const raw = req.rawHeaders;
  // Node folds every repeated header name (any case) into one key of req.headers: when there are as many
  // keys as raw headers, no name repeats and there is nothing to find (the common case, without a
  // toLowerCase per header).
  let keys = 0;
  for (const _ in req.headers) keys++;
  if (keys * 2 !== raw.length) {
    let seen: Set<string> | undefined;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!.toLowerCase();
      if (!policy.singletonHeaders.has(name)) continue;
      seen ??= new Set();
      if (seen.has(name)) {
        throw new TrackgateError('TG_ERR_DUPLICATE_HEADER', `duplicate ${name} header`, { detail: `header ${name} repeated` });
      }
      seen.add(name);
    }
  }
  const conn = req.headers.connection;
  if (conn !== undefined) {
    for (const token of connectionTokens(conn)) {
      if (normaliseHeaderName(token) === policy.identityHeader || policy.singletonHeaders.has(token)) {
        throw new TrackgateError('TG_ERR_BAD_REQUEST', 'Connection header names a protected header', { detail: `Connection: ${token}` });
      }
    }
  }
  const cl = req.headers['content-length'];
  if (cl !== undefined) {
    if (!/^\d{1,16}$/.test(cl)) throw new TrackgateError('TG_ERR_BAD_REQUEST', 'invalid Content-Length');
    if (Number(cl) > policy.maxBodyBytes) {
      throw new TrackgateError('TG_ERR_BODY_TOO_LARGE', 'request body too large', { detail: `Content-Length ${cl}` });
    }
  }
  // HTTP/0.9 has no headers to authenticate, and HTTP/2 never arrives in HTTP/1 framing (a probe, or a
  // client that skipped the upgrade): neither can be forwarded as what it claims to be.
  if (req.httpVersionMajor !== 1) throw new TrackgateError('TG_ERR_BAD_REQUEST', 'unsupported HTTP version', { detail: `HTTP/${req.httpVersion}` });
  // Node's own check (requireHostHeader) answers a bare, unlogged 400: it is off, and done here instead.
  if (req.headers.host === undefined && req.httpVersionMajor === 1 && req.httpVersionMinor >= 1) {
    throw new TrackgateError('TG_ERR_BAD_REQUEST', 'Host header required', { detail: 'HTTP/1.1 request without Host' });
  }
  // Only origin-form targets can be forwarded (`OPTIONS *` cannot be sent upstream).
  if (path.charCodeAt(0) !== 0x2f) throw new TrackgateError('TG_ERR_BAD_REQUEST', 'request target must be a path');
}
