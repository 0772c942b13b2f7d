/**
 * The Host header's grammar (RFC 9110 §7.2: `uri-host [ ":" port ]`, the authority of RFC 3986 §3.2 without
 * userinfo). trackgate forwards the value in X-Forwarded-Host (and as Host with `upstream.preserveHost`), where
 * upstreams build redirect and link URLs from it, so anything that could change a URL's meaning is refused.
 *
 * Stricter than RFC 3986 in three places, none of which a real client sends: a reg-name holds only unreserved
 * characters (no sub-delims, no percent-escapes), IPvFuture literals are refused, and the port, when its colon is
 * present, is 1 to 5 digits and at most 65535.
 */
import { isIPv6 } from 'node:net';

/** Longest Host accepted: a DNS name (253) plus `:65535`, rounded up. */
const MAX_HOST = 262;
/** RFC 3986 unreserved characters only. */
const REG_NAME = /^[A-Za-z0-9._~-]+$/;
const PORT = /^\d{1,5}$/;
const IPV6_CHARS = /^[0-9A-Fa-f:.]+$/;

/** Whether `value` is a Host header value trackgate accepts (see the module comment). */
export function isValidHost(value: string): boolean {
  if (value.length === 0 || value.length > MAX_HOST) return false;
  let host = value;
  let port: string | undefined;
  if (value.charCodeAt(0) === 0x5b /* [ */) {
    const close = value.indexOf(']');
    if (close < 0) return false;
    host = value.slice(1, close);
    const rest = value.slice(close + 1);
    if (rest !== '') {
      if (rest.charCodeAt(0) !== 0x3a /* : */) return false;
      port = rest.slice(1);
    }
    // Hex digits, colons and dots only: isIPv6 alone would also take a zone id (`fe80::1%25eth0`, RFC 6874).
    if (!IPV6_CHARS.test(host) || !isIPv6(host)) return false;
  } else {
    const colon = value.indexOf(':');
    if (colon >= 0) {
      host = value.slice(0, colon);
      port = value.slice(colon + 1);
    }
    if (!REG_NAME.test(host)) return false;
  }
  return port === undefined || (PORT.test(port) && Number(port) <= 65535);
}
