/**
 * HTTP Digest (RFC 7616) end to end: a real trackgate with its own accounts file, a recording upstream, and
 * an independent test client (test/helpers/digest-client.ts). Then one test per attack, and curl.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet, type JWTPayload } from 'jose';
import { stringify } from 'yaml';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { DEMO, startTrackgate, type TestGate } from '../helpers/trackgate.js';
import {
  challengesFor, digestAuthorization, digestChallenges, h, rawExchange, send, type AuthorizationInput, type DigestChallenge, type Reply,
} from '../helpers/digest-client.js';

const REALM = 'trackgate test realm';
const ALL = ['SHA-256', 'SHA-256-sess', 'SHA-512-256', 'SHA-512-256-sess', 'MD5', 'MD5-sess'];
const JASON = 'J\u00e4s\u00f8n Doe';
const ESCAPED = 'q"uote\\back';

const ha1s = (user: string, pass: string, realm = REALM) => ({
  'MD5': h('MD5', `${user}:${realm}:${pass}`),
  'SHA-256': h('SHA-256', `${user}:${realm}:${pass}`),
  'SHA-512-256': h('SHA-512-256', `${user}:${realm}:${pass}`),
});

const ACCOUNTS = stringify({
  users: [
    { username: 'alice', id: 'user-alice', accounts: ['acct-a', 'acct-b'], digest: { realm: REALM, ha1: ha1s('alice', 'wonderland') } },
    { username: JASON, digest: { realm: REALM, ha1: ha1s(JASON, 'Secret, or not?') } },
    { username: ESCAPED, digest: { realm: REALM, ha1: ha1s(ESCAPED, 'p') } },
    { username: 'md5only', digest: { realm: REALM, ha1: { MD5: ha1s('md5only', 'pw').MD5 } } },
    { username: 'elsewhere', digest: { realm: 'another realm', ha1: ha1s('elsewhere', 'pw', 'another realm') } },
  ],
});
const SECRET = randomBytes(48).toString('base64');

let up: RecordingUpstream;
let gate: TestGate;

function startGate(over: { config?: Record<string, unknown>; now?: () => number; accounts?: string } = {}): Promise<TestGate> {
  return startTrackgate({
    upstreamUrl: up.url,
    files: { 'digest-accounts.yaml': over.accounts ?? ACCOUNTS, 'secret.bin': SECRET },
    config: {
      accountsFile: 'digest-accounts.yaml',
      secretFile: 'secret.bin',
      authn: { digest: { realm: REALM, algorithms: ALL, qop: ['auth', 'auth-int'], ...((over.config?.digest as object | undefined) ?? {}) } },
    },
    ...(over.now !== undefined ? { now: over.now } : {}),
  });
}

beforeAll(async () => {
  up = await startRecordingUpstream();
  gate = await startGate();
});
afterAll(async () => { await gate.close(); await up.close(); });
beforeEach(() => { up.received.length = 0; });

async function claims(g: TestGate, assertion: unknown): Promise<JWTPayload> {
  const jwks = createLocalJWKSet(await (await fetch(`${g.adminUrl}/.well-known/jwks.json`)).json() as JSONWebKeySet);
  return (await jwtVerify(assertion as string, jwks, { issuer: 'trackgate-test', audience: 'upstream-test' })).payload;
}

interface Try extends Partial<Omit<AuthorizationInput, 'challenge'>> {
  path?: string;
  headers?: Record<string, string>;
  /** Challenge algorithm to answer. */
  pick?: string;
  challenge?: DigestChallenge;
}

/** Gets a challenge for the request, answers it, sends the request; returns the reply and the header sent. */
async function attempt(t: Try = {}, g: TestGate = gate): Promise<{ reply: Reply; authorization: string; challenge: DigestChallenge }> {
  const path = t.path ?? '/rest/v2/devices?x=1';
  const method = t.method ?? 'GET';
  const challenge = t.challenge ?? (await challengesFor(g.url, { method, path, headers: t.headers ?? {}, ...(t.body ? { body: t.body } : {}) }))
    .find((c) => c.algorithm === (t.pick ?? 'SHA-256'))!;
  expect(challenge).toBeDefined();
  const authorization = digestAuthorization({
    challenge, username: 'alice', password: 'wonderland', method, uri: path, ...t,
  });
  const reply = await send(g.url, { method, path, headers: { ...t.headers, authorization }, ...(t.body ? { body: t.body } : {}) });
  return { reply, authorization, challenge };
}

