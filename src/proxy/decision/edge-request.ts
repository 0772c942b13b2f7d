/**
 * The original request, read from a decision request as each edge proxy presents it. The edge is named by
 * the decision request's path (`/nginx`, `/ingress-nginx`, `/traefik`, `/envoy/<original path>`), never
 * guessed from headers: through nginx or Traefik the client's own headers arrive too, so a client could add
 * another edge's `X-Forwarded-Uri` and be judged on a path it does not request. Each edge overwrites the
 * headers its own presentation uses (docs/decision-mode.md), which is why only those are read.
 */
import type { IncomingMessage } from 'node:http';
import { TrackgateError } from '../../errors.js';
import { isValidHost } from '../host.js';

export type Edge = 'nginx' | 'ingress-nginx' | 'traefik' | 'envoy';

export interface EdgeRequest {
  readonly edge: Edge;
  readonly method: string;
  /** The request target as the client sent it (path and query, not normalised). */
  readonly target: string;
  /** The client's Host, when the edge says it. */
  readonly host: string | undefined;
  /** `https` when the client reached the edge over TLS. */
  readonly proto: string | undefined;
  /** The X-Forwarded-For chain the edge sent (its right-most entry is the client the edge saw). */
  readonly forwardedFor: string | undefined;
  /**
   * Whether the edge forwards the URI trackgate answers with (nginx). The others forward the client's own,
   * so a credential in its query would reach the upstream.
   */
  readonly rewritesUri: boolean;
}

/** The headers each edge sets on its decision request: read once each, and refused when repeated. */
const EDGE_HEADERS: Record<Edge, readonly string[]> = {
  nginx: ['x-original-method', 'x-original-uri', 'x-forwarded-host', 'x-forwarded-proto'],
  'ingress-nginx': ['x-original-method', 'x-original-url'],
  traefik: ['x-forwarded-method', 'x-forwarded-uri', 'x-forwarded-host', 'x-forwarded-proto'],
  envoy: [],
};

const ENVOY_PREFIX = '/envoy';
const METHOD = /^[A-Z][A-Z0-9_-]{0,31}$/;

/** The edge a decision request's path names, or undefined. */
export function edgeOf(url: string): Edge | undefined {
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  if (path === '/nginx' || path === '/ingress-nginx' || path === '/traefik') return path.slice(1) as Edge;
  if (path.startsWith(`${ENVOY_PREFIX}/`)) return 'envoy';
  return undefined;
}

export function readEdgeRequest(req: IncomingMessage): EdgeRequest {
  const url = req.url ?? '/';
  const edge = edgeOf(url);
  if (edge === undefined) {
    throw new TrackgateError('TG_ERR_NOT_FOUND', 'no such decision endpoint: use /nginx, /ingress-nginx, /traefik or /envoy/', { detail: 'decision path names no edge', status: 404 });
  }
  refuseRepeated(req, EDGE_HEADERS[edge]);
  const h = req.headers;
  const forwardedFor = one(h['x-forwarded-for']);
  switch (edge) {
    case 'nginx':
      return checked({ edge, method: needed(h, 'x-original-method'), target: needed(h, 'x-original-uri'), host: one(h['x-forwarded-host']), proto: one(h['x-forwarded-proto']), forwardedFor, rewritesUri: true });
    case 'ingress-nginx': {
      const { host, target, proto } = splitAbsoluteUrl(needed(h, 'x-original-url'));
      return checked({ edge, method: needed(h, 'x-original-method'), target, host, proto, forwardedFor, rewritesUri: false });
    }
    case 'traefik':
      return checked({ edge, method: needed(h, 'x-forwarded-method'), target: needed(h, 'x-forwarded-uri'), host: one(h['x-forwarded-host']), proto: one(h['x-forwarded-proto']), forwardedFor, rewritesUri: false });
    case 'envoy':
      // ext_authz (HTTP) sends the original method and headers, its path_prefix before the original path.
      return checked({ edge, method: req.method ?? 'GET', target: url.slice(ENVOY_PREFIX.length), host: one(h.host), proto: one(h['x-forwarded-proto']), forwardedFor, rewritesUri: false });
  }
}

function checked(r: EdgeRequest): EdgeRequest {
  if (!METHOD.test(r.method)) throw malformed('original method is not an HTTP method');
  if (r.target.charCodeAt(0) !== 0x2f) throw malformed('original URI is not a path');
  if (r.host !== undefined && !isValidHost(r.host)) throw malformed('original host is not host[:port]');
  return r;
}

/** `scheme://authority/path?query` → its parts, the path and query exactly as written (no URL parser: it would normalise them). */
function splitAbsoluteUrl(url: string): { host: string; target: string; proto: string } {
  const m = /^(https?):\/\/([^/?#]*)(.*)$/i.exec(url);
  if (m === null) throw malformed('X-Original-URL is not an absolute http(s) URL');
  const rest = m[3]!;
  return { proto: m[1]!.toLowerCase(), host: m[2]!, target: rest === '' ? '/' : rest.startsWith('?') ? `/${rest}` : rest };
}

function needed(h: IncomingMessage['headers'], name: string): string {
  const v = one(h[name]);
  if (v === undefined || v === '') throw malformed(`the edge sent no ${name} header`);
  return v;
}

function one(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** Node joins a repeated header into one value: two original URIs would be read as one odd one. */
function refuseRepeated(req: IncomingMessage, names: readonly string[]): void {
  if (names.length === 0) return;
  const raw = req.rawHeaders;
  const seen = new Set<string>();
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (!names.includes(name)) continue;
    if (seen.has(name)) throw new TrackgateError('TG_ERR_DUPLICATE_HEADER', `duplicate ${name} header`, { detail: `edge header ${name} repeated` });
    seen.add(name);
  }
}

function malformed(detail: string): TrackgateError {
  return new TrackgateError('TG_ERR_DECISION_REQUEST', 'the edge proxy did not describe the original request', { detail });
}
