/**
 * Cache-Control for a response to a request whose URL carried a credential (`?_token=`, `?access_token=`): the
 * URL is a bearer secret, so neither a shared cache nor the browser may store the response under it.
 */

/** Directives that allow a cache to store or share a response (`must-understand` lets a cache ignore no-store). */
const STORING = new Set(['public', 'private', 'no-store', 'max-age', 's-maxage', 'immutable', 'stale-while-revalidate', 'stale-if-error', 'must-understand']);

/** `private, no-store`, then the upstream's other directives (`no-cache`, `no-transform`, extensions) as sent. */
export function privateCacheControl(upstream: string | string[] | undefined): string {
  if (upstream === undefined) return 'private, no-store';
  const kept: string[] = [];
  for (const directive of (Array.isArray(upstream) ? upstream.join(',') : upstream).split(',')) {
    const d = directive.trim();
    const eq = d.indexOf('=');
    const name = (eq < 0 ? d : d.slice(0, eq)).trim().toLowerCase();
    if (name !== '' && !STORING.has(name)) kept.push(d);
  }
  return kept.length === 0 ? 'private, no-store' : `private, no-store, ${kept.join(', ')}`;
}

/**
 * RFC 9213 targeted cache fields (`CDN-Cache-Control`, `Cloudflare-CDN-Cache-Control`, …) and
 * `Surrogate-Control`: a CDN obeys them instead of Cache-Control, so they are dropped with it.
 */
export function isTargetedCacheControl(name: string): boolean {
  return name === 'surrogate-control' || name.endsWith('cdn-cache-control');
}
