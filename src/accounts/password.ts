/**
 * Password hashes at rest. trackgate writes scrypt from `node:crypto`, encoded PHC-style:
 * `$scrypt$ln=<log2 N>,r=<r>,p=<p>$<salt b64>$<hash b64>`.
 *
 * It also verifies the formats found in Apache `htpasswd` files and other systems' exports, so such accounts
 * can be imported as they are (`trackgate import htpasswd`):
 *
 * | format   | looks like                                   | written by                            |
 * |----------|----------------------------------------------|---------------------------------------|
 * | scrypt   | `$scrypt$ln=14,r=8,p=1$<salt>$<hash>`        | `trackgate hash-password`             |
 * | bcrypt   | `$2y$05$<53 chars>` (also `$2a$`, `$2b$`)    | `htpasswd -B`, PHP, most frameworks   |
 * | apr1     | `$apr1$<salt>$<22 chars>`                    | `htpasswd -m` (Apache's old default)  |
 * | sha1     | `{SHA}<base64 of SHA-1>`                     | `htpasswd -s` (unsalted: weak)        |
 * | argon2id | `$argon2id$v=19$m=…,t=…,p=…$<salt>$<hash>`   | argon2 CLI, libsodium, PHP, Python    |
 *
 * Plain-text passwords and crypt(3) DES (`htpasswd -d`/`-p`) are refused when the accounts file is loaded.
 * Every comparison is constant-time. The foreign formats hash the password's UTF-8 bytes as given (the
 * tools that wrote them did not normalise); scrypt hashes its NFC form. bcrypt, as everywhere, uses only the
 * first 72 bytes of a password. Verification cost is paid on validation-cache misses only. On the request
 * path, checks go through `password-verifier.ts`, which makes every failure take the same work and time.
 */
