/**
 * The request headers the upstream receives: no hop-by-hop header, no credential, no client-supplied
 * identity header (under any spelling that normalises to it), plus X-Forwarded-* and a request id.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { stripCookies } from './cookies.js';

/** RFC 9110 §7.6.1 hop-by-hop headers, plus ones undici must set itself. */
const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade',
  'proxy-authorization', 'proxy-authenticate', 'expect', 'http2-settings',
]);

export interface HeaderPolicy {
  /** Lower-cased identity header name. */
  identityHeader: string;
  /** Lower-cased credential header names (every form's carriers). */
  credentialHeaders: ReadonlySet<string>;
  credentialCookies: ReadonlySet<string>;
  preserveHost: boolean;
  requestIdHeader: string;
}

const SANE_REQUEST_ID = /^[A-Za-z0-9._:@/+=-]{1,128}$/;

/** Normalises a header name the way some frameworks do (`_` and `.` read as `-`). */
export function normaliseHeaderName(name: string): string {
  return name.includes('_') || name.includes('.') ? name.replace(/[_.]/g, '-') : name;
}

/** Names listed in a Connection header (lower-cased). */
export function connectionTokens(value: string | undefined): string[] {
  if (value === undefined) return [];
  return value.split(',').map((t) => t.trim().toLowerCase()).filter((t) => t !== '');
}

export interface ForwardContext {
  remoteAddress: string;
  secure: boolean;
  /** Whether WebSocket upgrade headers are kept (http-proxy needs them). */
  upgrade: boolean;
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
    if (HOP_BY_HOP.has(name) || policy.credentialHeaders.has(name) || named?.has(name)) {
      if (ctx.upgrade && (name === 'connection' || name === 'upgrade')) out[name] = value;
      continue;
    }
    if (normaliseHeaderName(name) === policy.identityHeader) continue;
    if (name === 'host' && !policy.preserveHost) continue;
    if (name === 'cookie') {
      const kept = stripCookies(value as string, policy.credentialCookies);
      if (kept !== undefined) out.cookie = kept;
      continue;
    }
    // The client's own forwarding claims are replaced by ours (RFC 7239 `Forwarded` included).
    if (name === 'x-forwarded-for' || name === 'x-forwarded-proto' || name === 'x-forwarded-host' || name === 'forwarded') continue;
    out[name] = value;
  }
  const priorFor = incoming['x-forwarded-for'];
  out['x-forwarded-for'] = priorFor ? `${priorFor}, ${ctx.remoteAddress}` : ctx.remoteAddress;
  out['x-forwarded-proto'] = ctx.secure ? 'https' : 'http';
  if (incoming.host !== undefined) out['x-forwarded-host'] = incoming.host;
  const rid = incoming[policy.requestIdHeader];
  const requestId = typeof rid === 'string' && SANE_REQUEST_ID.test(rid) ? rid : randomUUID();
  out[policy.requestIdHeader] = requestId;
  return { headers: out, requestId };
}

/** Response headers that must not be relayed to the client as they are. */
const RESPONSE_HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'proxy-connection', 'trailer', 'upgrade']);

export function downstreamHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const name in headers) {
    const v = headers[name];
    if (v === undefined || RESPONSE_HOP_BY_HOP.has(name)) continue;
    out[name] = v;
  }
  return out;
}
