/**
 * scrypt password hashes: round trip, NFC normalisation, wrong and malformed input. (The timing of failed
 * checks is password-verifier.test.ts's and the reliability suite's.)
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_SCRYPT, hashPassword, isSupportedHash, verifyPassword } from '../../src/accounts/password.js';

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

describe('hash and verify', () => {
  it('round-trips, in the documented PHC-style format with the default parameters', async () => {
    const h = await hashPassword('j.random.password');
    expect(h).toMatch(new RegExp(`^\\$scrypt\\$ln=${DEFAULT_SCRYPT.ln},r=${DEFAULT_SCRYPT.r},p=${DEFAULT_SCRYPT.p}\\$[A-Za-z0-9+/]{22}==\\$[A-Za-z0-9+/]{43}=$`));
    expect(isSupportedHash(h)).toBe(true);
    expect(await verifyPassword(h, 'j.random.password')).toBe(true);
  });

  it('salts: the same password hashes differently each time, and both verify', async () => {
    const [a, b] = await Promise.all([hashPassword('same'), hashPassword('same')]);
    expect(a).not.toBe(b);
    expect(await verifyPassword(a, 'same')).toBe(true);
    expect(await verifyPassword(b, 'same')).toBe(true);
  });

  it('a wrong password is false (including case, whitespace, prefix and empty)', async () => {
    const h = await hashPassword('Secret1');
    for (const wrong of ['secret1', 'Secret1 ', ' Secret1', 'Secret', 'Secret12', '']) expect(await verifyPassword(h, wrong), wrong).toBe(false);
  });

  it('normalises to NFC: a composed and a decomposed é are the same password', async () => {
    const composed = 'caf\u00e9-p\u00e4ss';
    const decomposed = 'cafe\u0301-pa\u0308ss';
    expect(composed).not.toBe(decomposed);
    expect(await verifyPassword(await hashPassword(composed), decomposed)).toBe(true);
    expect(await verifyPassword(await hashPassword(decomposed), composed)).toBe(true);
    expect(await verifyPassword(await hashPassword(composed), 'cafe-pass')).toBe(false);
  });

  it('handles non-ASCII and long passwords', async () => {
    for (const pw of ['пароль', '密码🔑', 'x'.repeat(4096)]) {
      const h = await hashPassword(pw);
      expect(await verifyPassword(h, pw)).toBe(true);
      expect(await verifyPassword(h, pw.slice(0, -1))).toBe(false);
    }
  });

  it('verifies other cost parameters encoded in the hash', async () => {
    const h = await hashPassword('pw', { ln: 10, r: 8, p: 2 });
    expect(h.startsWith('$scrypt$ln=10,r=8,p=2$')).toBe(true);
    expect(await verifyPassword(h, 'pw')).toBe(true);
  });

  it('a malformed or unsupported hash is false, never an exception', async () => {
    const good = await hashPassword('pw');
    const [, , params, salt, key] = good.split('$');
    const cases = [
      '', 'pw', 'plain-text', '$scrypt$', `$scrypt$${params}$${salt}`, `$scrypt$${params}$${salt}$`,
      `$scrypt$${params}$$${key}`, `$scrypt$ln=14,r=8$${salt}$${key}`, `$scrypt$${params}$${salt}$${key}x`,
      // (A key cut at a 4-character boundary is still a valid, shorter scrypt hash; below 16 bytes it is refused.)
      `$scrypt$${params}$${salt}$${key!.slice(0, 12)}`, `$scrypt$${params}$${salt}$${'A'.repeat(43)}=`,
      `$scrypt$${params}$${salt!.slice(0, 4)}$${key}`, `$scrypt$${params}$${salt}=$${key}`,
      `$bogus$${params}$${salt}$${key}`, good.toUpperCase(), ` ${good}`, `${good}\n`,
      // Out-of-range cost parameters (would throw in scrypt, or ask for terabytes of memory).
      `$scrypt$ln=0,r=8,p=1$${salt}$${key}`, `$scrypt$ln=99,r=8,p=1$${salt}$${key}`,
      `$scrypt$ln=14,r=0,p=1$${salt}$${key}`, `$scrypt$ln=14,r=8,p=0$${salt}$${key}`,
    ];
    for (const c of cases) await expect(verifyPassword(c, 'pw'), JSON.stringify(c)).resolves.toBe(false);
  });

  it('refuses hashes whose scrypt parameters are out of range when the accounts file is loaded', async () => {
    const good = await hashPassword('pw');
    const [, , , salt, key] = good.split('$');
    for (const params of ['ln=0,r=8,p=1', 'ln=21,r=8,p=1', 'ln=99,r=8,p=1', 'ln=30,r=8,p=1', 'ln=14,r=0,p=1', 'ln=14,r=8,p=0', 'ln=20,r=32,p=1', 'ln=14,r=8,p=17']) {
      expect(isSupportedHash(`$scrypt$${params}$${salt}$${key}`), params).toBe(false);
    }
    expect(isSupportedHash(good)).toBe(true);
    expect(isSupportedHash(`$scrypt$ln=1,r=1,p=1$${salt}$${key}`)).toBe(true); // weak, but a valid scrypt hash
    expect(isSupportedHash(`$scrypt$ln=17,r=8,p=1$${salt}$${key}`)).toBe(true);
  });
});

describe('password hashes', () => {
  it('a wrong password costs a real hash (not a short-circuit)', async () => {
    const known = await hashPassword('x');
    const t = median(await Promise.all([0, 1, 2].map(async () => timed(() => verifyPassword(known, 'y')))));
    expect(t).toBeGreaterThan(1);
  });
});
