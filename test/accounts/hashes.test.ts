/**
 * Every password-hash format the accounts file accepts verifies its right password and rejects a wrong one,
 * against vectors made by other implementations (PHP/libxcrypt bcrypt, OpenSSL apr1 and SHA-1, the Argon2
 * reference implementation); the formats trackgate refuses are refused with a message that says what to do
 * and never quotes the value.
 */
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hash as argon2Hash, type Algorithm } from '@node-rs/argon2';
import { apr1 } from '../../src/accounts/apr1.js';
import {
  hashFormat, hashPassword, hashProblem, isSupportedHash, verifyPassword,
} from '../../src/accounts/password.js';
import { accountsFileSchema } from '../../src/accounts/schema.js';
import { ConfigError } from '../../src/config/load.js';
import { loadAccounts } from '../../src/accounts/load.js';

/** PHP manual's `password_verify` example; libxcrypt's crypt(3) gives the same string. */
const BCRYPT_2Y = { password: 'rasmuslerdorf', hash: '$2y$07$BCryptRequires22Chrcte/VlQH0piJtjXl.0t1XkA8pw9dMXTpOq' };
/** Argon2 reference implementation test vector (test.c: argon2id, v=19, t=2, m=2^16, p=1, "somesalt"). */
const ARGON2ID = { password: 'password', hash: '$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc' };
/** `openssl passwd -apr1 -salt SALT PASSWORD` (OpenSSL 3.0). */
const APR1_VECTORS: [password: string, salt: string, hash: string][] = [
  ['password', 'abcdefgh', '$apr1$abcdefgh$FBwExRW4dCc8aL.OvjpIE1'],
  ['a', 'saltsalt', '$apr1$saltsalt$OEnK0QmmvoDzFw9W2yFYT/'],
  ['correct horse battery staple', 'Zz09./ab', '$apr1$Zz09./ab$xyKzDBq6ia4ZteVUzobFg0'],
  ['0123456789abcdef', 'abc', '$apr1$abc$yWxGS/hDoDlT/I0f4OdfM1'], // exactly 16 bytes
  ['0123456789abcdef0', 'ab12', '$apr1$ab12$MacaOzCsfuwKZbXX2aGUz/'], // 17 bytes
  ['pässwörd', 'Q7xl/UqO', '$apr1$Q7xl/UqO$pf4ad9AqRSj36HRCrovVH.'], // UTF-8
  ['a'.repeat(92), 'LongPw12', '$apr1$LongPw12$WkLuMI5Pf1MMZlM9h512.0'],
  ['', 'empty', '$apr1$empty$2xqo3.Kvhs0trRzrejcx41'],
  ['p', 'x', '$apr1$x$ya00XvwA0viq10Nb5bv6L.'], // 1-char salt
];
/** `printf password | openssl sha1 -binary | base64`: what `htpasswd -s` writes. */
const SHA = { password: 'password', hash: '{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=' };

const openssl = ((): boolean => {
  try { execFileSync('openssl', ['version'], { stdio: 'pipe' }); return true; } catch { return false; }
})();

describe('scrypt (written by trackgate)', () => {
  it('hashPassword still writes scrypt, which verifies its password only', async () => {
    const h = await hashPassword('correct horse', { ln: 10, r: 8, p: 1 });
    expect(h).toMatch(/^\$scrypt\$ln=10,r=8,p=1\$/);
    expect(hashFormat(h)).toBe('scrypt');
    expect(await verifyPassword(h, 'correct horse')).toBe(true);
    expect(await verifyPassword(h, 'correct horsf')).toBe(false);
  });
});

