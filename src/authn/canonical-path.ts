/**
 * The canonical request path: the one spelling that route rules, the token-endpoint router, the identity
 * header's `htu` and the forwarded request all use. Upstreams disagree on how to read a path (Tomcat and
 * Spring drop `;` parameters, IIS strips trailing dots and spaces and decodes `%u`, some decode twice or
 * normalise Unicode), so every form on which two common upstreams could disagree is refused with
 * `TG_ERR_AMBIGUOUS_PATH` instead of being guessed at. What is left is decoded only where RFC 3986 says
 * the spellings are equivalent (percent-encoded unreserved characters, hex digit case), and then the
 * canonical spelling is what goes upstream. docs/SECURITY.md ("Paths and route rules") lists each refusal.
 */
import { TrackgateError } from '../errors.js';

/** `true` for the ASCII characters a path may carry as they are: RFC 3986 pchar without `;` and `%`, plus `/`. */
const PLAIN = new Uint8Array(128);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&\'()*+,=:@/') PLAIN[c.charCodeAt(0)] = 1;

/** RFC 3986 unreserved characters: `%XX` of one of them is the character itself. */
const UNRESERVED = /^[A-Za-z0-9._~-]$/;

/**
 * Non-ASCII characters that some upstream maps to a separator or a dot although Unicode normalisation
 * (NFKC) keeps them: Windows "best fit" code-page conversion (`∕` → `/`, `¥` and `₩` → `\`), IDNA's
 * ideographic full stop.
 */
const SEPARATOR_LOOKALIKES = /[\u2044\u2215\u2216\u29F8\u29F9\u00A5\u20A9\u3002\uFF61]/u;

/** Characters an upstream may drop or read as white space: controls, format characters, separators. */
const INVISIBLE = /[\p{Cc}\p{Cf}\p{Z}]/u;

// ignoreBOM keeps a U+FEFF in the text (the decoder would silently drop one at the start of a run).
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function refuse(what: string, detail: string): never {
  throw new TrackgateError('TG_ERR_AMBIGUOUS_PATH', `ambiguous path: ${what}`, { detail });
}

const hex = (c: number): number => (c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x41 && c <= 0x46 ? c - 0x37 : c >= 0x61 && c <= 0x66 ? c - 0x57 : -1);
const pct = (b: number): string => `%${b < 16 ? '0' : ''}${b.toString(16).toUpperCase()}`;

/**
 * The canonical form of a request path (no query), or a `TG_ERR_AMBIGUOUS_PATH` error. Returns `raw`
 * itself (no copy) when it has no escape, which is the common case. `caseInsensitive` adds the
 * refusal of non-ASCII letters whose case mapping is not one plain pair (see {@link pathKey}).
 */
export function canonicalPath(raw: string, caseInsensitive: boolean): string {
  let out: string | undefined; // built only once the spelling changes
  let last = -1; // the current segment's last decoded character (-1: none yet)
  let dots = 0; // how many of the segment's characters so far are dots, to spot `.` and `..`
  let len = 0; // decoded length of the current segment
  const n = raw.length;
  for (let i = 1; i <= n; i++) {
    const c = i === n ? 0x2f : raw.charCodeAt(i);
    if (c === 0x2f) {
      if (len === 0 && i < n) refuse('empty path segment (//)', 'empty segment');
      if (len > 0 && dots === len && len <= 2) refuse('dot segment', 'dot segment');
      if (last === 0x2e || last === 0x20) refuse('a segment ends with a dot or a space', 'trailing dot or space in a segment');
      if (out !== undefined && i < n) out += '/';
      last = -1; dots = 0; len = 0;
      continue;
    }
    if (c === 0x25) {
      const d = decodeEscapes(raw, i, caseInsensitive);
      out ??= raw.slice(0, i);
      out += d.text;
      i = d.end - 1;
      last = d.last; len += d.chars;
      if (d.dot) dots++;
      continue;
    }
    if (c >= 0x80 || PLAIN[c] !== 1) {
      if (c === 0x3b) refuse('path parameter (;)', 'semicolon in path');
      if (c === 0x5c) refuse('backslash', 'backslash in path');
      if (c === 0x23) refuse('fragment (#) in the request target', 'hash in path');
      refuse('character not allowed in a path', `0x${c.toString(16)} in path`);
    }
    if (out !== undefined) out += raw[i];
    if (c === 0x2e) dots++;
    last = c; len++;
  }
  const path = out ?? raw;
  // `name::$DATA` is the file `name` to Windows (an NTFS stream), as IIS serves static files. Checked on the
  // key, where `%3A` and `%24` are decoded as rules see them (and IIS does): `%3A%3A%24DATA` is the same stream.
  if (pathKey(path, false).includes(':$')) refuse('NTFS stream name (:$)', 'colon-dollar in path');
  return path;
}

