/**
 * The admin port: `/metrics` (Prometheus), `/healthz` (alive), `/readyz` (store and upstream reachable, with
 * a Redis store its topology: a master must answer; 503 while shutting down), `/.well-known/jwks.json` (the
 * identity header's public keys), `/openapi.json` (the token endpoints and credential forms of the running
 * config, src/admin/openapi.ts; the cluster primary asks a worker for it), `/docs/` (Swagger UI over it, src/admin/swagger-ui.ts).
 * Every `/admin/` path needs an operator login (operators.ts): `/admin/` (the operator page, operator-page.ts),
 * `/admin/inventory` (the inventory report, JSON or `?format=csv`), `/admin/policies` (the running config's
 * migration policies).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { KeyRing } from '../identity/keys.js';
import type { RedisTopology } from '../store/redis-topology.js';
import type { Store } from '../store/types.js';
import { toTrackgateError, type TrackgateError } from '../errors.js';
import { inventoryReport, parseFormat, parseInventoryQuery, renderReport } from '../inventory/report.js';
import type { Logger } from '../observability/log.js';
import type { OperatorGate } from './operators.js';
import { operatorPage } from './operator-page.js';
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
  /** The OpenAPI document: the app's own, or (cluster primary) a worker's, asked over IPC. */
  openapi?(): unknown;
  /** Checks the operator login of every `/admin/` request; absent: those paths answer 403 (none configured). */
  operators?: OperatorGate;
  /** Where `/admin/inventory` reads the inventory (the store, shared by every worker and replica). */
  inventory?: Pick<Store, 'listInventory'>;
  /** Epoch milliseconds (the `since` windows). */
  now?(): number;
  /** Failed operator logins and admin errors are logged here (never a credential). */
  logger?: Logger;
  /** `GET /admin/policies`: `{ policies: [...] }` of the running config (absent: 404). */
  policies?(): unknown;
}

function json(res: ServerResponse, status: number, body: unknown, extra: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...extra });
  res.end(text);
}

function fail(res: ServerResponse, e: TrackgateError): void {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(e.headers ?? {})) headers[k] = Array.isArray(v) ? v.join(', ') : String(v);
  json(res, e.status, { error: e.code, message: e.message }, headers);
}

/** The operator paths: every one behind the operator login, whatever serves it. */
function isOperatorPath(path: string): boolean {
  return path === '/admin' || path.startsWith('/admin/');
}

/**
 * A document only some processes have (an optional AdminDeps hook): 404 where it is absent. The hook may
 * answer later (the cluster primary asks a worker): 503 when that fails.
 */
function optional(res: ServerResponse, doc: (() => unknown) | undefined, cacheControl: string): void {
  if (doc === undefined) { json(res, 404, { error: 'TG_ERR_NOT_FOUND', message: 'not found' }); return; }
  Promise.resolve().then(doc).then((body) => json(res, 200, body, { 'cache-control': cacheControl }),
    () => json(res, 503, { error: 'TG_ERR_WORKER_UNAVAILABLE', message: 'no worker answered' }, { 'retry-after': '1' }));
}

export function adminHandler(deps: AdminDeps) {
  const now = deps.now ?? Date.now;
  const operator = (req: IncomingMessage, res: ServerResponse, path: string, serve: () => void): void => {
    if (deps.operators === undefined) {
      json(res, 403, { error: 'TG_ERR_FORBIDDEN', message: 'no operators configured: set admin.operatorsFile' });
      return;
    }
    deps.operators.check(req).then(() => serve(), (err: unknown) => {
      const e = toTrackgateError(err);
      deps.logger?.warn({ path, err: e.code, detail: e.detail, ip: req.socket.remoteAddress }, 'operator request refused');
      fail(res, e);
    });
  };
  const serveInventory = (req: IncomingMessage, res: ServerResponse): void => {
    if (deps.inventory === undefined) { json(res, 404, { error: 'TG_ERR_NOT_FOUND', message: 'not found' }); return; }
    const params = new URL(req.url ?? '/', 'http://admin').searchParams;
    const get = (name: string): string | undefined => params.get(name) ?? undefined;
    let format;
    let query;
    try {
      format = parseFormat(get('format'), ['json', 'csv']);
      query = parseInventoryQuery(get, now());
    } catch (err) {
      fail(res, toTrackgateError(err));
      return;
    }
    inventoryReport(deps.inventory, query, now()).then((report) => {
      const { body, contentType } = renderReport(report, format);
      res.writeHead(200, { 'content-type': contentType, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
      res.end(body);
    }, (err: unknown) => fail(res, toTrackgateError(err)));
  };
  const route = (req: IncomingMessage, res: ServerResponse, path: string): void => {
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
      case '/admin':
        res.writeHead(308, { location: '/admin/', 'content-length': 0 });
        res.end();
        return;
      case '/admin/': {
        // Where this process has no policies hook the page asks nothing of it (a 404 would be a console error).
        const { html, headers } = operatorPage({ policies: deps.policies !== undefined });
        res.writeHead(200, { ...headers, 'content-length': Buffer.byteLength(html) });
        res.end(html);
        return;
      }
      case '/admin/inventory':
        serveInventory(req, res);
        return;
      case '/openapi.json':
        optional(res, deps.openapi, 'no-cache');
        return;
      case '/admin/policies':
        optional(res, deps.policies, 'no-store');
        return;
      default:
        if (serveDocs(req, res, path ?? '')) return;
        json(res, 404, { error: 'TG_ERR_NOT_FOUND', message: 'not found' });
    }
  };
  return (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? '/').split('?')[0]!;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      json(res, 405, { error: 'TG_ERR_METHOD_NOT_ALLOWED', message: 'method not allowed' }, { allow: 'GET, HEAD' });
      return;
    }
    // Every /admin/ path, whichever case below serves it, passes the operator login first.
    if (isOperatorPath(path)) { operator(req, res, path, () => route(req, res, path)); return; }
    route(req, res, path);
  };
}