function digestChallengesOf(r: Reply): DigestChallenge[] {
  return digestChallenges(r.distinct['www-authenticate'] ?? []);
}

function expect401WithChallenges(r: Reply, stale = false): void {
  expect(r.status).toBe(401);
  const cs = digestChallengesOf(r);
  expect(cs.map((c) => c.algorithm)).toEqual(ALL);
  for (const c of cs) expect(c.stale).toBe(stale);
}

describe('Digest: challenges', () => {
  it('offers qop="auth" alone by default: clients such as wget 1.21 read a qop list as unsupported and fall back to RFC 2069', async () => {
    // The demo accounts carry Digest material for this realm.
    const g = await startTrackgate({ upstreamUrl: up.url, config: { authn: { digest: { realm: 'GPS Data Web Service' } } } });
    try {
      const cs = digestChallenges((await send(g.url, { path: '/rest/v2/devices' })).distinct['www-authenticate']!);
      expect(cs.map((c) => c.algorithm)).toEqual(['MD5', 'SHA-256']);
      for (const c of cs) expect(c.qop).toEqual(['auth']);
    } finally {
      await g.close();
    }
  });

  it('answers 401 with one Digest challenge per configured algorithm, in order: the first leads, the others close', async () => {
    const r = await send(gate.url, { path: '/rest/v2/devices' });
    expect(r.status).toBe(401);
    const values = r.distinct['www-authenticate']!;
    expect(values[0]).toMatch(/^Digest .*algorithm=SHA-256,/);
    expect(values[1]).toMatch(/^Basic /);
    expect(values.at(-1)).toMatch(/^Digest /);
    const cs = digestChallenges(values);
    expect(cs.map((c) => c.algorithm)).toEqual(ALL);
    for (const c of cs) {
      expect(c.realm).toBe(REALM);
      expect(c.qop).toEqual(['auth', 'auth-int']);
      expect(c.nonce).toMatch(/^[A-Za-z0-9_-]{48}$/);
      expect(c.nonce).toBe(cs[0]!.nonce);
      expect(c.opaque).toBe(cs[0]!.opaque);
      expect(c.charset).toBe('UTF-8');
      expect(c.userhash).toBe(true);
      expect(c.stale).toBe(false);
      expect(c.raw).toMatch(/^Digest realm="trackgate test realm", qop="auth, auth-int", algorithm=[A-Z0-9-]+(-sess)?, nonce="[^"]+", opaque="[^"]+", charset=UTF-8, userhash=true$/);
    }
    // a fresh nonce per challenge
    const again = digestChallenges((await send(gate.url, { path: '/rest/v2/devices' })).distinct['www-authenticate']!);
    expect(again[0]!.nonce).not.toBe(cs[0]!.nonce);
  });

  it('offers qop="auth" only to a request with a body (auth-int cannot be checked on a streamed body)', async () => {
    const cs = await challengesFor(gate.url, { method: 'POST', path: '/rest/v2/devices', body: 'x=1', headers: { 'content-type': 'text/plain' } });
    expect(cs).toHaveLength(ALL.length);
    for (const c of cs) expect(c.qop).toEqual(['auth']);
  });

  it('offers no Digest challenge when no user has material for the realm (browsers would pick it over Basic)', async () => {
    const g = await startTrackgate({ upstreamUrl: up.url });
    try {
      const r = await send(g.url, { path: '/x' });
      expect(r.status).toBe(401);
      expect(digestChallengesOf(r)).toEqual([]);
      expect(g.logRecords().some((l) => /no Digest challenge is offered/.test(String(l.msg)))).toBe(true);
    } finally {
      await g.close();
    }
  });
});

