/**
 * Digest building blocks in isolation: the response computation against RFC 7616 §3.9 (and errata 4897)
 * and an independent implementation (python3 hashlib), stateless nonces, the nc replay store, credential
 * parsing and the uri rule.
 */
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { TrackgateError } from '../../src/errors.js';
import { parseAuthParams } from '../../src/authn/auth-params.js';
import { algorithmInfo, digestHa1, digestResponse, digestUserhash, type DigestHash } from '../../src/authn/digest-hash.js';
import { DigestNonces } from '../../src/authn/digest-nonce.js';
import { MemoryNonceCounterStore } from '../../src/store/digest-nonce-counter.js';
import { decodeExtValue, parseDigestCredential } from '../../src/authn/forms/digest/credential.js';
import { uriMatches } from '../../src/authn/forms/digest/request.js';

// RFC 7616 §3.9.1
const MUFASA = {
  username: 'Mufasa', password: 'Circle of Life', realm: 'http-auth@example.org', method: 'GET', uri: '/dir/index.html',
  nonce: '7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v', cnonce: 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ', nc: '00000001',
  opaque: 'FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS',
};
// RFC 7616 §3.9.2, with the userhash and response of erratum 4897 (the RFC's own values are not of its inputs)
const JASON = {
  username: 'J\u00e4s\u00f8n Doe', password: 'Secret, or not?', realm: 'api@example.org', method: 'GET', uri: '/doe.json',
  nonce: '5TsQWLVdgBdmrQ0XsxbDODV+57QdFR34I9HAbC/RVvkK', cnonce: 'NTg6RKcb9boFIAS3KrFK9BGeh+iDa/sm6jUMp2wds69v', nc: '00000001',
  userhash: '793263caabb707a56211940d90411ea4a575adeccb7e360aeb624ed06ece9b0b',
  response: '3798d4131c277846293534c3edc11bd8a5e4cdcbff78b05db9d95eeb1cec68a5',
};

function rfcResponse(hash: DigestHash, v: typeof MUFASA | typeof JASON, sess = false): string {
  return digestResponse({
    hash, sess, ha1: digestHa1(hash, v.username, v.realm, v.password), nonce: v.nonce, nc: v.nc, cnonce: v.cnonce,
    qop: 'auth', method: v.method, uri: v.uri,
  });
}

function expectMalformed(f: () => unknown): TrackgateError {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(TrackgateError);
    const e = err as TrackgateError;
    expect(e.code).toBe('TG_ERR_MALFORMED_CREDENTIALS');
    expect(e.status).toBe(400);
    expect(e.reason).toBe('malformed');
    return e;
  }
  throw new Error('expected a malformed-credentials error');
}

