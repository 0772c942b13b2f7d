/**
 * The admin port: `/metrics` (Prometheus), `/healthz` (alive), `/readyz` (store and upstream reachable, with
 * a Redis store its topology: a master must answer; 503 while shutting down), `/.well-known/jwks.json` (the
 * identity header's public keys), `/openapi.json` (the token endpoints and credential forms of the running
 * config, src/admin/openapi.ts; a single process only) and `/docs/` (Swagger UI over it, src/admin/swagger-ui.ts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { KeyRing } from '../identity/keys.js';
import type { RedisTopology } from '../store/redis-topology.js';
import { serveDocs } from './swagger-ui.js';

/** One dependency's state in `/readyz`; the Redis store adds its topology. */
export interface ReadinessCheck {
  ok: boolean;
  detail?: string;
  redis?: RedisTopology;
}

export interface AdminDeps {
  /** The app's Metrics, or (cluster primary) anything exposing text the same way: workers' metrics aggregated. */
  metrics: { readonly registry: { metrics(): Promise<string>; readonly contentType: string } };
  /** What `/.well-known/jwks.json` publishes. */
  keys(): Pick<KeyRing, 'jwks'>;
  /** Resolves with per-dependency status; never rejects. */
  readiness(): Promise<Record<string, ReadinessCheck>>;
  closing(): boolean;
  /** The OpenAPI document, where this process has the token endpoints (not the cluster primary: 404 there). */
  openapi?(): unknown;
}

function json(res: ServerResponse, status: number, body: unknown, extra: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...extra });
  res.end(text);
}

export function adminHandler(deps: AdminDeps) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      json(res, 405, { error: 'TG_ERR_METHOD_NOT_ALLOWED', message: 'method not allowed' }, { allow: 'GET, HEAD' });
      return;
    }
    switch (path) {
      case '/healthz':
        json(res, 200, { status: 'ok' });
        return;
      case '/readyz':
        if (deps.closing()) {
          json(res, 503, { status: 'shutting_down' });
          return;
        }
        deps.readiness().then((checks) => {
          const ok = Object.values(checks).every((c) => c.ok);
          json(res, ok ? 200 : 503, { status: ok ? 'ready' : 'not_ready', checks });
        }, () => json(res, 503, { status: 'not_ready' }));
        return;
      case '/metrics':
        deps.metrics.registry.metrics().then((text) => {
          res.writeHead(200, { 'content-type': deps.metrics.registry.contentType });
          res.end(text);
        }, () => json(res, 500, { error: 'TG_ERR_INTERNAL', message: 'metrics unavailable' }));
        return;
      case '/.well-known/jwks.json':
        json(res, 200, deps.keys().jwks(), { 'cache-control': 'public, max-age=60' });
        return;
      case '/openapi.json':
        if (deps.openapi !== undefined) {
          json(res, 200, deps.openapi(), { 'cache-control': 'no-cache' });
          return;
        }
        json(res, 404, { error: 'TG_ERR_NOT_FOUND', message: 'not found' });
        return;
      default:
        if (serveDocs(req, res, path ?? '')) return;
        json(res, 404, { error: 'TG_ERR_NOT_FOUND', message: 'not found' });
    }
  };
}
