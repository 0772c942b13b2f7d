/**
 * The response headers that tell a client its credential form is going away: `Deprecation` (RFC 9745, a
 * structured-field Date `@<unix seconds>`), `Sunset` (RFC 8594, an HTTP-date) and `Link` with
 * `rel="deprecation"` (RFC 9745 §3). Built once per policy when the config loads, never per request.
 */

export interface DeprecationDates {
  /** RFC 3339 date or date-time strings, as the config gives them. */
  readonly deprecation?: string | undefined;
  readonly sunset?: string | undefined;
  readonly link?: string | undefined;
}

/** The headers for these dates (lower-case names), or undefined when none is configured. */
export function deprecationHeaders(d: DeprecationDates): Readonly<Record<string, string>> | undefined {
  const out: Record<string, string> = {};
  if (d.deprecation !== undefined) out.deprecation = `@${epochSeconds(d.deprecation)}`;
  if (d.sunset !== undefined) out.sunset = new Date(epochSeconds(d.sunset) * 1000).toUTCString();
  if (d.link !== undefined) out.link = `<${d.link}>; rel="deprecation"`;
  return Object.keys(out).length === 0 ? undefined : Object.freeze(out);
}

/** Whole seconds since the epoch of a config date (a bare date is midnight UTC, as `Date.parse` reads it). */
export function epochSeconds(date: string): number {
  return Math.floor(Date.parse(date) / 1000);
}