describe('bcrypt', () => {
  it('verifies the $2y$ vector (htpasswd -B writes $2y$) and rejects a wrong password', async () => {
    expect(hashFormat(BCRYPT_2Y.hash)).toBe('bcrypt');
    expect(await verifyPassword(BCRYPT_2Y.hash, BCRYPT_2Y.password)).toBe(true);
    expect(await verifyPassword(BCRYPT_2Y.hash, 'rasmuslerdorF')).toBe(false);
    expect(await verifyPassword(BCRYPT_2Y.hash, '')).toBe(false);
  });

  it('treats $2a$ and $2b$ as the same algorithm', async () => {
    for (const prefix of ['$2a$', '$2b$']) {
      const h = prefix + BCRYPT_2Y.hash.slice(4);
      expect(hashFormat(h)).toBe('bcrypt');
      expect(await verifyPassword(h, BCRYPT_2Y.password)).toBe(true);
      expect(await verifyPassword(h, 'nope')).toBe(false);
    }
  });

  it('refuses $2x$, malformed strings and costs outside 4–17', () => {
    expect(isSupportedHash(`$2x$${BCRYPT_2Y.hash.slice(4)}`)).toBe(false);
    expect(hashProblem(`$2x$${BCRYPT_2Y.hash.slice(4)}`)).toMatch(/bcrypt variant/);
    expect(isSupportedHash(BCRYPT_2Y.hash.slice(0, -1))).toBe(false);
    expect(isSupportedHash(BCRYPT_2Y.hash.replace('$07$', '$18$'))).toBe(false);
    expect(hashProblem(BCRYPT_2Y.hash.replace('$07$', '$18$'))).toMatch(/cost must be 4–17/);
    expect(isSupportedHash(BCRYPT_2Y.hash.replace('$07$', '$03$'))).toBe(false);
  });
});

describe('apr1 (htpasswd -m)', () => {
  it.each(APR1_VECTORS)('matches OpenSSL for %j with salt %j', async (password, salt, expected) => {
    expect(apr1(password, salt)).toBe(expected);
    expect(hashFormat(expected)).toBe('apr1');
    expect(await verifyPassword(expected, password)).toBe(true);
    expect(await verifyPassword(expected, `${password}x`)).toBe(false);
  });

  it('uses at most 8 salt characters, as OpenSSL does', () => {
    expect(apr1('password', 'toolongsalt')).toBe('$apr1$toolongs$nFGf3cjkxYI5zY1uGyd/2.');
  });

  it.runIf(openssl)('matches `openssl passwd -apr1` on random passwords and salts', () => {
    const alphabet = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
    for (let i = 0; i < 12; i++) {
      const salt = [...randomBytes(1 + (i % 8))].map((b) => alphabet[b % 64]).join('');
      const password = randomBytes(1 + i * 7).toString('base64');
      const expected = execFileSync('openssl', ['passwd', '-apr1', '-salt', salt, '-stdin'], { input: password }).toString().trim();
      expect(apr1(password, salt)).toBe(expected);
    }
  });
});

describe('{SHA} (htpasswd -s)', () => {
  it('verifies base64(SHA-1) and rejects a wrong password', async () => {
    expect(hashFormat(SHA.hash)).toBe('sha1');
    expect(await verifyPassword(SHA.hash, SHA.password)).toBe(true);
    expect(await verifyPassword(SHA.hash, 'Password')).toBe(false);
  });

  it.runIf(openssl)('agrees with OpenSSL on a random password', async () => {
    const password = randomBytes(12).toString('hex');
    const b64 = execFileSync('sh', ['-c', 'openssl sha1 -binary | base64'], { input: password }).toString().trim();
    expect(await verifyPassword(`{SHA}${b64}`, password)).toBe(true);
    expect(await verifyPassword(`{SHA}${b64}`, `${password}.`)).toBe(false);
  });

  it('refuses a {SHA} value that is not 20 bytes of base64', () => {
    expect(isSupportedHash('{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g')).toBe(false);
    expect(hashProblem('{SHA}abc')).toMatch(/malformed \{SHA\}/);
  });
});

