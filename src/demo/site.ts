/**
 * The demo service's "Try it out" page (the GPS Data Web Service document's HTML data browser): plain files
 * in `site/` beside this module, read once at startup and served without an identity. trackgate lets them
 * through anonymously by a route rule (config/trackgate.yaml), never by code of its own; every piece of data
 * the page shows comes from the JSON routes, which need the identity header like any other request.
 */
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';

/** Where the page's assets live on the wire; the root `/` is the page itself. */
export const SITE_PREFIX = '/site/';

const TYPES: Readonly<Record<string, string>> = {
  html: 'text/html; charset=utf-8',
  css: 'text/css; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
};

/** The files served, by name: a fixed list, so no request path ever reaches the file system. */
const FILES = ['index.html', 'style.css', 'app.js'] as const;

// Everything is same-origin; the page has no inline script, so a script injected into it would not run.
const CSP = "default-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

interface Asset {
  readonly type: string;
  readonly body: Buffer;
}

export type SiteHandler = (req: IncomingMessage, res: ServerResponse, path: string) => boolean;

/** Reads the site's files (at startup: a missing file fails the start, not a request) and returns its handler. */
export function loadSite(dir: URL = new URL('./site/', import.meta.url)): SiteHandler {
  const assets = new Map<string, Asset>();
  for (const name of FILES) {
    const ext = name.slice(name.lastIndexOf('.') + 1);
    const asset = { type: TYPES[ext] ?? 'application/octet-stream', body: readFileSync(new URL(name, dir)) };
    assets.set(`${SITE_PREFIX}${name}`, asset);
    if (name === 'index.html') assets.set('/', asset);
  }
  /** Answers GET/HEAD of a site path and returns true; false for every other request. */
  return (req, res, path) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    const asset = assets.get(path);
    if (asset === undefined) return false;
    res.writeHead(200, {
      'content-type': asset.type,
      'content-length': asset.body.length,
      'cache-control': 'no-cache',
      'content-security-policy': CSP,
      'x-content-type-options': 'nosniff',
    });
    res.end(req.method === 'HEAD' ? undefined : asset.body);
    return true;
  };
}
