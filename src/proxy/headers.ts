/**
 * The request headers the upstream receives: no hop-by-hop header, no credential, no client-supplied
 * identity header, no header an upstream could take as a front proxy's verdict (src/proxy/untrusted-headers.ts),
 * each under any spelling that normalises to it; X-Forwarded-* and a request id of its own (a trusted proxy's
 * forwarding headers are kept and extended, see src/proxy/trusted-proxies.ts).
 */
import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { stripCookies } from './cookies.js';
import { normaliseHeaderName } from './header-name.js';
import { isValidHost } from './host.js';
import { privateCacheControl, isTargetedCacheControl } from './cache-control.js';
import { TRUSTED_FORWARDING_HEADERS, type UntrustedHeaders } from './untrusted-headers.js';

/** RFC 9110 §7.6.1 hop-by-hop headers, plus ones undici must set itself. */
const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade',
  'proxy-authorization', 'proxy-authenticate', 'expect', 'http2-settings',
]);
/** The forwarding headers trackgate sets itself (from a trusted proxy: extends). */
const FORWARDING = new Set(['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'forwarded']);
/** Body headers: spelled with `_` or `.` they are dropped too (the framing ones are refused before, by the guard). */
const BODY_HEADERS = new Set(['content-length', 'content-encoding', 'content-type']);

export interface HeaderPolicy {
  /** Lower-cased identity header name. */
  identityHeader: string;
  /** Lower-cased credential header names (every form's carriers). */
  credentialHeaders: ReadonlySet<string>;
  credentialCookies: ReadonlySet<string>;
  preserveHost: boolean;
  requestIdHeader: string;
  /** Client headers stripped as untrusted (the built-in list and `proxy.stripHeaders`, less `proxy.keepHeaders`). */
  untrusted: UntrustedHeaders;
}

const SANE_REQUEST_ID = /^[A-Za-z0-9._:@/+=-]{1,128}$/;

/** Names listed in a Connection header (lower-cased). */
export function connectionTokens(value: string | undefined): string[] {
  if (value === undefined) return [];
  return value.split(',').map((t) => t.trim().toLowerCase()).filter((t) => t !== '');
}

export interface ForwardContext {
  /** The socket peer's address (appended to X-Forwarded-For). */
  remoteAddress: string;
  /** Whether the peer is a trusted proxy, whose forwarding headers are kept and extended. */
  trustedPeer: boolean;
  secure: boolean;
}

/**
 * Builds the upstream header set. Returns the headers and the request id used (for logs and responses).
 */
export function upstreamHeaders(
  incoming: IncomingHttpHeaders,
  policy: HeaderPolicy,
  ctx: ForwardContext,
): { headers: Record<string, string | string[]>; requestId: string } {
  const out: Record<string, string | string[]> = {};
  const named = incoming.connection === undefined ? undefined : new Set(connectionTokens(incoming.connection));
  for (const name in incoming) {
    const value = incoming[name];
    if (value === undefined) continue;
    if (HOP_BY_HOP.has(name) || policy.credentialHeaders.has(name) || named?.has(name)) continue;
    const normal = normaliseHeaderName(name);
    // `X_Real_IP`, `Proxy.Authorization`: frameworks read them as the header they normalise to.
    if (normal !== name && isProtected(normal, policy)) continue;
    if (normal === policy.identityHeader) continue;
    if (policy.untrusted.has(normal) && !(ctx.trustedPeer && normal === name && TRUSTED_FORWARDING_HEADERS.has(name))) continue;
    if (name === 'host' && !policy.preserveHost) continue;
    if (name === 'cookie') {
      const kept = stripCookies(value as string, policy.credentialCookies);
      if (kept !== undefined) out.cookie = kept;
      continue;
    }
    if (FORWARDING.has(name)) continue;
    out[name] = value;
  }
  const priorFor = fromTrusted(incoming, 'x-forwarded-for', ctx);
  out['x-forwarded-for'] = priorFor ? `${priorFor}, ${ctx.remoteAddress}` : ctx.remoteAddress;
  const proto = ctx.secure ? 'https' : 'http';
  out['x-forwarded-proto'] = proto;
  const priorHost = fromTrusted(incoming, 'x-forwarded-host', ctx);
  const host = priorHost !== undefined && isValidHost(priorHost) ? priorHost : incoming.host;
  if (host !== undefined) out['x-forwarded-host'] = host;
  const priorForwarded = fromTrusted(incoming, 'forwarded', ctx);
  if (priorForwarded !== undefined) out.forwarded = `${priorForwarded}, ${forwardedElement(ctx.remoteAddress, proto, incoming.host)}`;
  const rid = incoming[policy.requestIdHeader];
  const requestId = typeof rid === 'string' && SANE_REQUEST_ID.test(rid) ? rid : randomUUID();
  out[policy.requestIdHeader] = requestId;
  return { headers: out, requestId };
}

/** A forwarding header as a trusted peer sent it (Node joins repeated ones into one string). */
function fromTrusted(incoming: IncomingHttpHeaders, name: string, ctx: ForwardContext): string | undefined {
  const v = ctx.trustedPeer ? incoming[name] : undefined;
  return typeof v === 'string' ? v : undefined;
}

/** Whether a header that normalises to `normal` is one the upstream must only get from trackgate. */
function isProtected(normal: string, policy: HeaderPolicy): boolean {
  return HOP_BY_HOP.has(normal) || policy.credentialHeaders.has(normal) || FORWARDING.has(normal) || BODY_HEADERS.has(normal)
    || normal === policy.identityHeader || normal === policy.requestIdHeader;
}

/** Our RFC 7239 element, appended to a trusted proxy's `Forwarded`. */
function forwardedElement(peer: string, proto: string, host: string | undefined): string {
  const node = peer.includes(':') ? `"[${peer}]"` : peer;
  return host === undefined ? `for=${node};proto=${proto}` : `for=${node};host="${host}";proto=${proto}`;
}

/** Response headers that must not be relayed to the client as they are. */
const RESPONSE_HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'proxy-connection', 'trailer', 'upgrade']);

/**
 * The upstream response headers relayed to the client. With `privateOnly` (the request carried a credential in
 * its URL) the response must never be stored: Cache-Control becomes `private, no-store` (merged with the
 * upstream's own directives, less those that allow storing), and CDN-targeted cache fields are dropped.
 */
export function downstreamHeaders(headers: Record<string, string | string[] | undefined>, privateOnly = false): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const name in headers) {
    const v = headers[name];
    if (v === undefined || RESPONSE_HOP_BY_HOP.has(name)) continue;
    if (privateOnly && (name === 'cache-control' || isTargetedCacheControl(name))) continue;
    out[name] = v;
  }
  if (privateOnly) out['cache-control'] = privateCacheControl(headers['cache-control']);
  return out;
}