describe('argon2id', () => {
  it('verifies the reference implementation vector and rejects a wrong password', async () => {
    expect(hashFormat(ARGON2ID.hash)).toBe('argon2id');
    expect(await verifyPassword(ARGON2ID.hash, ARGON2ID.password)).toBe(true);
    expect(await verifyPassword(ARGON2ID.hash, 'passwore')).toBe(false);
  });

  it('verifies PHC strings written by @node-rs/argon2 itself (other parameters)', async () => {
    const h = await argon2Hash('s3cret ü', { algorithm: 2 as Algorithm, memoryCost: 4096, timeCost: 3, parallelism: 2, outputLen: 24 });
    expect(h).toMatch(/^\$argon2id\$v=19\$m=4096,t=3,p=2\$/);
    expect(await verifyPassword(h, 's3cret ü')).toBe(true);
    expect(await verifyPassword(h, 's3cret u')).toBe(false);
  });

  it('refuses other variants and costs that would let failed logins exhaust memory', () => {
    expect(isSupportedHash('$argon2i$v=19$m=65536,t=2,p=4$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG')).toBe(false);
    expect(hashProblem('$argon2i$v=19$m=65536,t=2,p=4$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG')).toMatch(/only the argon2id/);
    const huge = ARGON2ID.hash.replace('m=65536', 'm=2097152');
    expect(isSupportedHash(huge)).toBe(false);
    expect(hashProblem(huge)).toMatch(/memory cost/);
    expect(isSupportedHash(ARGON2ID.hash.replace('v=19', 'v=20'))).toBe(false);
    expect(isSupportedHash(ARGON2ID.hash.replace('$c29tZXNhbHQ$', '$c2FsdA$'))).toBe(false); // 4-byte salt
  });
});

describe('refused formats', () => {
  const cases: [what: string, value: string, message: RegExp][] = [
    ['crypt(3) DES (htpasswd -d)', 'abJnggxhB/yWI', /crypt\(3\) DES/],
    ['plain text (htpasswd -p)', 'my-plain-password', /plain-text passwords are not accepted/],
    ['MD5-crypt $1$', '$1$abcdefgh$abcdefghijklmnopqrstuv', /unsupported crypt\(3\) scheme \$1\$/],
    ['SHA-512-crypt $6$', '$6$saltsalt$abc', /unsupported crypt\(3\) scheme \$6\$/],
    ['malformed scrypt', '$scrypt$ln=14$abc', /malformed scrypt/],
    ['malformed apr1', '$apr1$abc$short', /malformed apr1/],
  ];
  it.each(cases)('%s: not supported, told to re-hash, value not quoted, never verifies', async (_what, value, message) => {
    expect(isSupportedHash(value)).toBe(false);
    expect(hashFormat(value)).toBeUndefined();
    const problem = hashProblem(value)!;
    expect(problem).toMatch(message);
    expect(problem).toContain('re-hash with `trackgate hash-password`');
    expect(problem).not.toContain(value);
    expect(await verifyPassword(value, value)).toBe(false);
  });

  it('the accounts-file schema reports the reason at the offending key', () => {
    const r = accountsFileSchema.safeParse({ users: [{ username: 'u', password: 'abJnggxhB/yWI' }] });
    expect(r.success).toBe(false);
    expect(r.error!.issues[0]!.path).toEqual(['users', 0, 'password']);
    expect(r.error!.issues[0]!.message).toMatch(/crypt\(3\) DES .*re-hash with `trackgate hash-password`/);
  });
});

describe('an accounts file mixing every format', () => {
  it('loads, and each user verifies through verifyPassword', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'trackgate-hashes-'));
    try {
      const scrypt = await hashPassword('s-pass');
      const file = join(dir, 'accounts.yaml');
      writeFileSync(file, [
        'users:',
        `  - { username: s, password: "${scrypt}" }`,
        `  - { username: b, password: "${BCRYPT_2Y.hash}" }`,
        `  - { username: m, password: "${APR1_VECTORS[0]![2]}" }`,
        `  - { username: h, password: "${SHA.hash}" }`,
        `  - { username: a, password: "${ARGON2ID.hash}" }`,
        'admins:',
        `  - { email: x@example.com, instanceId: i, instanceKey: "${BCRYPT_2Y.hash}", password: "${SHA.hash}" }`,
        '',
      ].join('\n'));
      const accounts = loadAccounts(file);
      const pw: Record<string, string> = { s: 's-pass', b: BCRYPT_2Y.password, m: 'password', h: SHA.password, a: ARGON2ID.password };
      for (const u of accounts.users) {
        expect(await verifyPassword(u.password!, pw[u.username]!)).toBe(true);
        expect(await verifyPassword(u.password!, `${pw[u.username]!}?`)).toBe(false);
      }
      writeFileSync(file, 'users:\n  - { username: d, password: "abJnggxhB/yWI" }\n');
      expect(() => loadAccounts(file)).toThrow(ConfigError);
      expect(() => loadAccounts(file)).toThrow(/users\.0\.password: crypt\(3\) DES.*re-hash with `trackgate hash-password`/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
