/**
 * The Cookie header (RFC 6265 §4.2): parse it, and remove credential cookies while leaving every other
 * cookie byte-for-byte as the client sent it.
 */

/** First value of each cookie name. */
export function parseCookies(header: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const pair of header.split(';')) {
    const eq = pair.indexOf('=');
    if (eq < 0) continue;
    const name = pair.slice(0, eq).trim();
    if (name === '' || out.has(name)) continue;
    let value = pair.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    out.set(name, value);
  }
  return out;
}

/** The Cookie header without the named cookies, or undefined when nothing is left. */
export function stripCookies(header: string, names: ReadonlySet<string>): string | undefined {
  const kept: string[] = [];
  for (const pair of header.split(';')) {
    const eq = pair.indexOf('=');
    const name = (eq < 0 ? pair : pair.slice(0, eq)).trim();
    if (name === '' || names.has(name)) continue;
    kept.push(pair.trim());
  }
  return kept.length === 0 ? undefined : kept.join('; ');
}
