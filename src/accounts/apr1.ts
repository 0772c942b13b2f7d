/**
 * Apache's `$apr1$` password hash (MD5-crypt with Apache's magic string, written by `htpasswd -m`, the
 * default before Apache 2.4). MD5-crypt as published by Poul-Henning Kamp (FreeBSD `crypt-md5.c`), the same
 * algorithm as APR's `apr_md5_encode`. Verification only: trackgate never writes this weak format.
 */
import { createHash } from 'node:crypto';

const ITOA64 = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

const md5 = (...parts: Buffer[]): Buffer => {
  const h = createHash('md5');
  for (const p of parts) h.update(p);
  return h.digest();
};

function to64(value: number, chars: number): string {
  let out = '';
  for (let i = 0; i < chars; i++, value >>>= 6) out += ITOA64[value & 0x3f];
  return out;
}

/**
 * `$apr1$<salt>$<22 chars>` for `password` (its UTF-8 bytes) and `salt` (up to 8 characters before any `$`).
 */
export function apr1(password: string | Buffer, salt: string, magic = '$apr1$'): string {
  const pw = typeof password === 'string' ? Buffer.from(password, 'utf8') : password;
  const s = Buffer.from(salt.split('$')[0]!, 'utf8').subarray(0, 8);
  const alt = md5(pw, s, pw);
  const parts: Buffer[] = [pw, Buffer.from(magic, 'utf8'), s];
  for (let i = pw.length; i > 0; i -= 16) parts.push(alt.subarray(0, Math.min(16, i)));
  // One bit per length bit: a NUL byte for 1, the first password byte for 0 (a quirk of the original).
  for (let i = pw.length; i > 0; i >>>= 1) parts.push(i & 1 ? Buffer.alloc(1) : pw.subarray(0, 1));
  let final = md5(...parts);
  for (let i = 0; i < 1000; i++) {
    const round: Buffer[] = [i & 1 ? pw : final];
    if (i % 3) round.push(s);
    if (i % 7) round.push(pw);
    round.push(i & 1 ? final : pw);
    final = md5(...round);
  }
  const b = (i: number): number => final[i]!;
  const encoded = to64((b(0) << 16) | (b(6) << 8) | b(12), 4)
    + to64((b(1) << 16) | (b(7) << 8) | b(13), 4)
    + to64((b(2) << 16) | (b(8) << 8) | b(14), 4)
    + to64((b(3) << 16) | (b(9) << 8) | b(15), 4)
    + to64((b(4) << 16) | (b(10) << 8) | b(5), 4)
    + to64(b(11), 2);
  return `${magic}${s.toString('utf8')}$${encoded}`;
}
