/**
 * Removing credential parameters from a request target, leaving every other parameter exactly as sent
 * (no re-encoding), for the upstream URL and for log lines.
 */

/** `url` without the query parameters in `names`. Cheap when none is present. */
export function scrubQuery(url: string, names: readonly string[]): string {
  const q = url.indexOf('?');
  if (q < 0) return url;
  const search = url.slice(q + 1);
  // A percent-encoded name (`%5Ftoken`) decodes to a credential parameter too: only skip the split when
  // neither a name nor an escape is present.
  if (!search.includes('%') && !names.some((n) => search.includes(n))) return url;
  const kept = search.split('&').filter((pair, i) => {
    const eq = pair.indexOf('=');
    let rawName = eq < 0 ? pair : pair.slice(0, eq);
    // The request view parses the query with URLSearchParams, which drops one leading "?": it reads
    // `/p??_token=…` as `_token`, so that is the name to strip too.
    if (i === 0 && rawName.startsWith('?')) rawName = rawName.slice(1);
    let name: string;
    try { name = decodeURIComponent(rawName.replace(/\+/g, ' ')); } catch { name = rawName; }
    return !names.includes(name);
  });
  return kept.length === 0 ? url.slice(0, q) : `${url.slice(0, q)}?${kept.join('&')}`;
}