describe('Digest: accepted', () => {
  it.each(ALL)('%s: forwarded with a digest identity, no Authorization upstream', async (alg) => {
    const { reply, authorization } = await attempt({ pick: alg });
    expect(reply.status).toBe(200);
    expect(authorization).toContain(`algorithm=${alg}`);
    const rec = up.received.at(-1)!;
    expect(rec.url).toBe('/rest/v2/devices?x=1');
    expect(rec.headers.authorization).toBeUndefined();
    expect(JSON.stringify(rec.headers)).not.toContain('Digest');
    expect(await claims(gate, rec.headers['x-identity-assertion'])).toMatchObject({
      sub: 'user-alice', scheme: 'digest', kind: 'user', account: 'acct-a',
    });
  });

  it.each(['SHA-256', 'SHA-512-256', 'MD5', 'SHA-256-sess'])('userhash=true with %s', async (alg) => {
    const { reply, authorization } = await attempt({ pick: alg, userhash: true });
    expect(authorization).toContain('userhash=true');
    expect(authorization).not.toContain('alice');
    expect(reply.status).toBe(200);
    expect(await claims(gate, up.received.at(-1)!.headers['x-identity-assertion'])).toMatchObject({ sub: 'user-alice', scheme: 'digest' });
  });

  it('a UTF-8 user name via username* (RFC 8187)', async () => {
    const { reply, authorization } = await attempt({ username: JASON, password: 'Secret, or not?', usernameStar: true, pick: 'SHA-512-256' });
    expect(authorization).toContain("username*=UTF-8''J%C3%A4s%C3%B8n%20Doe");
    expect(reply.status).toBe(200);
    expect(await claims(gate, up.received.at(-1)!.headers['x-identity-assertion'])).toMatchObject({ sub: JASON, scheme: 'digest' });
  });

  it('a UTF-8 user name as raw octets in the quoted username (what browsers send), and hashed (userhash)', async () => {
    const [c] = await challengesFor(gate.url, { path: '/u' });
    const header = digestAuthorization({ challenge: c!, username: JASON, password: 'Secret, or not?', method: 'GET', uri: '/u' });
    // node:http writes header strings as latin1: hand it the UTF-8 octets one char each
    const r = await send(gate.url, { path: '/u', headers: { authorization: Buffer.from(header, 'utf8').toString('latin1') } });
    expect(r.status).toBe(200);
    const hashed = await attempt({ username: JASON, password: 'Secret, or not?', userhash: true, pick: 'SHA-512-256' });
    expect(hashed.reply.status).toBe(200);
  });

  it('NFD spelling of a UTF-8 user name and password is normalised (RFC 7616 §4)', async () => {
    const { reply } = await attempt({ username: JASON.normalize('NFD'), password: 'Secret, or not?', usernameStar: true });
    expect(reply.status).toBe(200);
  });

  it('quoted-string escapes: a user name with " and \\ in it', async () => {
    const { reply, authorization } = await attempt({ username: ESCAPED, password: 'p' });
    expect(authorization).toContain('username="q\\"uote\\\\back"');
    expect(reply.status).toBe(200);
    expect(await claims(gate, up.received.at(-1)!.headers['x-identity-assertion'])).toMatchObject({ sub: ESCAPED });
  });

  it('qop=auth-int on requests without a body (GET, and POST with Content-Length: 0)', async () => {
    expect((await attempt({ qop: 'auth-int', pick: 'SHA-256' })).reply.status).toBe(200);
    expect((await attempt({ qop: 'auth-int', pick: 'MD5-sess', path: '/post', method: 'POST', headers: { 'content-length': '0' } })).reply.status).toBe(200);
    expect(up.received.at(-1)).toMatchObject({ method: 'POST', url: '/post', bodyBytes: 0 });
  });

  it('uri in absolute form, when its path and query are the request target', async () => {
    const [c] = await challengesFor(gate.url, { path: '/abs?q=1' });
    const authorization = digestAuthorization({ challenge: c!, username: 'alice', password: 'wonderland', method: 'GET', uri: 'http://gps.example.org/abs?q=1' });
    expect((await send(gate.url, { path: '/abs?q=1', headers: { authorization } })).status).toBe(200);
  });

  it('one nonce serves many requests with increasing nc; qop and algorithm tokens are also accepted quoted', async () => {
    const { challenge } = await attempt({ nc: 1 });
    for (let nc = 2; nc <= 5; nc++) expect((await attempt({ challenge, nc })).reply.status).toBe(200);
    const quoted = digestAuthorization({ challenge, username: 'alice', password: 'wonderland', method: 'GET', uri: '/q', nc: 6 })
      .replace('qop=auth', 'qop="auth"').replace('algorithm=SHA-256', 'algorithm="SHA-256"');
    expect((await send(gate.url, { path: '/q', headers: { authorization: quoted } })).status).toBe(200);
    // token case: qop is matched case-insensitively and hashed as sent
    const upper = digestAuthorization({ challenge, username: 'alice', password: 'wonderland', method: 'GET', uri: '/q', nc: 7, qop: 'AUTH', algorithm: 'sha-256' });
    expect((await send(gate.url, { path: '/q', headers: { authorization: upper } })).status).toBe(200);
  });

  it('a POST with a body under qop=auth: the body is streamed through', async () => {
    const body = Buffer.from('{"a":1}');
    const { reply } = await attempt({ method: 'POST', path: '/p', body, headers: { 'content-type': 'application/json' } });
    expect(reply.status).toBe(200);
    expect(up.received.at(-1)).toMatchObject({ method: 'POST', bodyBytes: body.length });
  });

  it('HTTP/1.0 without a Host header', async () => {
    const first = await rawExchange(gate.url, 'GET /old?x=1 HTTP/1.0\r\n\r\n');
    expect(first).toMatch(/^HTTP\/1\.[01] 401/);
    const values = [...first.matchAll(/^www-authenticate: (.*)\r$/gim)].map((m) => m[1]!);
    const c = digestChallenges(values).find((x) => x.algorithm === 'MD5')!;
    expect(c).toBeDefined();
    const authorization = digestAuthorization({ challenge: c, username: 'alice', password: 'wonderland', method: 'GET', uri: '/old?x=1' });
    const second = await rawExchange(gate.url, `GET /old?x=1 HTTP/1.0\r\nAuthorization: ${authorization}\r\n\r\n`);
    expect(second).toMatch(/^HTTP\/1\.[01] 200/);
    expect(up.received.at(-1)).toMatchObject({ url: '/old?x=1' });
    expect(up.received.at(-1)!.headers.authorization).toBeUndefined();
  });
});