describe('Digest response computation', () => {
  it('reproduces RFC 7616 §3.9.1 (MD5 and SHA-256)', () => {
    expect(rfcResponse('MD5', MUFASA)).toBe('8ca523f5e9506fed4657c9700eebdbec');
    expect(rfcResponse('SHA-256', MUFASA)).toBe('753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1');
  });

  it('reproduces RFC 7616 §3.9.2 as corrected by erratum 4897 (SHA-512-256, UTF-8 user name, userhash)', () => {
    expect(digestUserhash('SHA-512-256', JASON.username, JASON.realm)).toBe(JASON.userhash);
    expect(rfcResponse('SHA-512-256', JASON)).toBe(JASON.response);
    // NFD input is normalised to NFC first (RFC 7616 §4)
    expect(digestUserhash('SHA-512-256', JASON.username.normalize('NFD'), JASON.realm)).toBe(JASON.userhash);
  });

  const python = ['/usr/bin/python3', '/usr/local/bin/python3'].find((p) => existsSync(p))
    ?? (() => { try { return execFileSync('sh', ['-c', 'command -v python3']).toString().trim() || undefined; } catch { return undefined; } })();
  it.skipIf(python === undefined)('agrees with python3 hashlib for every algorithm, -sess and auth-int', () => {
    const cases = [] as { alg: string; user: string; pass: string; realm: string; nonce: string; cnonce: string; nc: string; qop: string; method: string; uri: string; body: string }[];
    for (const alg of ['MD5', 'MD5-sess', 'SHA-256', 'SHA-256-sess', 'SHA-512-256', 'SHA-512-256-sess']) {
      for (const qop of ['auth', 'auth-int']) {
        cases.push({
          alg, user: 'J\u00e4s\u00f8n Doe', pass: `p\u00e4ss-${randomBytes(4).toString('hex')}`, realm: 'api@example.org',
          nonce: randomBytes(24).toString('base64'), cnonce: randomBytes(12).toString('hex'), nc: '0000002a', qop,
          method: 'POST', uri: '/a/b?c=d&e=%20', body: '',
        });
      }
    }
    const script = `
import hashlib, json, sys
N = {'MD5': 'md5', 'SHA-256': 'sha256', 'SHA-512-256': 'sha512_256'}
out = []
for c in json.load(sys.stdin):
    base = c['alg'].replace('-sess', '')
    H = lambda s: hashlib.new(N[base], s.encode('utf-8')).hexdigest()
    ha1 = H(c['user'] + ':' + c['realm'] + ':' + c['pass'])
    if c['alg'].endswith('-sess'):
        ha1 = H(ha1 + ':' + c['nonce'] + ':' + c['cnonce'])
    a2 = c['method'] + ':' + c['uri'] + ((':' + H(c['body'])) if c['qop'] == 'auth-int' else '')
    out.append(H(ha1 + ':' + c['nonce'] + ':' + c['nc'] + ':' + c['cnonce'] + ':' + c['qop'] + ':' + H(a2)))
print(json.dumps(out))
`;
    const expected = JSON.parse(execFileSync(python!, ['-c', script], { input: JSON.stringify(cases) }).toString()) as string[];
    const actual = cases.map((c) => {
      const info = algorithmInfo(c.alg)!;
      return digestResponse({
        hash: info.hash, sess: info.sess, ha1: digestHa1(info.hash, c.user, c.realm, c.pass), nonce: c.nonce, nc: c.nc,
        cnonce: c.cnonce, qop: c.qop as 'auth', method: c.method, uri: c.uri, body: Buffer.from(c.body),
      });
    });
    expect(actual).toEqual(expected);
  });

  it('names algorithms case-insensitively and knows their hash and -sess', () => {
    expect(algorithmInfo('sha-512-256-SESS')).toEqual({ algorithm: 'SHA-512-256-sess', hash: 'SHA-512-256', sess: true });
    expect(algorithmInfo('md5')).toEqual({ algorithm: 'MD5', hash: 'MD5', sess: false });
    expect(algorithmInfo('SHA-1')).toBeUndefined();
    expect(algorithmInfo('SHA-512')).toBeUndefined();
  });
});

describe('stateless nonces', () => {
  const secret = randomBytes(32);
  it('opens what it issued, with the issue time, on any instance with the same secret and realm', () => {
    const a = new DigestNonces(secret, 'r');
    const b = new DigestNonces(Buffer.from(secret), 'r');
    const n = a.issue(1_700_000_000_123);
    expect(n).toMatch(/^[A-Za-z0-9_-]{48}$/);
    expect(b.open(n)).toBe(1_700_000_000_123);
    expect(b.opaque).toBe(a.opaque);
    expect(a.issue(1)).not.toBe(a.issue(1)); // random part: two challenges never share a nonce
  });

  it('rejects nonces of another secret or realm, tampered ones and non-canonical spellings', () => {
    const a = new DigestNonces(secret, 'r');
    const n = a.issue(Date.now());
    expect(new DigestNonces(randomBytes(32), 'r').open(n)).toBeUndefined();
    expect(new DigestNonces(secret, 'other').open(n)).toBeUndefined();
    for (let i = 0; i < n.length; i++) {
      const c = n[i] === 'A' ? 'B' : 'A';
      expect(a.open(n.slice(0, i) + c + n.slice(i + 1))).toBeUndefined();
    }
    expect(a.open(n.slice(1))).toBeUndefined();
    expect(a.open(`${n}=`)).toBeUndefined();
    const standard = Buffer.from(n, 'base64url').toString('base64'); // `+` and `/` for `-` and `_`
    if (standard !== n) expect(a.open(standard)).toBeUndefined();
    expect(a.open('')).toBeUndefined();
    expect(a.open('7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v')).toBeUndefined();
    expect(new DigestNonces(secret, 'other').opaque).not.toBe(a.opaque);
  });
});

