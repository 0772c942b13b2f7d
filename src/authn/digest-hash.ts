/**
 * The HTTP Digest computations of RFC 7616 §3.4, kept pure so they can be checked against the RFC's
 * examples (and errata 4897 for the SHA-512-256 one).
 *
 * Encodings: user names and passwords are Unicode and hashed as UTF-8 (the challenge says `charset=UTF-8`,
 * and RFC 7616 §4 expects them in NFC). Everything taken from the wire (nonce, cnonce, nc, qop, method,
 * uri) is hashed octet for octet: Node hands header values and the request target over as latin1 strings
 * (one char per octet), so they are encoded back as latin1.
 */
import { hash as oneShotHash } from 'node:crypto';

/** The hash functions of the IANA "HTTP Digest Hash Algorithms" registry that we implement. */
export const DIGEST_HASHES = ['MD5', 'SHA-256', 'SHA-512-256'] as const;
export type DigestHash = (typeof DIGEST_HASHES)[number];

/** The `algorithm` values we implement (each hash, plain and `-sess`). */
export const DIGEST_ALGORITHMS = ['SHA-256', 'SHA-256-sess', 'SHA-512-256', 'SHA-512-256-sess', 'MD5', 'MD5-sess'] as const;
export type DigestAlgorithm = (typeof DIGEST_ALGORITHMS)[number];

export type DigestQop = 'auth' | 'auth-int';

const NODE_NAME: Record<DigestHash, string> = { 'MD5': 'md5', 'SHA-256': 'sha256', 'SHA-512-256': 'sha512-256' };
/** Length of a hash's lower-case hex output. */
export const HEX_LENGTH: Record<DigestHash, number> = { 'MD5': 32, 'SHA-256': 64, 'SHA-512-256': 64 };

/** The hash and session-ness of an algorithm name; `undefined` for names we do not implement. */
export function algorithmInfo(name: string): { algorithm: DigestAlgorithm; hash: DigestHash; sess: boolean } | undefined {
  const algorithm = DIGEST_ALGORITHMS.find((a) => a.toLowerCase() === name.toLowerCase());
  if (algorithm === undefined) return undefined;
  const sess = algorithm.endsWith('-sess');
  return { algorithm, hash: (sess ? algorithm.slice(0, -'-sess'.length) : algorithm) as DigestHash, sess };
}

const NON_ASCII = /[^\x00-\x7f]/;

/** H(data) as lower-case hex. One-shot `crypto.hash` (it hashes strings as UTF-8, which is latin1 for ASCII). */
export function hashHex(hash: DigestHash, data: string | Buffer, encoding: 'utf8' | 'latin1' = 'utf8'): string {
  const input = typeof data === 'string' && encoding === 'latin1' && NON_ASCII.test(data) ? Buffer.from(data, 'latin1') : data;
  return oneShotHash(NODE_NAME[hash], input, 'hex');
}

/** H(username ":" realm ":" password): what an accounts file stores per realm and hash. */
export function digestHa1(hash: DigestHash, username: string, realm: string, password: string): string {
  return hashHex(hash, `${username.normalize('NFC')}:${realm}:${password.normalize('NFC')}`, 'utf8');
}

/** H(username ":" realm): the user name a client sends with `userhash=true` (RFC 7616 §3.4.4). */
export function digestUserhash(hash: DigestHash, username: string, realm: string): string {
  return hashHex(hash, `${username.normalize('NFC')}:${realm}`, 'utf8');
}

export interface ResponseInput {
  hash: DigestHash;
  sess: boolean;
  /** Stored H(username:realm:password), lower-case hex. */
  ha1: string;
  nonce: string;
  nc: string;
  cnonce: string;
  qop: DigestQop;
  /** The qop token as the client sent it, when its case differs (it is hashed as sent). */
  qopAsSent?: string;
  method: string;
  uri: string;
  /** The entity body, for `qop=auth-int`. */
  body?: Buffer;
}

/**
 * The expected `response` (RFC 7616 §3.4.1): `KD(H(A1), nonce ":" nc ":" cnonce ":" qop ":" H(A2))`, with
 * `H(A1) = H(H(user:realm:pass) ":" nonce ":" cnonce)` for `-sess` algorithms and
 * `A2 = method ":" uri [":" H(entity-body)]` (the latter for `auth-int`).
 */
export function digestResponse(i: ResponseInput): string {
  const ha1 = i.sess ? hashHex(i.hash, `${i.ha1}:${i.nonce}:${i.cnonce}`, 'latin1') : i.ha1;
  const a2 = i.qop === 'auth-int'
    ? `${i.method}:${i.uri}:${hashHex(i.hash, i.body ?? Buffer.alloc(0))}`
    : `${i.method}:${i.uri}`;
  const ha2 = hashHex(i.hash, a2, 'latin1');
  return hashHex(i.hash, `${ha1}:${i.nonce}:${i.nc}:${i.cnonce}:${i.qopAsSent ?? i.qop}:${ha2}`, 'latin1');
}