describe('Digest: attacks and mistakes', () => {
  it('foreign realm → 401 with challenges', async () => {
    const { reply } = await attempt({ realm: 'another realm' });
    expect401WithChallenges(reply);
    expect(JSON.parse(reply.body)).toEqual({ error: 'TG_ERR_INVALID_CREDENTIALS', message: 'invalid credentials' });
  });

  it('a user whose material is for another realm → 401', async () => {
    expect401WithChallenges((await attempt({ username: 'elsewhere', password: 'pw' })).reply);
  });

  it('wrong uri → 400', async () => {
    for (const uri of ['/rest/v2/other?x=1', '/rest/v2/devices', '/rest/v2/devices?x=2', 'http://h/rest/v2/devices']) {
      const { reply } = await attempt({ uri });
      expect(reply.status).toBe(400);
      expect(JSON.parse(reply.body)).toMatchObject({ error: 'TG_ERR_BAD_REQUEST', message: 'Digest uri does not match the request target' });
      expect(reply.distinct['www-authenticate']).toBeUndefined();
    }
  });

  it('replayed nc → 401 (credentials are single-use: no validation cache)', async () => {
    const first = await attempt();
    expect(first.reply.status).toBe(200);
    const again = await send(gate.url, { path: '/rest/v2/devices?x=1', headers: { authorization: first.authorization } });
    expect401WithChallenges(again);
    const line = gate.logRecords().filter((l) => l.msg === 'request rejected').at(-1)!;
    expect(line).toMatchObject({ scheme: 'digest', reason: 'invalid', detail: 'digest: nc replayed' });
    expect(line.fp).toBeUndefined();
  });

  it('out-of-order nc values are accepted once each', async () => {
    const [challenge] = await challengesFor(gate.url, { path: '/o' });
    const go = (nc: number) => send(gate.url, {
      path: '/o', headers: { authorization: digestAuthorization({ challenge: challenge!, username: 'alice', password: 'wonderland', method: 'GET', uri: '/o', nc }) },
    }).then((r) => r.status);
    // concurrent requests arriving out of order, as browsers send them
    expect(await Promise.all([3, 1, 2, 5].map(go))).toEqual([200, 200, 200, 200]);
    expect(await go(4)).toBe(200);
    for (const nc of [1, 2, 3, 4, 5]) expect(await go(nc)).toBe(401);
    expect(await go(6)).toBe(200);
  });

  it('the same nc with a different cnonce is still a replay', async () => {
    const first = await attempt({ nc: 7, cnonce: 'one' });
    expect(first.reply.status).toBe(200);
    expect((await attempt({ challenge: first.challenge, nc: 7, cnonce: 'two' })).reply.status).toBe(401);
  });

  it.each([
    ['an unknown algorithm', 'SHA-1'],
    ['an algorithm name we do not implement', 'SHA-512'],
    ['a garbage algorithm', 'x'],
  ])('%s → 401 with challenges', async (_n, algorithm) => {
    const { reply } = await attempt({ algorithm, response: 'ab'.repeat(16) });
    expect401WithChallenges(reply);
  });

  it('an algorithm we implement but did not offer → 401', async () => {
    const g = await startGate({ config: { digest: { algorithms: ['SHA-256'], qop: ['auth'] } } });
    try {
      const [c] = await challengesFor(g.url, { path: '/x' });
      expect(c!.algorithm).toBe('SHA-256');
      expect(c!.qop).toEqual(['auth']);
      for (const over of [{ algorithm: 'MD5' }, { algorithm: 'SHA-256-sess' }, { qop: 'auth-int' }]) {
        const authorization = digestAuthorization({ challenge: c!, username: 'alice', password: 'wonderland', method: 'GET', uri: '/x', ...over });
        expect((await send(g.url, { path: '/x', headers: { authorization } })).status).toBe(401);
      }
      const ok = digestAuthorization({ challenge: c!, username: 'alice', password: 'wonderland', method: 'GET', uri: '/x' });
      expect((await send(g.url, { path: '/x', headers: { authorization: ok } })).status).toBe(200);
    } finally {
      await g.close();
    }
  });

  it.each(['cnonce', 'nc', 'qop', 'nonce', 'uri', 'response', 'realm', 'opaque', 'username'])('missing %s → 400 malformed', async (field) => {
    const { reply } = await attempt({ omit: [field] });
    expect(reply.status).toBe(400);
    expect(JSON.parse(reply.body)).toMatchObject({ error: 'TG_ERR_MALFORMED_CREDENTIALS' });
    expect(JSON.parse(reply.body).message).toContain(field === 'qop' ? 'RFC 2069' : `missing ${field}`);
  });

  it('unreadable auth-params → 400 malformed (bad escape, unterminated quote, token68, repeated parameter)', async () => {
    const { authorization } = await attempt();
    for (const bad of [
      authorization.replace('username="alice"', 'username="ali"ce"'),
      authorization.replace(/"$/, ''),
      'Digest dXNlcjpwYXNz',
      `${authorization}, nc=00000009`,
      authorization.replace('nc=00000001', 'nc=1'),
    ]) {
      const r = await send(gate.url, { path: '/rest/v2/devices?x=1', headers: { authorization: bad } });
      expect(r.status).toBe(400);
      expect(JSON.parse(r.body)).toMatchObject({ error: 'TG_ERR_MALFORMED_CREDENTIALS' });
    }
  });

  it('forged nonce → plain 401 (no stale)', async () => {
    const [c] = await challengesFor(gate.url, { path: '/f' });
    const n = c!.nonce;
    const forged = (n[10] === 'A' ? 'B' : 'A');
    for (const nonce of [`${n.slice(0, 10)}${forged}${n.slice(11)}`, '7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v', n.slice(0, -1)]) {
      const authorization = digestAuthorization({ challenge: c!, username: 'alice', password: 'wonderland', method: 'GET', uri: '/f', nonce });
      expect401WithChallenges(await send(gate.url, { path: '/f', headers: { authorization } }));
    }
  });

  it('a nonce of a trackgate with another secret → 401', async () => {
    const other = await startTrackgate({
      upstreamUrl: up.url, files: { 'a.yaml': ACCOUNTS }, config: { accountsFile: 'a.yaml', authn: { digest: { realm: REALM } } },
    });
    try {
      const [c] = await challengesFor(other.url, { path: '/s' });
      const authorization = digestAuthorization({ challenge: c!, username: 'alice', password: 'wonderland', method: 'GET', uri: '/s' });
      expect((await send(gate.url, { path: '/s', headers: { authorization } })).status).toBe(401);
    } finally {
      await other.close();
    }
  });

  it('opaque not returned as sent → 401', async () => {
    expect401WithChallenges((await attempt({ opaque: 'FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS' })).reply);
  });

  it('wrong password → 401', async () => {
    const { reply } = await attempt({ password: 'wonderlanD' });
    expect401WithChallenges(reply);
    expect(gate.logRecords().filter((l) => l.msg === 'request rejected').at(-1)).toMatchObject({ detail: 'digest: wrong response' });
  });

  it('unknown user → 401, plain and hashed', async () => {
    expect401WithChallenges((await attempt({ username: 'mallory', password: 'x' })).reply);
    expect401WithChallenges((await attempt({ username: 'mallory', password: 'x', userhash: true })).reply);
    expect(gate.logRecords().filter((l) => l.msg === 'request rejected').at(-1)).toMatchObject({ detail: 'digest: unknown user' });
  });

  it('a user without material for the chosen hash → 401; with it → 200', async () => {
    expect401WithChallenges((await attempt({ username: 'md5only', password: 'pw', pick: 'SHA-256' })).reply);
    expect((await attempt({ username: 'md5only', password: 'pw', pick: 'MD5' })).reply.status).toBe(200);
  });

  it('qop=auth-int with a body → 400 (the body is streamed, not hashed)', async () => {
    const [c] = await challengesFor(gate.url, { path: '/ai' }); // a GET challenge still offers auth-int
    const body = Buffer.from('payload');
    const authorization = digestAuthorization({ challenge: c!, username: 'alice', password: 'wonderland', method: 'POST', uri: '/ai', qop: 'auth-int', body });
    const r = await send(gate.url, { method: 'POST', path: '/ai', headers: { authorization }, body });
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body)).toMatchObject({ error: 'TG_ERR_BAD_REQUEST', message: expect.stringContaining('auth-int') });
    expect(up.received).toHaveLength(0);
  });

  it('a response for another method → 401', async () => {
    const [c] = await challengesFor(gate.url, { path: '/m' });
    const authorization = digestAuthorization({ challenge: c!, username: 'alice', password: 'wonderland', method: 'GET', uri: '/m' });
    expect((await send(gate.url, { method: 'DELETE', path: '/m', headers: { authorization } })).status).toBe(401);
  });

  it('nothing secret in the logs', async () => {
    const { authorization } = await attempt({ password: 'wrong-one' });
    const response = /response="([0-9a-f]+)"/.exec(authorization)![1]!;
    const logs = gate.logs.join('\n');
    expect(logs).not.toContain('wonderland');
    expect(logs).not.toContain(response);
    expect(logs).not.toContain(ha1s('alice', 'wonderland')['SHA-256']);
  });
});