describe('nc replay store (in memory)', () => {
  it('accepts each (nonce, nc) once, in any order', async () => {
    const s = new MemoryNonceCounterStore({ maxNonces: 10, now: () => 1000 });
    const exp = 1_000_000;
    expect(await s.record('n', 3, 2000, exp)).toBe('fresh');
    expect(await s.record('n', 1, 2000, exp)).toBe('fresh');
    expect(await s.record('n', 2, 2000, exp)).toBe('fresh');
    expect(await s.record('n', 1, 2000, exp)).toBe('replayed');
    expect(await s.record('n', 3, 2000, exp)).toBe('replayed');
    expect(await s.record('other', 1, 2000, exp)).toBe('fresh');
    expect(await s.record('n', 4, 2000, exp)).toBe('fresh');
  });

  it('keeps a bounded window per nonce and fails closed below it', async () => {
    const s = new MemoryNonceCounterStore({ maxNonces: 10, window: 64, now: () => 1000 });
    expect(await s.record('n', 1, 2000, 10_000)).toBe('fresh');
    expect(await s.record('n', 100, 2000, 10_000)).toBe('fresh'); // jump past the window: old bits cleared
    expect(await s.record('n', 36, 2000, 10_000)).toBe('unknown'); // 100 - 64: outside the window
    expect(await s.record('n', 37, 2000, 10_000)).toBe('fresh');
    expect(await s.record('n', 37, 2000, 10_000)).toBe('replayed');
    expect(await s.record('n', 1, 2000, 10_000)).toBe('unknown');
    expect(await s.record('n', 0, 2000, 10_000)).toBe('unknown');
    // wrap-around: a slot reused by a later count is a new count, not a replay
    expect(await s.record('n', 164, 2000, 10_000)).toBe('fresh');
    expect(await s.record('n', 100, 2000, 10_000)).toBe('unknown');
    expect(await s.record('n', 163, 2000, 10_000)).toBe('fresh');
  });

  it('answers unknown (never fresh) for a still-valid nonce it had to evict, and for nonces older than itself', async () => {
    let now = 10_000;
    const s = new MemoryNonceCounterStore({ maxNonces: 2, now: () => now });
    expect(await s.record('before', 1, 9_000, 99_999)).toBe('unknown'); // issued before the store existed
    now = 11_000;
    expect(await s.record('a', 1, 10_500, 99_999)).toBe('fresh');
    expect(await s.record('b', 1, 10_600, 99_999)).toBe('fresh');
    expect(await s.record('c', 1, 10_700, 99_999)).toBe('fresh'); // evicts a
    expect(s.size).toBe(2);
    expect(await s.record('a', 1, 10_500, 99_999)).toBe('unknown');
    expect(await s.record('a', 2, 10_500, 99_999)).toBe('unknown');
    expect(await s.record('b', 1, 10_600, 99_999)).toBe('replayed'); // still tracked
    expect(await s.record('d', 1, 10_800, 99_999)).toBe('fresh'); // issued after the evicted one
  });

  it('does not raise the mark for expired nonces it evicts', async () => {
    let now = 10_000;
    const s = new MemoryNonceCounterStore({ maxNonces: 1, now: () => now });
    expect(await s.record('a', 1, 20_000, 30_000)).toBe('fresh');
    now = 40_000; // a has expired
    expect(await s.record('b', 1, 15_000, 50_000)).toBe('fresh'); // evicts expired a: issued before a, still fine
  });
});

