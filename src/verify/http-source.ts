/**
 * Small helpers for the outside sources a verifier calls over undici (a JWKS endpoint, an RFC 7662
 * introspection endpoint, a legacy service's check endpoint): bounded body reading, transport-error
 * classification and the one `unavailable` error every such failure becomes.
 *
 * Pools are built per runtime (start and each reload). Their idle keep-alive sockets are unref'd by undici
 * and close after `keepAliveTimeout`, so a pool left behind by a reload holds nothing for long.
 */
import { TrackgateError } from '../errors.js';

/**
 * The undici options every source's pool (or agent) shares: `connections` sockets, each bounded by `timeoutMs`
 * at every stage. HTTP/1.1 only: undici 8 would negotiate HTTP/2 with a TLS source that offers it, a
 * different transport from the one the sources' tests drive, and nothing a source answers needs it.
 */
export function sourcePoolOptions(connections: number, timeoutMs: number) {
  return {
    connections, pipelining: 1, keepAliveTimeout: 4000, allowH2: false,
    connect: { timeout: timeoutMs }, headersTimeout: timeoutMs, bodyTimeout: timeoutMs,
  };
}

/** What a failed call to an outside source was, for logs and metrics. */
export type SourceFailure = 'timeout' | 'unavailable';

/** Node/undici error codes that mean the source did not answer in time. */
const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT', 'ABORT_ERR']);

/** Classifies a transport error (undici or an AbortSignal.timeout abort). */
export function failureKind(err: unknown): SourceFailure {
  const e = err as { code?: string; name?: string } | undefined;
  if (e?.name === 'TimeoutError' || TIMEOUT_CODES.has(e?.code ?? '')) return 'timeout';
  return 'unavailable';
}

/** A short, secret-free description of a transport error for `detail`. */
export function describeError(err: unknown): string {
  const e = err as { code?: string; name?: string; message?: string } | undefined;
  return e?.code ?? e?.name ?? String(err);
}

/** 503 `unavailable`: never cached, so the next request tries the source again. */
export function sourceUnavailable(source: string, detail: string, cause?: unknown): TrackgateError {
  return new TrackgateError('TG_ERR_SOURCE_UNAVAILABLE', 'authentication source unavailable', {
    reason: 'unavailable', detail: `${source}: ${detail}`, ...(cause !== undefined ? { cause } : {}),
  });
}

/** Thrown by {@link readLimited} when a body exceeds its bound. */
export class BodyTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`response body larger than ${limit} bytes`);
    this.name = 'BodyTooLargeError';
  }
}

/**
 * Reads a response body up to `maxBytes` (refusing early on a larger Content-Length); destroys the stream and
 * throws {@link BodyTooLargeError} beyond that.
 */
export async function readLimited(
  body: AsyncIterable<Buffer | Uint8Array> & { destroy(err?: Error): unknown },
  maxBytes: number,
  contentLength?: string | string[],
): Promise<Buffer> {
  const declared = typeof contentLength === 'string' ? Number(contentLength) : NaN;
  if (Number.isFinite(declared) && declared > maxBytes) {
    body.destroy();
    throw new BodyTooLargeError(maxBytes);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body) {
    total += chunk.length;
    if (total > maxBytes) {
      body.destroy();
      throw new BodyTooLargeError(maxBytes);
    }
    chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
  }
  return Buffer.concat(chunks, total);
}

/** `http(s)` URL without userinfo or fragment; for config schemas. */
export function isHttpUrl(s: string): boolean {
  try {
    const u = new URL(s);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.username === '' && u.password === '' && u.hash === '';
  } catch {
    return false;
  }
}

/** Whether a URL sends its traffic in clear to another machine (http to a non-loopback host). */
export function isCleartextRemote(s: string): boolean {
  const u = new URL(s);
  if (u.protocol !== 'http:') return false;
  const h = u.hostname.replace(/^\[|\]$/g, '');
  return !(h === 'localhost' || h === '::1' || /^127\./.test(h));
}
