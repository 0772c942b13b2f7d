/**
 * The auth-param list of an `Authorization` / `WWW-Authenticate` value (RFC 9110 §11.2), for schemes that
 * use parameters rather than a token68 (Digest):
 *
 *     auth-param = token BWS "=" BWS ( token / quoted-string )
 *     list       = [ auth-param ] *( OWS "," OWS [ auth-param ] )      ; empty elements allowed (§5.6.1)
 *
 * Quoted strings take `\` escapes (`quoted-pair`) and obs-text (0x80-0xFF: Node hands header values over as
 * latin1, one char per octet). Parameter names are case-insensitive and returned lower-cased; a name may
 * occur once. Token and quoted-string values are equivalent (recipients accept both, §11.2).
 *
 * Bad input never throws anything but a `TG_ERR_MALFORMED_CREDENTIALS` TrackgateError.
 */
import { TrackgateError } from '../errors.js';

/** Upper bound on parameters per credential: Digest uses about a dozen. */
export const MAX_AUTH_PARAMS = 32;

// tchar (RFC 9110 §5.6.2): "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
const TCHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") TCHAR[c.charCodeAt(0)] = 1;

function isTchar(code: number): boolean {
  return code < 128 && TCHAR[code] === 1;
}

/** qdtext = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text */
function isQdtext(code: number): boolean {
  return code === 0x09 || code === 0x20 || code === 0x21 || (code >= 0x23 && code <= 0x5b) || (code >= 0x5d && code <= 0x7e) || (code >= 0x80 && code <= 0xff);
}

/** quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text ) */
function isQuotedPairChar(code: number): boolean {
  return code === 0x09 || (code >= 0x20 && code <= 0x7e) || (code >= 0x80 && code <= 0xff);
}

function isOws(code: number): boolean {
  return code === 0x20 || code === 0x09;
}

/**
 * Parses `name=value, name="quoted \"value\""` into a map of lower-cased names to unescaped values.
 * `scheme` only names the scheme in error messages.
 */
export function parseAuthParams(input: string, scheme = 'Digest'): Map<string, string> {
  return parseCommon(input) ?? parseStrict(input, scheme);
}

/** Any octet outside HTAB, SP, VCHAR and obs-text: never valid in an auth-param list. */
const NON_FIELD_CHAR_RE = /[^\t\x20-\x7e\x80-\xff]/;

/**
 * The common shape, fast: the grammar of {@link parseStrict} without OWS around `=` and without quoted-pairs,
 * checked with native scans instead of a test per character. Undefined for anything else, valid or not
 * ({@link parseStrict} then parses it or says what is wrong). Never accepts what parseStrict rejects: every
 * quoted run is free of `\` and made of qdtext, every name and token is checked tchar by tchar.
 */
function parseCommon(input: string): Map<string, string> | undefined {
  if (NON_FIELD_CHAR_RE.test(input)) return undefined;
  const out = new Map<string, string>();
  const n = input.length;
  let i = 0;
  let c = input.charCodeAt(0);
  for (;;) {
    while (i < n && (isOws(c) || c === 0x2c)) c = input.charCodeAt(++i);
    if (i >= n) return out;
    const nameStart = i;
    while (isTchar(c)) c = input.charCodeAt(++i);
    if (i === nameStart || c !== 0x3d) return undefined;
    const name = input.slice(nameStart, i).toLowerCase();
    c = input.charCodeAt(++i);
    let value: string;
    if (c === 0x22) {
      const close = input.indexOf('"', i + 1);
      if (close < 0) return undefined;
      value = input.slice(i + 1, close);
      if (value.includes('\\')) return undefined;
      i = close + 1;
    } else {
      const valueStart = i;
      while (isTchar(c)) c = input.charCodeAt(++i);
      if (i === valueStart) return undefined;
      value = input.slice(valueStart, i);
    }
    if (out.has(name) || out.size >= MAX_AUTH_PARAMS) return undefined;
    out.set(name, value);
    c = input.charCodeAt(i);
    while (i < n && isOws(c)) c = input.charCodeAt(++i);
    if (i >= n) return out;
    if (c !== 0x2c) return undefined;
  }
}

/** The whole grammar, one character at a time, with a precise error for each way input can be wrong. */
export function parseStrict(input: string, scheme = 'Digest'): Map<string, string> {
  const fail = (detail: string): TrackgateError => new TrackgateError('TG_ERR_MALFORMED_CREDENTIALS', `malformed ${scheme} credentials`, {
    detail: `${scheme} auth-params: ${detail}`, reason: 'malformed',
  });
  const out = new Map<string, string>();
  const n = input.length;
  let i = 0;
  for (;;) {
    // Leading OWS and empty list elements.
    while (i < n && (isOws(input.charCodeAt(i)) || input.charCodeAt(i) === 0x2c)) i++;
    if (i >= n) break;
    const nameStart = i;
    while (i < n && isTchar(input.charCodeAt(i))) i++;
    if (i === nameStart) throw fail(`expected a parameter name at offset ${i}`);
    const name = input.slice(nameStart, i).toLowerCase();
    while (i < n && isOws(input.charCodeAt(i))) i++;
    // Never the name itself here: without "=" it may be a token68 secret (`Digest <base64>`), and details are logged.
    if (input.charCodeAt(i) !== 0x3d) throw fail(`expected "=" after the parameter name at offset ${nameStart} (token68 is not allowed)`);
    i++;
    while (i < n && isOws(input.charCodeAt(i))) i++;
    let value: string;
    if (input.charCodeAt(i) === 0x22) {
      i++;
      // Unescaped runs are sliced whole (a Digest header is mostly quoted strings without escapes).
      let buf = '';
      let run = i;
      let closed = false;
      while (i < n) {
        const c = input.charCodeAt(i);
        if (c === 0x22) { closed = true; break; }
        if (c === 0x5c) {
          if (i + 1 >= n) break;
          const e = input.charCodeAt(i + 1);
          if (!isQuotedPairChar(e)) throw fail(`invalid escaped character in "${name}"`);
          buf += input.slice(run, i) + input[i + 1];
          i += 2;
          run = i;
          continue;
        }
        if (!isQdtext(c)) throw fail(`invalid character in quoted "${name}"`);
        i++;
      }
      if (!closed) throw fail(`unterminated quoted string in "${name}"`);
      value = buf + input.slice(run, i);
      i++; // the closing quote
    } else {
      const valueStart = i;
      while (i < n && isTchar(input.charCodeAt(i))) i++;
      if (i === valueStart) throw fail(`the parameter at offset ${nameStart} has no value`);
      value = input.slice(valueStart, i);
    }
    if (out.has(name)) throw fail(`parameter "${name}" repeated`);
    if (out.size >= MAX_AUTH_PARAMS) throw fail('too many parameters');
    out.set(name, value);
    while (i < n && isOws(input.charCodeAt(i))) i++;
    if (i >= n) break;
    if (input.charCodeAt(i) !== 0x2c) throw fail(`expected "," after "${name}"`);
  }
  return out;
}

/** A quoted-string for a challenge parameter: `"` and `\` escaped. */
export function quoteString(value: string): string {
  return `"${value.replace(/["\\]/g, '\\$&')}"`;
}
