/**
 * Bearer form, JWT access tokens of an outside issuer verified against its JWKS: a real JWKS server (counting
 * fetches), a second server a token's `jku`/`x5u` points at (which must never be contacted), a real trackgate
 * and a recording upstream.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createPublicKey, randomUUID } from 'node:crypto';
import {
  createLocalJWKSet, exportJWK, exportSPKI, generateKeyPair, jwtVerify, SignJWT,
  type CryptoKey, type JSONWebKeySet, type JWK, type JWTPayload,
} from 'jose';
import { startGate, useGate } from '../helpers/gate.js';
import { testClock } from '../helpers/clock.js';
import { startTrackgate, type TestGate } from '../helpers/trackgate.js';

const ISSUER = 'https://idp.example.test/';
const AUDIENCE = 'gps-data-service';

interface CountingServer { url: string; hits: string[]; server: Server; close(): Promise<void> }

async function serve(handler: (path: string) => { status: number; body: unknown }): Promise<CountingServer> {
  const hits: string[] = [];
  const server = createServer((req, res) => {
    hits.push(req.url ?? '');
    const { status, body } = handler(req.url ?? '');
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, hits, server, close: async () => { server.closeAllConnections(); await new Promise<void>((r) => server.close(() => r())); } };
}

interface Key { kid: string; alg: string; privateKey: CryptoKey; publicJwk: JWK }
async function newKey(alg: 'RS256' | 'ES256' | 'EdDSA', kid = `${alg}-${randomUUID().slice(0, 8)}`): Promise<Key> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { kid, alg, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

const nowS = () => Math.floor(Date.now() / 1000);
function sign(key: Key, claims: JWTPayload = {}, header: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT({ sub: 'ext-user-1', acct: 'acct-42', scope: 'read write', ...claims })
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT', ...header })
    .setIssuer(typeof claims.iss === 'string' ? claims.iss : ISSUER)
    .setAudience(claims.aud ?? AUDIENCE)
    .setIssuedAt()
    .setJti(randomUUID())
    .setExpirationTime(typeof claims.exp === 'number' ? claims.exp : nowS() + 600)
    .sign(key.privateKey);
}

let idp: CountingServer;
let trap: CountingServer;
let rsa: Key;
let ec: Key;
let published: JWK[];

function issuerConfig(jwksUrl: string, over: Record<string, unknown> = {}) {
  return { issuer: ISSUER, jwksUrl, audience: AUDIENCE, accountClaim: 'acct', ...over };
}

beforeAll(async () => {
  rsa = await newKey('RS256');
  ec = await newKey('ES256');
  published = [rsa.publicJwk, ec.publicJwk];
  idp = await serve(() => ({ status: 200, body: { keys: published } }));
  trap = await serve(() => ({ status: 200, body: { keys: [] } }));
});
afterAll(async () => { await idp.close(); await trap.close(); });
const gate = useGate(() => ({ config: { authn: { basic: { enabled: false }, bearer: { enabled: true, external: { issuers: [issuerConfig(`${idp.url}/jwks.json`)], jwks: { cooldownSeconds: 0 } } } } } }));

function call(g: TestGate, token: string): Promise<Response> {
  return fetch(`${g.url}/api/positions`, { headers: { authorization: `Bearer ${token}` } });
}

async function expectInvalidToken(res: Response, expired = false): Promise<void> {
  expect(res.status).toBe(401);
  expect(await res.json()).toMatchObject({ error: expired ? 'TG_ERR_EXPIRED_CREDENTIALS' : 'TG_ERR_INVALID_CREDENTIALS' });
  expect(res.headers.get('www-authenticate')).toBe(
    `Bearer realm="trackgate", error="invalid_token", error_description="${expired ? 'The access token expired' : 'The access token is invalid'}"`);
}

describe('Bearer: external JWT issuers (JWKS)', () => {
  it.each(['RS256', 'ES256'] as const)('accepts an %s token, maps its claims and strips it', async (alg) => {
    const key = alg === 'RS256' ? rsa : ec;
    const exp = nowS() + 300;
    const token = await sign(key, { exp });
    const res = await call(gate, token);
    expect(res.status).toBe(200);
    const rec = gate.up.received.at(-1)!;
    expect(rec.headers.authorization).toBeUndefined();
    expect(JSON.stringify(rec.headers)).not.toContain(token);
    const jwks = createLocalJWKSet(await (await fetch(`${gate.adminUrl}/.well-known/jwks.json`)).json() as JSONWebKeySet);
    const { payload } = await jwtVerify(rec.headers['x-identity-assertion'] as string, jwks, { issuer: 'trackgate-test', audience: 'upstream-test' });
    expect(payload).toMatchObject({ sub: 'ext-user-1', scheme: 'bearer', kind: 'user', account: 'acct-42' });
    // The identity header (and the cache entry) never outlive the token.
    expect(payload.exp!).toBeLessThanOrEqual(exp);
  });

  it('fetched the JWKS once for all of that', () => {
    expect(idp.hits.length).toBe(1);
  });

  it('refuses alg "none"', async () => {
    const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const token = `${enc({ alg: 'none', kid: rsa.kid, typ: 'JWT' })}.${enc({ iss: ISSUER, aud: AUDIENCE, sub: 'admin', exp: nowS() + 600 })}.`;
    await expectInvalidToken(await call(gate, token));
  });

  it('refuses HS256 signed with the issuer\'s RSA public key as the secret (algorithm confusion)', async () => {
    const pem = await exportSPKI(await importPublic(rsa.publicJwk));
    for (const secret of [Buffer.from(pem), Buffer.from(JSON.stringify(rsa.publicJwk))]) {
      const token = await new SignJWT({ sub: 'admin' })
        .setProtectedHeader({ alg: 'HS256', kid: rsa.kid })
        .setIssuer(ISSUER).setAudience(AUDIENCE).setIssuedAt().setExpirationTime(nowS() + 600)
        .sign(new Uint8Array(secret));
      await expectInvalidToken(await call(gate, token));
    }
  });

  it('refuses a token signed by an unknown key under a known kid', async () => {
    const impostor = await newKey('RS256', rsa.kid);
    await expectInvalidToken(await call(gate, await sign(impostor)));
  });

  it.each([
    ['expired', { exp: nowS() - 120 }, true],
    ['nbf in the future', { nbf: nowS() + 600 }, false],
    ['wrong audience', { aud: 'someone-else' }, false],
    ['unconfigured issuer', { iss: 'https://evil.example.test/' }, false],
    ['no subject', { sub: undefined }, false],
  ] as const)('refuses a token with %s (invalid_token)', async (_name, claims, expired) => {
    const token = await sign(rsa, claims as JWTPayload);
    await expectInvalidToken(await call(gate, token), expired);
  });

  it('accepts exp within the clock tolerance (30 s)', async () => {
    expect((await call(gate, await sign(rsa, { exp: nowS() - 5 }))).status).toBe(200);
  });

  it('never contacts a JWKS URL the token names (jku, x5u)', async () => {
    const attacker = await newKey('RS256');
    const before = idp.hits.length;
    const token = await sign(attacker, {}, { jku: `${trap.url}/jwks.json`, x5u: `${trap.url}/cert.pem` });
    await expectInvalidToken(await call(gate, token));
    expect(trap.hits).toEqual([]);
    // Unknown kid: the configured JWKS was refetched once instead.
    expect(idp.hits.length).toBe(before + 1);
  });

  it('refetches the JWKS on an unknown kid and accepts a rotated-in key', async () => {
    const rotated = await newKey('EdDSA');
    const token = await sign(rotated);
    const before = idp.hits.length;
    published = [...published, rotated.publicJwk];
    expect((await call(gate, token)).status).toBe(200);
    expect(idp.hits.length).toBe(before + 1);
    // Known now: no further fetch.
    expect((await call(gate, await sign(rotated))).status).toBe(200);
    expect(idp.hits.length).toBe(before + 1);
  });

  it('answers a still-unknown kid 401 after one refetch', async () => {
    const stranger = await newKey('ES256');
    const before = idp.hits.length;
    await expectInvalidToken(await call(gate, await sign(stranger)));
    expect(idp.hits.length).toBe(before + 1);
  });
});

describe('Bearer: JWKS refetch cooldown and outages', () => {
  let coolIdp: CountingServer;
  let down = false;
  const clock = testClock();
  beforeAll(async () => {
    coolIdp = await serve(() => (down ? { status: 500, body: {} } : { status: 200, body: { keys: [rsa.publicJwk] } }));
  });
  const cool = useGate(() => ({ up: gate.up, now: clock.now, config: { authn: { basic: { enabled: false }, bearer: { enabled: true, external: { issuers: [issuerConfig(`${coolIdp.url}/jwks`)], jwks: { cooldownSeconds: 60 } } } } } }));
  afterEach(() => clock.unpin());
  afterAll(async () => { await coolIdp.close(); });

  it('answers 503 (not cached) while the JWKS cannot be fetched at all', async () => {
    down = true;
    clock.pin();
    const token = await sign(rsa);
    const res = await call(cool, token);
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ error: 'TG_ERR_SOURCE_UNAVAILABLE' });
    expect(res.headers.get('www-authenticate')).toBeNull();
    down = false;
    // Failed fetches back off for min(cooldown, 5 s): still 503 just before the end, without a fetch…
    const hits = coolIdp.hits.length;
    clock.advance(4999);
    expect((await call(cool, token)).status).toBe(503);
    expect(coolIdp.hits.length).toBe(hits);
    // …then the same token works (the 503 was not cached).
    clock.advance(1);
    expect((await call(cool, token)).status).toBe(200);
    expect(coolIdp.hits.length).toBe(hits + 1);
  });

  it('does not refetch for unknown kids within the cooldown', async () => {
    const before = coolIdp.hits.length;
    for (let i = 0; i < 5; i++) await expectInvalidToken(await call(cool, await sign(await newKey('RS256'))));
    expect(coolIdp.hits.length).toBe(before);
  });

  it('keeps verifying with the cached JWKS while the endpoint is down', async () => {
    down = true;
    expect((await call(cool, await sign(rsa))).status).toBe(200);
    down = false;
  });
});

describe('Bearer: only access tokens pass (RFC 9068 typ)', () => {
  it.each([['JWT'], ['jwt'], ['at+jwt'], ['application/at+jwt'], ['AT+JWT'], [undefined]])('accepts typ %s by default', async (typ) => {
    expect((await call(gate, await sign(rsa, {}, { typ }))).status).toBe(200);
  });

  it.each([
    'refresh', 'Refresh', 'id_token', 'ID', 'logout+jwt', 'application/logout+jwt', 'secevent+jwt', 'dpop+jwt', 'token-introspection+jwt', 'foo+jwt',
  ])('refuses typ header %j', async (typ) => {
    await expectInvalidToken(await call(gate, await sign(rsa, {}, { typ })));
  });

  it.each(['Refresh', 'ID', 'Logout', 'Offline', 'id_token', 'logout+jwt'])('refuses a Keycloak-style typ claim %j (header typ JWT)', async (typ) => {
    const from = gate.logs.length;
    await expectInvalidToken(await call(gate, await sign(rsa, { typ })));
    expect(gate.logs.slice(from).join('\n')).toContain('is not an access token');
  });

  it('accepts Keycloak\'s access-token typ claim "Bearer"', async () => {
    expect((await call(gate, await sign(rsa, { typ: 'Bearer' }))).status).toBe(200);
  });

  it('with tokenTypes ["at+jwt"] and allowUntyped false, only at+jwt passes', async () => {
    const strict = await startGate({
      up: gate.up,
      config: { authn: { basic: { enabled: false }, bearer: { enabled: true, external: { issuers: [issuerConfig(`${idp.url}/jwks.json`, { tokenTypes: ['at+jwt'], allowUntyped: false })] } } } },
    });
    try {
      expect((await call(strict, await sign(rsa, {}, { typ: 'at+jwt' }))).status).toBe(200);
      expect((await call(strict, await sign(rsa, {}, { typ: 'application/AT+JWT' }))).status).toBe(200);
      await expectInvalidToken(await call(strict, await sign(rsa, {}, { typ: 'JWT' })));
      await expectInvalidToken(await call(strict, await sign(rsa, {}, { typ: undefined })));
    } finally {
      await strict.close();
    }
  });

  it('refuses a non-access type in tokenTypes at config validation', async () => {
    await expect(startTrackgate({
      upstreamUrl: 'http://127.0.0.1:9',
      config: { authn: { bearer: { enabled: true, external: { issuers: [issuerConfig('http://127.0.0.1:9/jwks', { tokenTypes: ['at+jwt', 'Refresh'] })] } } } },
    })).rejects.toThrow(/tokenTypes\.1: names a type that is not an access token/);
  });
});

describe('Bearer: external issuer config', () => {
  it('rejects HS* in an issuer\'s algorithm allow-list at config validation', async () => {
    await expect(startTrackgate({
      upstreamUrl: 'http://127.0.0.1:9',
      config: { authn: { bearer: { enabled: true, external: { issuers: [issuerConfig('http://127.0.0.1:9/jwks', { algorithms: ['HS256'] })] } } } },
    })).rejects.toThrow(/authn\.bearer\.external\.issuers\.0\.algorithms\.0: must be asymmetric JWS algorithms/);
  });
});

async function importPublic(jwk: JWK) {
  return createPublicKey({ key: jwk as import('node:crypto').JsonWebKey, format: 'jwk' });
}
