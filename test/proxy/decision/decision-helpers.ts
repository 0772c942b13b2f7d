/** Shared by the decision-mode tests: a gate with the decision listener on, and requests shaped as each edge sends them. */
import type { AddressInfo } from 'node:net';
import { send, type Reply } from '../../helpers/digest-client.js';
import type { TestGate } from '../../helpers/trackgate.js';

export const DECISION_CONFIG = {
  decision: { listen: '127.0.0.1:0' },
  authn: { session_token: { enabled: true }, bearer: { enabled: true }, instance: { enabled: true }, digest: { realm: 'GPS Data Web Service' } },
};

/** `http://127.0.0.1:<decision port>` of a gate started with `decision.listen`. */
export function decisionUrl(g: TestGate): string {
  return `http://127.0.0.1:${(g.app.decisionServer!.address() as AddressInfo).port}`;
}

/** What the client sent the edge. */
export interface Original { method?: string; uri: string; headers?: Record<string, string>; host?: string }

/** nginx `auth_request` with deploy/edge/nginx/trackgate-auth.conf: the client's headers plus X-Original-*. */
export function asNginx(base: string, o: Original): Promise<Reply> {
  return send(base, { method: 'GET', path: '/nginx', headers: {
    ...o.headers, 'x-original-method': o.method ?? 'GET', 'x-original-uri': o.uri, 'x-forwarded-host': o.host ?? 'gps.example',
    'x-forwarded-proto': 'https', 'x-forwarded-for': '203.0.113.7',
  } });
}

/** ingress-nginx external auth: X-Original-URL (absolute), X-Original-Method, X-Auth-Request-Redirect, X-Sent-From. */
export function asIngressNginx(base: string, o: Original): Promise<Reply> {
  return send(base, { method: 'GET', path: '/ingress-nginx', headers: {
    ...o.headers, 'x-original-url': `https://${o.host ?? 'gps.example'}${o.uri}`, 'x-original-method': o.method ?? 'GET',
    'x-auth-request-redirect': o.uri, 'x-sent-from': 'nginx-ingress-controller', 'x-real-ip': '203.0.113.7', 'x-forwarded-for': '203.0.113.7',
  } });
}

/** Traefik forwardAuth: the client's headers, X-Forwarded-Method/-Proto/-Host/-Uri/-For, always a GET to the address. */
export function asTraefik(base: string, o: Original): Promise<Reply> {
  return send(base, { method: 'GET', path: '/traefik', headers: {
    ...o.headers, 'x-forwarded-method': o.method ?? 'GET', 'x-forwarded-proto': 'https', 'x-forwarded-host': o.host ?? 'gps.example',
    'x-forwarded-uri': o.uri, 'x-forwarded-for': '203.0.113.7',
  } });
}

/**
 * Envoy ext_authz HTTP service: the original method, path_prefix + the original path, the original Host, the
 * allowed headers, Content-Length 0 (no with_request_body), and the x-forwarded-* it set itself.
 */
export function asEnvoy(base: string, o: Original): Promise<Reply> {
  return send(base, { method: o.method ?? 'GET', path: `/envoy${o.uri}`, headers: {
    ...o.headers, host: o.host ?? 'gps.example', 'content-length': '0', 'x-forwarded-proto': 'https', 'x-forwarded-for': '203.0.113.7',
    'x-envoy-internal': 'true', 'x-request-id': 'e6f0c5a0-0000-4000-8000-000000000000',
  } });
}

export const EDGES = { nginx: asNginx, 'ingress-nginx': asIngressNginx, traefik: asTraefik, envoy: asEnvoy } as const;

export { issueSessionToken as issueSession } from '../../helpers/session-tokens.js';

/** The max-age of a Cache-Control value, undefined when there is none. */
export function maxAge(cc: string | string[] | undefined): number | undefined {
  const m = /(?:^|,)\s*max-age=(\d+)/.exec(String(cc ?? ''));
  return m === null ? undefined : Number(m[1]);
}