describe('Digest: nonce lifetime, replicas and reloads', () => {
  let clock = Date.now();
  let timed: TestGate;
  beforeAll(async () => {
    timed = await startGate({ now: () => clock, config: { digest: { algorithms: ['SHA-256', 'MD5'], nonceTtlSeconds: 300 } } });
  });
  afterAll(async () => { await timed.close(); });

  it('an expired nonce with a correct response → 401 stale=true; a wrong one → plain 401; a fresh nonce then works', async () => {
    const [c] = await challengesFor(timed.url, { path: '/t' });
    const auth = (nonceChallenge: DigestChallenge, password: string, nc = 1) => digestAuthorization({
      challenge: nonceChallenge, username: 'alice', password, method: 'GET', uri: '/t', nc,
    });
    expect((await send(timed.url, { path: '/t', headers: { authorization: auth(c!, 'wonderland') } })).status).toBe(200);
    clock += 299_000;
    expect((await send(timed.url, { path: '/t', headers: { authorization: auth(c!, 'wonderland', 2) } })).status).toBe(200);
    clock += 2_000;
    const stale = await send(timed.url, { path: '/t', headers: { authorization: auth(c!, 'wonderland', 3) } });
    expect(stale.status).toBe(401);
    const cs = digestChallengesOf(stale);
    expect(cs.map((x) => x.algorithm)).toEqual(['SHA-256', 'MD5']);
    for (const x of cs) expect(x.stale).toBe(true);
    expect(stale.distinct['www-authenticate']![1]).toMatch(/^Basic /); // Basic has no stale
    expect(timed.logRecords().filter((l) => l.msg === 'request rejected').at(-1)).toMatchObject({ reason: 'stale' });

    const wrong = await send(timed.url, { path: '/t', headers: { authorization: auth(c!, 'nope', 4) } });
    expect(wrong.status).toBe(401);
    for (const x of digestChallengesOf(wrong)) expect(x.stale).toBe(false);

    const fresh = cs[0]!;
    expect((await send(timed.url, { path: '/t', headers: { authorization: auth(fresh, 'wonderland') } })).status).toBe(200);
  });

  it('a nonce stamped in the future beyond clock skew → 401', async () => {
    clock += 3_600_000;
    const [c] = await challengesFor(timed.url, { path: '/fut' });
    clock -= 3_600_000;
    const authorization = digestAuthorization({ challenge: c!, username: 'alice', password: 'wonderland', method: 'GET', uri: '/fut' });
    const r = await send(timed.url, { path: '/fut', headers: { authorization } });
    expect(r.status).toBe(401);
    for (const x of digestChallengesOf(r)) expect(x.stale).toBe(false);
  });

  it('a replica with the same secret accepts another one\'s nonce', async () => {
    // `timed` shares SECRET and the realm with `gate`; a nonce `gate` issued after `timed` started is good there
    clock = Date.now();
    const [c] = await challengesFor(gate.url, { path: '/r' });
    const authorization = digestAuthorization({ challenge: c!, username: 'alice', password: 'wonderland', method: 'GET', uri: '/r' });
    expect((await send(timed.url, { path: '/r', headers: { authorization } })).status).toBe(200);
    const next = digestAuthorization({ challenge: c!, username: 'alice', password: 'wonderland', method: 'GET', uri: '/r', nc: 2 });
    expect((await send(gate.url, { path: '/r', headers: { authorization: next } })).status).toBe(200);
  });

  it('a config reload keeps nonces valid and keeps the used nc values', async () => {
    clock = Date.now();
    const [c] = await challengesFor(timed.url, { path: '/reload' });
    const auth = (nc: number) => digestAuthorization({ challenge: c!, username: 'alice', password: 'wonderland', method: 'GET', uri: '/reload', nc });
    expect((await send(timed.url, { path: '/reload', headers: { authorization: auth(1) } })).status).toBe(200);
    expect(timed.app.reload()).toBe(true);
    expect((await send(timed.url, { path: '/reload', headers: { authorization: auth(1) } })).status).toBe(401);
    expect((await send(timed.url, { path: '/reload', headers: { authorization: auth(2) } })).status).toBe(200);
  });

  it('an algorithm not in the configured list (SHA-512-256 here) → 401', async () => {
    clock = Date.now();
    const [c] = await challengesFor(timed.url, { path: '/n' });
    const authorization = digestAuthorization({ challenge: c!, algorithm: 'SHA-512-256', username: 'alice', password: 'wonderland', method: 'GET', uri: '/n' });
    expect((await send(timed.url, { path: '/n', headers: { authorization } })).status).toBe(401);
  });
});

