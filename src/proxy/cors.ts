/**
 * CORS for the origins `routing.corsOrigins` lists (the admin port's Swagger UI, whose "Try it out" calls the
 * proxy port from another origin), and for no other. A preflight from a listed origin is answered here and
 * never forwarded (it carries no credential, so the route rules would refuse it); every other request is
 * handled as always, its answer naming the origin. No `Access-Control-Allow-Credentials`: the browser sends no
 * cookie and no Basic login of its own across origins, so a listed page can only use credentials its user
 * typed into it (docs/SECURITY.md, "CORS").
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

/** The request headers a page may send: every credential carrier of the forms, and a JSON body's type. */
const ALLOWED_HEADERS = 'authorization, authentication, content-type, instanceid, instancekey, devicetoken, x-token, x-request-id';
const ALLOWED_METHODS = 'GET, HEAD, POST, PUT, PATCH, DELETE';
/** Browsers cap it (Chromium: 2 h); a config reload removing an origin takes effect within this. */
const MAX_AGE_SECONDS = '600';

/**
 * Adds the CORS answer headers when the request's `Origin` is listed. Returns true when the request was a
 * preflight, which the caller answers (204) and does not forward.
 */
export function applyCors(origins: readonly string[], req: IncomingMessage, res: ServerResponse): boolean {
  if (origins.length === 0) return false;
  const origin = req.headers.origin;
  if (origin === undefined || !origins.includes(origin)) return false;
  res.setHeader('access-control-allow-origin', origin);
  res.setHeader('vary', 'Origin');
  if (req.method !== 'OPTIONS' || req.headers['access-control-request-method'] === undefined) {
    res.setHeader('access-control-expose-headers', 'www-authenticate, location, retry-after');
    return false;
  }
  res.setHeader('access-control-allow-methods', ALLOWED_METHODS);
  res.setHeader('access-control-allow-headers', ALLOWED_HEADERS);
  res.setHeader('access-control-max-age', MAX_AGE_SECONDS);
  return true;
}