interface Decoded {
  /** The canonical spelling of the escapes. */
  text: string;
  /** Index in raw after the last escape consumed. */
  end: number;
  /** Decoded characters (a UTF-8 run counts as its characters). */
  chars: number;
  /** The last decoded character's code (for a UTF-8 run, any non-ASCII stand-in: only dot and space matter). */
  last: number;
  /** Whether the single escape decoded to a dot. */
  dot: boolean;
}

/**
 * Decodes one `%XX`, or a run of `%XX` bytes >= 0x80 that must be whole, shortest-form UTF-8 (overlong
 * forms such as `%C0%AE` are how `..` used to be smuggled past checks).
 */
function decodeEscapes(raw: string, at: number, caseInsensitive: boolean): Decoded {
  const b = escapeAt(raw, at);
  if (b < 0x80) {
    const ch = String.fromCharCode(b);
    if (UNRESERVED.test(ch)) return { text: ch, end: at + 3, chars: 1, last: b, dot: b === 0x2e };
    if (b < 0x20 || b === 0x7f) refuse('encoded control character', `%${raw.slice(at + 1, at + 3)} in path`);
    if (b === 0x2f || b === 0x5c) refuse('encoded separator', `%${raw.slice(at + 1, at + 3)} in path`);
    if (b === 0x3b) refuse('encoded path parameter (%3B)', '%3B in path');
    if (b === 0x25) refuse('double percent-encoding (%25)', '%25 in path');
    return { text: pct(b), end: at + 3, chars: 1, last: b, dot: false };
  }
  const bytes: number[] = [b];
  let end = at + 3;
  while (end < raw.length && raw.charCodeAt(end) === 0x25) {
    const next = escapeAt(raw, end);
    if (next < 0x80) break;
    bytes.push(next);
    end += 3;
  }
  let text: string;
  try {
    text = utf8.decode(Uint8Array.from(bytes));
  } catch {
    return refuse('invalid or overlong UTF-8', `invalid UTF-8 escapes at offset ${at}`);
  }
  checkUnicode(text, caseInsensitive);
  return { text: bytes.map(pct).join(''), end, chars: [...text].length, last: 0x80, dot: false };
}

/** The byte of the `%XX` at `at`; refuses `%` without two hex digits (IIS's `%u002e` among them). */
function escapeAt(raw: string, at: number): number {
  const h = at + 2 < raw.length ? hex(raw.charCodeAt(at + 1)) : -1;
  const l = h < 0 ? -1 : hex(raw.charCodeAt(at + 2));
  if (l < 0) refuse('malformed percent-encoding', `bad escape at offset ${at}`);
  return h * 16 + l;
}

/** Refuses decoded non-ASCII text an upstream could read as something else. */
function checkUnicode(text: string, caseInsensitive: boolean): void {
  if (INVISIBLE.test(text)) refuse('invisible or space-like Unicode character', 'Unicode control, format or space character');
  if (text.normalize('NFKC') !== text) refuse('Unicode character with a compatibility form (fullwidth, ligature, …)', 'not NFKC-stable');
  if (SEPARATOR_LOOKALIKES.test(text)) refuse('Unicode look-alike of a separator or dot', 'separator look-alike');
  if (!caseInsensitive) return;
  for (const ch of text) {
    const up = ch.toUpperCase();
    const low = ch.toLowerCase();
    // One plain case pair, neither side ASCII: `ı`→`I`, `ſ`→`S`, `ß`→`SS`, `ς`/`σ`→`Σ` are not.
    if (up.length !== ch.length || low.length !== ch.length || up.toLowerCase() !== low || low.toUpperCase() !== up || up.charCodeAt(0) < 0x80 || low.charCodeAt(0) < 0x80) {
      refuse('Unicode letter without one plain case pair', 'case mapping is ambiguous');
    }
  }
}

/**
 * Escapes of characters a path may also carry as they are (`%40` and `@`, `%3A` and `:`, the sub-delims):
 * forwarded as sent, since some upstreams give them a meaning of their own, but matched decoded, since
 * most upstreams decode them before routing.
 */
const LITERAL_ESCAPE = /%(?:2[146-9A-C]|3[AD]|40)/g;
/** A run of UTF-8 escapes in a canonical path (upper-case hex). */
const UTF8_RUN = /(?:%[89A-F][0-9A-F])+/g;

/**
 * What route rules and token endpoints are matched on: the canonical path with the escapes of
 * {@link LITERAL_ESCAPE} decoded and, with `caseInsensitive`, case-folded (ASCII and the plain-pair
 * letters {@link canonicalPath} lets through, decoded so that `%C3%89` and `%C3%A9` fold alike). Rule
 * paths are keyed the same way. The path itself when it has no escape and case matters (the common case).
 */
export function pathKey(path: string, caseInsensitive: boolean): string {
  if (!path.includes('%')) return caseInsensitive ? path.toLowerCase() : path;
  const key = path.replace(LITERAL_ESCAPE, (e) => String.fromCharCode(parseInt(e.slice(1), 16)));
  if (!caseInsensitive) return key;
  return key.replace(UTF8_RUN, (run) => encodeURIComponent(decodeURIComponent(run).toLowerCase())).toLowerCase();
}
