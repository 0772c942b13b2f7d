/**
 * What an allowing decision tells the edge: the identity header to add, and everything it needs to forward
 * what the sidecar mode forwards (no credential in any carrier), plus how long it may reuse the answer.
 *
 * Every edge copies response headers onto the upstream request by name (nginx `auth_request_set`, ingress-nginx
 * `auth-response-headers`, Traefik `authResponseHeaders`, Envoy `allowed_upstream_headers`), and the last three
 * clear a listed header the answer leaves out. So the answer carries the upstream's `Cookie` (the client's, less
 * the credential cookies) under its own name, and never a credential header: an edge that lists them clears them.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { stripCookies } from '../cookies.js';
import { normaliseHeaderName } from '../header-name.js';
import { scrubQuery } from '../query.js';
import type { HeaderPolicy } from '../headers.js';

/** The URI the upstream should receive: the canonical path, the query without credential parameters. */
export const URI_HEADER = 'x-trackgate-uri';
/** The request headers the upstream must not receive (credential and identity-header spellings present). */
export const CLEAR_HEADER = 'x-trackgate-clear';
/** Envoy's own name for the same list (ext_authz HTTP service): it removes them from the upstream request. */
export const ENVOY_REMOVE_HEADER = 'x-envoy-auth-headers-to-remove';

export interface AllowInput {
  headers: IncomingHttpHeaders;
  policy: HeaderPolicy;
  credentialQuery: readonly string[];
  /** The canonical target (path and query as sent). */
  target: string;
  /** The identity header's value, absent on a public route. */
  identity: string | undefined;
  cacheControl: string;
}

export function allowHeaders(a: AllowInput): Record<string, string> {
  const out: Record<string, string> = { 'cache-control': a.cacheControl };
  if (a.identity !== undefined) out[a.policy.identityHeader] = a.identity;
  out[URI_HEADER] = scrubQuery(a.target, a.credentialQuery);
  const clear: string[] = [];
  for (const name in a.headers) {
    if (name === 'cookie') continue;
    const normal = normaliseHeaderName(name);
    if (a.policy.credentialHeaders.has(normal) || normal === a.policy.identityHeader) {
      if (!(a.identity !== undefined && name === a.policy.identityHeader)) clear.push(name);
    }
  }
  const cookie = a.headers.cookie;
  if (cookie !== undefined) {
    const kept = stripCookies(cookie, a.policy.credentialCookies);
    if (kept !== undefined) out.cookie = kept;
    else clear.push('cookie');
  }
  if (clear.length > 0) {
    const list = clear.join(', ');
    out[CLEAR_HEADER] = list;
    out[ENVOY_REMOVE_HEADER] = list;
  }
  return out;
}

export interface LifetimeInput {
  nowMs: number;
  /** `decision.maxAgeSeconds`. */
  boundSeconds: number;
  /** The credential's own expiry (epoch ms), if it has one. */
  credentialExpiresAt: number | undefined;
  /** When the minted identity header stops being reused (epoch ms), if one was minted. */
  headerRefreshAt: number | undefined;
  /** Must be verified at every request: a Digest response (its nc), a request-bound identity header. */
  everyRequest: boolean;
}

/**
 * `max-age` bounded by the configured bound, the credential's remaining life and the identity header's
 * (until its reuse ends, so the upstream never gets one near expiry); `no-store` when that is under a
 * second or the decision must not be reused. Not `private`: nginx does not store a private response.
 */
export function decisionCacheControl(l: LifetimeInput): string {
  if (l.everyRequest) return 'no-store';
  let seconds = l.boundSeconds;
  if (l.credentialExpiresAt !== undefined) seconds = Math.min(seconds, Math.floor((l.credentialExpiresAt - l.nowMs) / 1000));
  if (l.headerRefreshAt !== undefined) seconds = Math.min(seconds, Math.floor((l.headerRefreshAt - l.nowMs) / 1000));
  return seconds >= 1 ? `max-age=${seconds}` : 'no-store';
}
