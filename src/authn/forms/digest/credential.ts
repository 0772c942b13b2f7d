/**
 * A Digest `Authorization` value read into a credential. Syntax only: every required field present and
 * well-formed (missing or unreadable → 400); what the values mean is `verify.ts`'s job.
 */
import type { Credential } from '../../types.js';
import { malformed } from './errors.js';
import { ID } from './options.js';

export interface DigestCredential extends Credential {
  /** The user name (decoded from `username*` when that was used), or the userhash hex when `userhash`. */
  readonly username: string;
  readonly userhash: boolean;
  readonly realm: string;
  readonly nonce: string;
  readonly uri: string;
  /** Lower-case hex. */
  readonly response: string;
  /** As sent; `MD5` when absent (RFC 7616 §3.4). */
  readonly algorithm: string;
  /** As sent (hashed as sent). */
  readonly qop: string;
  /** The 8 hex digits as sent (hashed as sent), and their value. */
  readonly nc: string;
  readonly count: number;
  readonly cnonce: string;
  readonly opaque: string;
}

const NC_RE = /^[0-9a-fA-F]{8}$/;
const HEX_RE = /^[0-9a-fA-F]+$/;
const CONTROL_RE = /[\u0000-\u001f\u007f]/;
const NON_ASCII_RE = /[\u0080-\u00ff]/;
// RFC 8187: ext-value = charset "'" [ language ] "'" value-chars
const EXT_VALUE_RE = /^([A-Za-z0-9!#$%&+^_`{}~-]+)'([A-Za-z0-9-]*)'((?:%[0-9A-Fa-f]{2}|[A-Za-z0-9!#$&+.^_`|~-])*)$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Reads the auth-params of a Digest `Authorization` value into a credential (see the file's comment). */
export function parseDigestCredential(params: ReadonlyMap<string, string>): DigestCredential {
  const get = (name: string, hint = ''): string => {
    const v = params.get(name);
    if (v === undefined || v === '') throw malformed(`missing ${name}${hint}`);
    return v;
  };
  const { username, userhash } = usernameOf(params);
  const qop = params.get('qop');
  if (qop === undefined) throw malformed('missing qop (RFC 2069 Digest is not supported)');
  const nc = get('nc');
  const count = countOf(nc);
  const response = get('response');
  if (!HEX_RE.test(response)) throw malformed('response is not hex');
  return {
    scheme: ID,
    cacheParts: undefined,
    username,
    userhash,
    realm: get('realm'),
    nonce: get('nonce'),
    uri: get('uri'),
    response: response.toLowerCase(),
    algorithm: params.get('algorithm') ?? 'MD5',
    qop,
    nc,
    count,
    cnonce: get('cnonce'),
    opaque: get('opaque', ' (it must be returned as sent)'),
  };
}

/** The user name from `username` (raw octets, or the userhash hex) or `username*` (RFC 8187), never both. */
function usernameOf(params: ReadonlyMap<string, string>): { username: string; userhash: boolean } {
  const userhashParam = params.get('userhash')?.toLowerCase();
  if (userhashParam !== undefined && userhashParam !== 'true' && userhashParam !== 'false') throw malformed('userhash must be true or false');
  const userhash = userhashParam === 'true';
  const plain = params.get('username');
  const ext = params.get('username*');
  let username: string;
  if (plain !== undefined && ext !== undefined) throw malformed('both username and username*');
  if (ext !== undefined) {
    if (userhash) throw malformed('username* with userhash=true');
    username = decodeExtValue(ext);
  } else if (plain !== undefined) {
    username = userhash ? plain.toLowerCase() : decodeOctets(plain, 'username');
    if (userhash && !HEX_RE.test(username)) throw malformed('userhash username is not hex');
  } else {
    throw malformed('missing username');
  }
  if (username === '' || CONTROL_RE.test(username)) throw malformed('username is empty or has control characters');
  return { username, userhash };
}

/** The value of `nc`: exactly 8 hex digits, not 0 (the count of a first request is 1). */
function countOf(nc: string): number {
  if (!NC_RE.test(nc)) throw malformed('nc must be 8 hex digits');
  const count = parseInt(nc, 16);
  if (count === 0) throw malformed('nc must not be 0');
  return count;
}

/** A user name that arrived as raw octets in a quoted-string: UTF-8 per our `charset=UTF-8`. */
function decodeOctets(value: string, field: string): string {
  if (!NON_ASCII_RE.test(value)) return value;
  try {
    return utf8.decode(Buffer.from(value, 'latin1'));
  } catch {
    throw malformed(`${field} is not valid UTF-8`);
  }
}

/** Decodes an RFC 8187 ext-value (`UTF-8''J%C3%A4s%C3%B8n`); UTF-8 and ISO-8859-1 are accepted. */
export function decodeExtValue(value: string): string {
  const m = EXT_VALUE_RE.exec(value);
  if (m === null) throw malformed('username* is not an RFC 8187 ext-value');
  const charset = m[1]!.toLowerCase();
  if (charset !== 'utf-8' && charset !== 'iso-8859-1') throw malformed('username* charset must be UTF-8');
  const bytes = Buffer.from(m[3]!.replace(/%([0-9A-Fa-f]{2})|([^%])/g, (_s, hex: string | undefined, c: string | undefined) =>
    hex !== undefined ? String.fromCharCode(parseInt(hex, 16)) : c!), 'latin1');
  if (charset === 'iso-8859-1') return bytes.toString('latin1');
  try {
    return utf8.decode(bytes);
  } catch {
    throw malformed('username* is not valid UTF-8');
  }
}