describe('Digest credential parsing', () => {
  const base = 'username="u", realm="r", nonce="n", uri="/x", response="0a1B", qop=auth, nc=00000001, cnonce="c", opaque="o"';
  const parse = (s: string) => parseDigestCredential(parseAuthParams(s));

  it('reads a full credential; algorithm defaults to MD5; hex is lower-cased', () => {
    expect(parse(base)).toMatchObject({
      scheme: 'digest', cacheParts: undefined, username: 'u', userhash: false, realm: 'r', nonce: 'n', uri: '/x',
      response: '0a1b', algorithm: 'MD5', qop: 'auth', nc: '00000001', count: 1, cnonce: 'c', opaque: 'o',
    });
    expect(parse(`${base}, algorithm=SHA-256, unknown-param=ignored`).algorithm).toBe('SHA-256');
    expect(parse(`${base}, nc=0000000A`.replace('nc=00000001, ', '')).count).toBe(10);
  });

  it.each([
    ['username', 'missing username'], ['realm', 'missing realm'], ['nonce', 'missing nonce'], ['uri', 'missing uri'],
    ['response', 'missing response'], ['qop', 'RFC 2069'], ['nc', 'missing nc'], ['cnonce', 'missing cnonce'], ['opaque', 'missing opaque'],
  ])('a missing %s is malformed', (field, message) => {
    const without = base.split(', ').filter((p) => !p.startsWith(`${field}=`)).join(', ');
    expect(expectMalformed(() => parse(without)).message).toContain(message);
  });

  it.each([
    ['nc=1', 'nc=00000001', 'nc must be 8 hex digits'],
    ['nc=0000000g', 'nc=00000001', 'nc must be 8 hex digits'],
    ['nc=00000000', 'nc=00000001', 'nc must not be 0'],
    ['response="xyz"', 'response="0a1B"', 'response is not hex'],
    ['realm=""', 'realm="r"', 'missing realm'],
  ])('%s is malformed', (bad, good, message) => {
    expect(expectMalformed(() => parse(base.replace(good, bad))).message).toContain(message);
  });

  it('handles username* (RFC 8187), raw UTF-8 octets and userhash, and refuses mixes', () => {
    const star = base.replace('username="u"', "username*=UTF-8''J%C3%A4s%C3%B8n%20Doe");
    expect(parse(star).username).toBe('J\u00e4s\u00f8n Doe');
    expect(parse(base.replace('username="u"', "username*=iso-8859-1'en'J%E4s%F8n")).username).toBe('J\u00e4s\u00f8n');
    // what Node hands over for raw UTF-8 octets in a quoted string: one latin1 char per octet
    const raw = Buffer.from('J\u00e4s\u00f8n Doe', 'utf8').toString('latin1');
    expect(parse(base.replace('username="u"', `username="${raw}"`)).username).toBe('J\u00e4s\u00f8n Doe');
    expectMalformed(() => parse(base.replace('username="u"', 'username="\u00e4"'))); // a lone latin1 octet is not UTF-8
    expectMalformed(() => parse(`${star}, username="u"`));
    expectMalformed(() => parse(`${star}, userhash=true`));
    expect(parse(`${base.replace('username="u"', 'username="ABCdef01"')}, userhash=true`)).toMatchObject({ username: 'abcdef01', userhash: true });
    expectMalformed(() => parse(`${base}, userhash=true`)); // "u" is not a hash
    expectMalformed(() => parse(`${base}, userhash=yes`));
    expect(parse(`${base}, userhash=FALSE`).userhash).toBe(false);
    expectMalformed(() => parse(base.replace('username="u"', 'username="a\tb"')));
  });

  it('decodes ext-values strictly', () => {
    expect(decodeExtValue("UTF-8''%E2%82%AC%20rates")).toBe('\u20ac rates');
    expect(decodeExtValue("utf-8'de'x")).toBe('x');
    expectMalformed(() => decodeExtValue("UTF-8'%E2%82%AC"));
    expectMalformed(() => decodeExtValue("UTF-8''a b"));
    expectMalformed(() => decodeExtValue("UTF-8''%C3"));
    expectMalformed(() => decodeExtValue("UTF-8''%zz"));
    expectMalformed(() => decodeExtValue("KOI8-R''x"));
  });
});

describe('uri rule', () => {
  it('accepts the request target itself or an absolute URI with the same path and query', () => {
    expect(uriMatches('/a/b?c=1', '/a/b?c=1')).toBe(true);
    expect(uriMatches('http://gps.example.org/a/b?c=1', '/a/b?c=1')).toBe(true);
    expect(uriMatches('https://gps.example.org:8443/a', '/a')).toBe(true);
    expect(uriMatches('http://gps.example.org', '/')).toBe(true);
  });
  it('refuses anything else', () => {
    expect(uriMatches('/a/b', '/a/b?c=1')).toBe(false);
    expect(uriMatches('/a/b?c=2', '/a/b?c=1')).toBe(false);
    expect(uriMatches('/A/b', '/a/b')).toBe(false);
    expect(uriMatches('http://h/a/b/', '/a/b')).toBe(false);
    expect(uriMatches('a/b', '/a/b')).toBe(false);
    expect(uriMatches('//h/a/b', '/a/b')).toBe(false);
  });
});