describe('Digest: the demo configuration and a real client', () => {
  let demo: TestGate;
  beforeAll(async () => {
    demo = await startTrackgate({ upstreamUrl: up.url, config: { authn: { digest: { realm: 'GPS Data Web Service' } } } });
  });
  afterAll(async () => { await demo.close(); });

  it('the demo user has Digest material for the demo realm (every hash)', async () => {
    for (const pick of ['SHA-256', 'MD5']) {
      const [c] = (await challengesFor(demo.url, { path: '/rest/v2/gateway' })).filter((x) => x.algorithm === pick);
      expect(c!.realm).toBe('GPS Data Web Service');
      for (const algorithm of [pick, `${pick}-sess`]) {
        const authorization = digestAuthorization({ challenge: c!, algorithm, username: DEMO.user, password: DEMO.password, method: 'GET', uri: '/rest/v2/gateway', nc: algorithm.endsWith('sess') ? 2 : 1 });
        const r = await send(demo.url, { path: '/rest/v2/gateway', headers: { authorization } });
        expect(r.status, algorithm).toBe(algorithm.endsWith('-sess') ? 401 : 200); // -sess not offered by default
      }
    }
  });

  it.skipIf(!existsSync('/usr/bin/curl'))('curl --digest gets 200', async () => {
    const { stdout } = await promisify(execFile)('/usr/bin/curl', [
      '--silent', '--show-error', '--digest', '-u', `${DEMO.user}:${DEMO.password}`,
      '-o', '/dev/null', '-w', '%{http_code}', `${demo.url}/rest/v2/devices?curl=1`,
    ]);
    expect(stdout).toBe('200');
    const rec = up.received.at(-1)!;
    expect(rec.url).toBe('/rest/v2/devices?curl=1');
    expect(rec.headers.authorization).toBeUndefined();
    expect(await claims(demo, rec.headers['x-identity-assertion'])).toMatchObject({ sub: DEMO.user, scheme: 'digest', account: 'demo-account' });
  });

  it.skipIf(!existsSync('/usr/bin/curl'))('curl --digest answers the first challenge: MD5 when it is offered first', async () => {
    const g = await startTrackgate({ upstreamUrl: up.url, config: { authn: { digest: { realm: 'GPS Data Web Service', algorithms: ['MD5', 'SHA-256'], userhash: false } } } });
    try {
      const { stdout } = await promisify(execFile)('/usr/bin/curl', [
        '--silent', '--digest', '-u', `${DEMO.user}:${DEMO.password}`, '-o', '/dev/null', '-w', '%{http_code}', `${g.url}/rest/v2/devices`,
      ]);
      expect(stdout).toBe('200');
      expect(await claims(g, up.received.at(-1)!.headers['x-identity-assertion'])).toMatchObject({ sub: DEMO.user, scheme: 'digest' });
    } finally {
      await g.close();
    }
  });

  it.skipIf(!existsSync('/usr/bin/curl'))('curl --digest with a wrong password gets 401', async () => {
    const { stdout } = await promisify(execFile)('/usr/bin/curl', [
      '--silent', '--digest', '-u', `${DEMO.user}:wrong`, '-o', '/dev/null', '-w', '%{http_code}', `${demo.url}/rest/v2/devices`,
    ]);
    expect(stdout).toBe('401');
  });
});