import { createHash, randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { hash as bcryptHash } from 'bcryptjs';
import type { Algorithm, Version } from '@node-rs/argon2';
import { apr1 } from './apr1.js';

const scrypt = (password: string | Buffer, salt: Buffer, keylen: number, opts: ScryptOptions): Promise<Buffer> =>
  new Promise((resolve, reject) => {
    scryptCb(password, salt, keylen, opts, (err, key) => (err ? reject(err) : resolve(key)));
  });

export interface ScryptParams {
  /** log2 of the CPU/memory cost N. 14 ≈ 16 MiB and a few tens of ms. */
  ln: number;
  r: number;
  p: number;
}

export const DEFAULT_SCRYPT: ScryptParams = { ln: 14, r: 8, p: 1 };
const KEYLEN = 32;

export async function hashPassword(password: string, params: ScryptParams = DEFAULT_SCRYPT): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(password.normalize('NFC'), salt, KEYLEN, scryptOptions(params));
  return `$scrypt$ln=${params.ln},r=${params.r},p=${params.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

export type HashFormat = 'scrypt' | 'bcrypt' | 'apr1' | 'sha1' | 'argon2id';

/** Strict base64 (padding only at the end: Node's decoder would ignore anything after it). */
const SCRYPT_RE = /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9+/]+={0,2})\$([A-Za-z0-9+/]+={0,2})$/;
/**
 * scrypt parameters verified on the request path: N = 2^ln > 1, r and p ≥ 1, at most 1 GiB per check (a
 * larger cost would throw or exhaust memory on every failed login), a salt of ≥ 8 and a key of 16–64 bytes.
 */
function scryptParamsOk(m: RegExpExecArray): boolean {
  const ln = Number(m[1]);
  const r = Number(m[2]);
  const p = Number(m[3]);
  const saltBytes = Buffer.from(m[4]!, 'base64').length;
  const keyBytes = Buffer.from(m[5]!, 'base64').length;
  return ln >= 1 && ln <= 20 && r >= 1 && r <= 32 && p >= 1 && p <= 16 && 128 * 2 ** ln * r <= 1024 ** 3
    && saltBytes >= 8 && keyBytes >= 16 && keyBytes <= 64;
}
/** `$2a$`/`$2b$`/`$2y$` (the same algorithm today), cost, 22 salt + 31 hash characters (bcrypt base64). */
const BCRYPT_RE = /^\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}$/;
const APR1_RE = /^\$apr1\$([^$:]{0,8})\$[./0-9A-Za-z]{22}$/;
const SHA1_RE = /^\{SHA\}([A-Za-z0-9+/]{27}=)$/;
/** PHC string; `v=` is absent from hashes made before Argon2 1.3. Base64 without padding. */
const ARGON2ID_RE = /^\$argon2id\$(?:v=(\d+)\$)?m=(\d{1,10}),t=(\d{1,10}),p=(\d{1,3})\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/;

/** htpasswd caps `-C` at 17; bcryptjs runs on the main thread, so higher costs would stall the proxy. */
const BCRYPT_COST = { min: 4, max: 17 } as const;
/**
 * Each failed guess (a cache miss) allocates `m` KiB: 256 MiB is four times the common 64 MiB profile
 * (RFC 9106's second recommendation) and keeps a burst of wrong passwords from exhausting the pod.
 */
export const ARGON2_LIMITS = { maxMemoryKiB: 256 * 1024, maxTime: 32, maxParallelism: 16 } as const;

interface Argon2Params {
  version: 0x10 | 0x13;
  m: number;
  t: number;
  p: number;
  salt: Buffer;
  hash: Buffer;
}

function parseArgon2id(encoded: string): Argon2Params | string {
  const m = ARGON2ID_RE.exec(encoded);
  if (!m) return 'malformed argon2id PHC string (expected $argon2id$v=19$m=…,t=…,p=…$<salt>$<hash>)';
  const version = m[1] === undefined ? 0x10 : Number(m[1]);
  if (version !== 0x10 && version !== 0x13) return 'argon2id version must be 19 (or 16)';
  const params = { version, m: Number(m[2]), t: Number(m[3]), p: Number(m[4]), salt: Buffer.from(m[5]!, 'base64'), hash: Buffer.from(m[6]!, 'base64') } as Argon2Params;
  if (params.p < 1 || params.p > ARGON2_LIMITS.maxParallelism) return `argon2id parallelism must be 1–${ARGON2_LIMITS.maxParallelism}`;
  if (params.t < 1 || params.t > ARGON2_LIMITS.maxTime) return `argon2id time cost must be 1–${ARGON2_LIMITS.maxTime}`;
  if (params.m < 8 * params.p || params.m > ARGON2_LIMITS.maxMemoryKiB) {
    return `argon2id memory cost must be 8×p–${ARGON2_LIMITS.maxMemoryKiB} KiB (every failed login allocates it)`;
  }
  if (params.salt.length < 8 || params.salt.length > 64) return 'argon2id salt must be 8–64 bytes';
  if (params.hash.length < 16 || params.hash.length > 64) return 'argon2id hash must be 16–64 bytes';
  return params;
}

/** The format of `encoded`, or undefined when this build cannot verify it (see {@link hashProblem}). */
export function hashFormat(encoded: string): HashFormat | undefined {
  const scrypt = SCRYPT_RE.exec(encoded);
  if (scrypt) return scryptParamsOk(scrypt) ? 'scrypt' : undefined;
  const bcrypt = BCRYPT_RE.exec(encoded);
  if (bcrypt) {
    const cost = Number(bcrypt[1]);
    return cost >= BCRYPT_COST.min && cost <= BCRYPT_COST.max ? 'bcrypt' : undefined;
  }
  if (APR1_RE.test(encoded)) return 'apr1';
  if (SHA1_RE.test(encoded)) return 'sha1';
  if (encoded.startsWith('$argon2id$')) return typeof parseArgon2id(encoded) === 'string' ? undefined : 'argon2id';
  return undefined;
}

/** Whether `encoded` is a hash format this build can verify. Used by the accounts-file validator. */
export function isSupportedHash(encoded: string): boolean {
  return hashFormat(encoded) !== undefined;
}

const REHASH = 're-hash with `trackgate hash-password`';
const SUPPORTED = 'scrypt, bcrypt ($2a$/$2b$/$2y$), apr1, {SHA}, argon2id';

/**
 * Why `encoded` is not accepted, for the accounts-file validator and the importers; undefined when it is
 * supported. Never quotes the value (it may be a plain-text password).
 */
export function hashProblem(encoded: string): string | undefined {
  if (hashFormat(encoded) !== undefined) return undefined;
  if (encoded.startsWith('$scrypt$')) return `malformed scrypt hash: ${REHASH}`;
  if (/^\$2[aby]\$\d\d\$/.test(encoded)) {
    return BCRYPT_RE.test(encoded)
      ? `bcrypt cost must be ${BCRYPT_COST.min}–${BCRYPT_COST.max} (it is verified on the request path): ${REHASH}`
      : `malformed bcrypt hash: ${REHASH}`;
  }
  if (encoded.startsWith('$2')) return `unsupported bcrypt variant (only $2a$, $2b$ and $2y$): ${REHASH}`;
  if (encoded.startsWith('$apr1$')) return `malformed apr1 hash: ${REHASH}`;
  if (encoded.startsWith('{SHA}')) return `malformed {SHA} hash (base64 of a 20-byte SHA-1): ${REHASH}`;
  if (encoded.startsWith('$argon2id$')) return `${parseArgon2id(encoded) as string}: ${REHASH}`;
  if (encoded.startsWith('$argon2')) return `only the argon2id variant of argon2 is accepted: ${REHASH}`;
  const scheme = /^\$([A-Za-z0-9]{1,8})\$/.exec(encoded);
  if (scheme) return `unsupported crypt(3) scheme $${scheme[1]}$ (supported: ${SUPPORTED}): ${REHASH}`;
  if (/^[./0-9A-Za-z]{13}$/.test(encoded) || /^_[./0-9A-Za-z]{19}$/.test(encoded)) {
    return `crypt(3) DES hashes are not accepted (they use only the first 8 characters of a password): ${REHASH}`;
  }
  return `not a supported password hash (plain-text passwords are not accepted; supported: ${SUPPORTED}): ${REHASH}`;
}

/** Verifies a password against an encoded hash; false for wrong passwords and unsupported formats. */
export async function verifyPassword(encoded: string, password: string): Promise<boolean> {
  switch (hashFormat(encoded)) {
    case 'scrypt': return verifyScrypt(encoded, password);
    case 'bcrypt': return verifyBcrypt(encoded, password);
    case 'apr1': return equal(apr1(password, APR1_RE.exec(encoded)![1]!), encoded);
    case 'sha1': return equal(`{SHA}${createHash('sha1').update(password, 'utf8').digest('base64')}`, encoded);
    case 'argon2id': return verifyArgon2id(parseArgon2id(encoded) as Argon2Params, password);
    default: return false;
  }
}

async function verifyScrypt(encoded: string, password: string): Promise<boolean> {
  const m = SCRYPT_RE.exec(encoded)!;
  const params = { ln: Number(m[1]), r: Number(m[2]), p: Number(m[3]) };
  const salt = Buffer.from(m[4]!, 'base64');
  const expected = Buffer.from(m[5]!, 'base64');
  let actual: Buffer;
  try {
    actual = await scrypt(password.normalize('NFC'), salt, expected.length, scryptOptions(params));
  } catch {
    return false; // parameters node:crypto refuses: a hash we cannot verify never matches
  }
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

async function verifyBcrypt(encoded: string, password: string): Promise<boolean> {
  // Recompute with the stored salt (the first 29 characters) and compare the whole string in constant time.
  return equal(await bcryptHash(password, encoded.slice(0, 29)), encoded);
}

// Loaded on first use: a native binding (a per-platform npm package) that only argon2id accounts need, so
// a platform without it cannot stop trackgate from starting.
let argon2: Promise<typeof import('@node-rs/argon2')> | undefined;

async function verifyArgon2id(params: Argon2Params, password: string): Promise<boolean> {
  argon2 ??= import('@node-rs/argon2').catch((err: unknown) => {
    argon2 = undefined;
    throw new Error(`argon2id verification unavailable: @node-rs/argon2 did not load (${(err as Error).message})`);
  });
  const { hashRaw } = await argon2;
  const actual = await hashRaw(Buffer.from(password, 'utf8'), {
    algorithm: 2 as Algorithm, // Argon2id (a const enum, not importable under isolatedModules)
    version: (params.version === 0x13 ? 1 : 0) as Version,
    memoryCost: params.m,
    timeCost: params.t,
    parallelism: params.p,
    salt: params.salt,
    outputLen: params.hash.length,
  });
  return actual.length === params.hash.length && timingSafeEqual(actual, params.hash);
}

/** Constant-time string equality (lengths are not secret: they are fixed by the format). */
function equal(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}

function scryptOptions(p: ScryptParams): ScryptOptions {
  const N = 2 ** p.ln;
  return { N, r: p.r, p: p.p, maxmem: 256 * N * p.r + 1024 * 1024 };
}
