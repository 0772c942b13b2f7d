/**
 * Password hashes at rest. The default is scrypt from `node:crypto`, encoded PHC-style:
 * `$scrypt$ln=<log2 N>,r=<r>,p=<p>$<salt b64>$<hash b64>`. Comparison is constant-time.
 */
import { randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';

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

const SCRYPT_RE = /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/;

/** Whether `encoded` is a hash format this build can verify. Used by the accounts-file validator. */
export function isSupportedHash(encoded: string): boolean {
  return SCRYPT_RE.test(encoded);
}

/** Verifies a password against an encoded hash; false for wrong passwords and unknown formats. */
export async function verifyPassword(encoded: string, password: string): Promise<boolean> {
  const m = SCRYPT_RE.exec(encoded);
  if (!m) return false;
  const params = { ln: Number(m[1]), r: Number(m[2]), p: Number(m[3]) };
  const salt = Buffer.from(m[4]!, 'base64');
  const expected = Buffer.from(m[5]!, 'base64');
  const actual = await scrypt(password.normalize('NFC'), salt, expected.length, scryptOptions(params));
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

function scryptOptions(p: ScryptParams): ScryptOptions {
  const N = 2 ** p.ln;
  return { N, r: p.r, p: p.p, maxmem: 256 * N * p.r + 1024 * 1024 };
}

let dummyHash: Promise<string> | undefined;
/**
 * Burns the same time as a real check, so an unknown user id costs what a known one does (no user
 * enumeration by timing).
 */
export async function verifyAgainstDummy(password: string): Promise<false> {
  dummyHash ??= hashPassword('trackgate-timing-equaliser');
  await verifyPassword(await dummyHash, password);
  return false;
}
