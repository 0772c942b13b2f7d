/**
 * `/docs/` on the admin port: Swagger UI over `/openapi.json` (the telematics document's "Authorization via
 * Swagger"). Its assets are swagger-ui-dist's, read from node_modules, so nothing comes from a CDN; the page and
 * its initializer are ours (src/admin/docs/, copied to dist by `npm run build`), with no inline script.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';

export const DOCS_PREFIX = '/docs/';

interface Asset { readonly type: string; readonly file: string }

const OWN = new URL('./docs/', import.meta.url);
const dist = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));

const ASSETS: Readonly<Record<string, Asset>> = {
  '': { type: 'text/html; charset=utf-8', file: new URL('index.html', OWN).pathname },
  'init.js': { type: 'text/javascript; charset=utf-8', file: new URL('init.js', OWN).pathname },
  'swagger-ui.css': { type: 'text/css; charset=utf-8', file: join(dist, 'swagger-ui.css') },
  'swagger-ui-bundle.js': { type: 'text/javascript; charset=utf-8', file: join(dist, 'swagger-ui-bundle.js') },
};

// Swagger UI renders with inline styles and draws its icons as data: images; scripts only from this origin.
// connect-src: the document here, and "Try it out" against any server the document names.
const CSP = "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self' http: https:; frame-ancestors 'none'; base-uri 'none'";

/** Read on first use (the bundle is 1.8 MB; most admin ports never serve it) and kept. */
const loaded = new Map<string, Buffer>();

/** Answers a `/docs/` path and returns true; false when the path is not one of the page's. */
export function serveDocs(req: IncomingMessage, res: ServerResponse, path: string): boolean {
  if (path === '/docs') {
    res.writeHead(301, { location: DOCS_PREFIX, 'content-length': 0 });
    res.end();
    return true;
  }
  if (!path.startsWith(DOCS_PREFIX)) return false;
  const name = path.slice(DOCS_PREFIX.length);
  const asset = ASSETS[name];
  if (asset === undefined) return false;
  let body = loaded.get(name);
  if (body === undefined) {
    body = readFileSync(asset.file);
    loaded.set(name, body);
  }
  res.writeHead(200, {
    'content-type': asset.type, 'content-length': body.length, 'cache-control': 'no-cache',
    'content-security-policy': CSP, 'x-content-type-options': 'nosniff',
  });
  res.end(req.method === 'HEAD' ? undefined : body);
  return true;
}
