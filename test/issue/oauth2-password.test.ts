/**
 * oauth2_password (seed: oauth2-jwt-auth-api.txt) through a real trackgate and a recording upstream:
 * `POST /auth/password` → JWT access + opaque refresh token → `Authorization: Bearer` on the proxy path →
 * `POST /auth/refresh` with rotation → revocation. RFC 6749 §5.2 error bodies.
 */
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet, type JWTPayload } from 'jose';
import { beforeEach, describe, expect, it } from 'vitest';
import { lookupDigest } from '../../src/accounts/digest-token.js';
import { startGate, useGate } from '../helpers/gate.js';
import { DEMO, type TestGate } from '../helpers/trackgate.js';

const PAIR_KEYS = ['access_token', 'expires_in', 'refresh_token', 'token_type'];
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

const gate = useGate({
  // Grace 0: a second use of a spent refresh token is a reuse at once (the grace window: refresh-rotation.test.ts).
  config: { authn: { bearer: { enabled: true } }, issue: { refreshGraceSeconds: 0 }, throttle: { user: { limit: 3 } } },
});
beforeEach(() => { gate.up.received.length = 0; });

interface Pair { access_token: string; refresh_token: string; token_type: string; expires_in: number }

async function post(path: string, body: string | Record<string, unknown>, g: TestGate = gate): Promise<Response> {
  return typeof body === 'string'
    ? fetch(`${g.url}${path}`, { method: 'POST', headers: FORM, body })
    : fetch(`${g.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

async function login(g: TestGate = gate): Promise<Pair> {
  const res = await post('/auth/password', new URLSearchParams({ username: DEMO.user, password: DEMO.password }).toString(), g);
  expect(res.status).toBe(200);
  return await res.json() as Pair;
}

async function refresh(token: string, g: TestGate = gate): Promise<Response> {
  return post('/auth/refresh', new URLSearchParams({ refresh_token: token }).toString(), g);
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

async function identityOf(g: TestGate, assertion: unknown): Promise<JWTPayload> {
  const jwks = createLocalJWKSet(await (await fetch(`${g.adminUrl}/.well-known/jwks.json`)).json() as JSONWebKeySet);
  return (await jwtVerify(assertion as string, jwks, { issuer: 'trackgate-test', audience: 'upstream-test' })).payload;
}

describe('POST /auth/password', () => {
  it('form-urlencoded username + password → 200 with the seed\'s four keys, no-store', async () => {
    const res = await post('/auth/password', `username=${DEMO.user}&password=${DEMO.password}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const body = await res.json() as Pair;
    expect(Object.keys(body).sort()).toEqual(PAIR_KEYS);
    expect(body.token_type).toBe('bearer');
    expect(body.expires_in).toBe(3600);
    expect(typeof body.access_token).toBe('string');
    expect(typeof body.refresh_token).toBe('string');
    expect(body.refresh_token).not.toBe(body.access_token);
    expect(body.refresh_token).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('the access token is a signed JWT (at+jwt) with iss/sub/aud/iat/exp/jti, published in the JWKS', async () => {
    const { access_token } = await login();
    expect(access_token.split('.')).toHaveLength(3);
    expect(decodeProtectedHeader(access_token).typ).toBe('at+jwt');
    const jwks = createLocalJWKSet(await (await fetch(`${gate.adminUrl}/.well-known/jwks.json`)).json() as JSONWebKeySet);
    const { payload } = await jwtVerify(access_token, jwks, { issuer: 'trackgate', audience: 'trackgate:oauth2_password', typ: 'at+jwt' });
    expect(Object.keys(payload).sort()).toEqual(['aud', 'exp', 'iat', 'iss', 'jti', 'sub']);
    expect(payload.sub).toBe(DEMO.user);
    expect(payload.exp! - payload.iat!).toBe(3600);
    // It is not an identity header: the upstream's audience check refuses it.
    await expect(identityOf(gate, access_token)).rejects.toThrow();
  });

  it('grant_type=password is accepted; JSON bodies too', async () => {
    const res = await post('/auth/password', `grant_type=password&username=${DEMO.user}&password=${DEMO.password}`);
    expect(res.status).toBe(200);
    const json = await post('/auth/password', { username: DEMO.user, password: DEMO.password });
    expect(json.status).toBe(200);
    expect(Object.keys(await json.json() as object).sort()).toEqual(PAIR_KEYS);
  });

  it('another grant_type → 400 unsupported_grant_type', async () => {
    const res = await post('/auth/password', `grant_type=client_credentials&username=${DEMO.user}&password=${DEMO.password}`);
    expect(res.status).toBe(400);
    const body = await res.json() as Record<string, unknown>;
    expect(Object.keys(body).sort()).toEqual(['error', 'error_description']);
    expect(body.error).toBe('unsupported_grant_type');
    expect(typeof body.error_description).toBe('string');
  });

  it('missing username or password → 400 invalid_request', async () => {
    for (const body of [`username=${DEMO.user}`, `password=${DEMO.password}`, '', 'username=&password=x']) {
      const res = await post('/auth/password', body);
      expect(res.status, body).toBe(400);
      expect(await res.json()).toEqual({ error: 'invalid_request', error_description: 'username and password required' });
    }
  });

  it('a wrong password and an unknown user → the same 400 invalid_grant, no secret in the body or logs', async () => {
    const wrong = await post('/auth/password', `username=${DEMO.user}&password=not-the-password-1`);
    const unknown = await post('/auth/password', 'username=nobody.at.all&password=not-the-password-2');
    expect(wrong.status).toBe(400);
    expect(unknown.status).toBe(400);
    const a = await wrong.json();
    const b = await unknown.json();
    expect(a).toEqual({ error: 'invalid_grant', error_description: 'invalid username or password' });
    expect(b).toEqual(a);
    expect(gate.logs.join('\n')).not.toContain('not-the-password');
  });

  it('repeated failures → 429 slow_down with Retry-After (also for the right password meanwhile)', async () => {
    const user = 'throttle.victim';
    for (let i = 0; i < 3; i++) expect((await post('/auth/password', `username=${user}&password=guess${i}`)).status).toBe(400);
    const res = await post('/auth/password', `username=${user}&password=guess9`);
    expect(res.status).toBe(429);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await res.json()).toEqual({ error: 'slow_down', error_description: 'too many failed attempts' });
  });

  it('GET → 405 with Allow: POST, in the RFC 6749 shape', async () => {
    const res = await fetch(`${gate.url}/auth/password`);
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('POST');
    expect(await res.json()).toMatchObject({ error: 'invalid_request' });
  });

  it('a bad body → 400 invalid_request; an unsupported content type → 415', async () => {
    const bad = await fetch(`${gate.url}/auth/password`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{nope' });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: 'invalid_request' });
    const xml = await fetch(`${gate.url}/auth/password`, { method: 'POST', headers: { 'content-type': 'application/xml' }, body: '<a/>' });
    expect(xml.status).toBe(415);
    expect(await xml.json()).toMatchObject({ error: 'invalid_request' });
  });
});

describe('the seed\'s flow through the proxy', () => {
  it('password → Bearer → refresh → old refresh refused (family revoked) → password again → revoke', async () => {
    // 1. Tokens from /auth/password.
    const first = await login();

    // 2. The target API through trackgate with `Authorization: Bearer <access_token>`.
    const api = await fetch(`${gate.url}/positions/latest?n=1`, { headers: bearer(first.access_token) });
    expect(api.status).toBe(200);
    const rec = gate.up.received[0]!;
    expect(rec.url).toBe('/positions/latest?n=1');
    expect(rec.headers.authorization).toBeUndefined();
    expect(JSON.stringify(rec)).not.toContain(first.access_token);
    expect(await identityOf(gate, rec.headers['x-identity-assertion'])).toMatchObject({
      sub: DEMO.user, kind: 'user', account: 'demo-account', scheme: 'bearer',
    });

    // 3. /auth/refresh: a new pair in the same shape; the old refresh token is spent.
    const res = await refresh(first.refresh_token);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const second = await res.json() as Pair;
    expect(Object.keys(second).sort()).toEqual(PAIR_KEYS);
    expect(second).toMatchObject({ token_type: 'bearer', expires_in: 3600 });
    expect(second.access_token).not.toBe(first.access_token);
    expect(second.refresh_token).not.toBe(first.refresh_token);

    // 4. Both access tokens work: refreshing does not revoke the previous access token (it expires on its own).
    expect((await fetch(`${gate.url}/a`, { headers: bearer(second.access_token) })).status).toBe(200);
    expect((await fetch(`${gate.url}/a`, { headers: bearer(first.access_token) })).status).toBe(200);

    // 5. The old refresh token again (grace 0 here): 401 invalid_grant, and the whole family is revoked.
    const reuse = await refresh(first.refresh_token);
    expect(reuse.status).toBe(401);
    expect(await reuse.json()).toEqual({ error: 'invalid_grant', error_description: 'invalid refresh token' });
    for (const t of [first.access_token, second.access_token]) {
      const r = await fetch(`${gate.url}/a`, { headers: bearer(t) });
      expect(r.status).toBe(401);
      expect(r.headers.get('www-authenticate')).toContain('error="invalid_token"');
    }
    expect((await refresh(second.refresh_token)).status).toBe(401);

    // 6. The seed's fallback: /auth/password again.
    const third = await login();
    expect((await fetch(`${gate.url}/a`, { headers: bearer(third.access_token) })).status).toBe(200);

    // 7. An operator revokes the access token: refused at once (the validation cache is evicted).
    await gate.app.store.revokeTokens([lookupDigest(third.access_token)], Date.now());
    expect((await fetch(`${gate.url}/a`, { headers: bearer(third.access_token) })).status).toBe(401);
    expect(gate.up.received.filter((r) => r.url === '/a')).toHaveLength(3);
  });

  it('revoking the family kills the access and the refresh token', async () => {
    const pair = await login();
    expect((await fetch(`${gate.url}/a`, { headers: bearer(pair.access_token) })).status).toBe(200);
    const rec = await gate.app.store.getToken(lookupDigest(pair.access_token));
    expect(rec).toMatchObject({ type: 'access', issuer: 'oauth2_password', subject: DEMO.user, account: 'demo-account' });
    await gate.app.store.revokeFamily(rec!.family!, Date.now());
    expect((await fetch(`${gate.url}/a`, { headers: bearer(pair.access_token) })).status).toBe(401);
    expect((await refresh(pair.refresh_token)).status).toBe(401);
  });

  it('a refresh token is not an access token on the proxy path', async () => {
    const pair = await login();
    expect((await fetch(`${gate.url}/a`, { headers: bearer(pair.refresh_token) })).status).toBe(401);
    expect(gate.up.received).toHaveLength(0);
  });

  it('JSON {"refreshToken"} on /auth/refresh rotates an oauth2 family and answers in the oauth2 shape', async () => {
    const pair = await login();
    const res = await post('/auth/refresh', { refreshToken: pair.refresh_token });
    expect(res.status).toBe(200);
    expect(Object.keys(await res.json() as object).sort()).toEqual(PAIR_KEYS);
  });
});

describe('POST /auth/refresh errors', () => {
  it('no refresh_token → 400 invalid_request', async () => {
    const res = await post('/auth/refresh', 'grant_type=refresh_token');
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ error: 'invalid_request', error_description: 'refresh_token required' });
  });

  it('an unknown refresh token → 401 invalid_grant', async () => {
    const res = await refresh('no-such-refresh-token');
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ error: 'invalid_grant', error_description: 'invalid refresh token' });
  });

  it('an access token is not a refresh token', async () => {
    const pair = await login();
    expect((await refresh(pair.access_token)).status).toBe(401);
    // …and presenting it did not spend anything.
    expect((await refresh(pair.refresh_token)).status).toBe(200);
  });
});

describe('expiry (clock)', () => {
  it('after expires_in the access token is refused (401 invalid_token); the refresh token still gets a new pair', async () => {
    let now = Date.now();
    const g = await startGate({ up: gate.up, now: () => now, config: { authn: { bearer: { enabled: true } } } });
    try {
      const pair = await login(g);
      expect((await fetch(`${g.url}/a`, { headers: bearer(pair.access_token) })).status).toBe(200);
      now += 3601_000;
      // The validation cache's LRU TTL runs on the real clock, not the injected one: start it afresh.
      g.app.cache.clear();
      const late = await fetch(`${g.url}/a`, { headers: bearer(pair.access_token) });
      expect(late.status).toBe(401);
      expect(late.headers.get('www-authenticate')).toContain('error="invalid_token"');
      const res = await refresh(pair.refresh_token, g);
      expect(res.status).toBe(200);
      const next = await res.json() as Pair;
      expect(next.expires_in).toBe(3600);
      expect((await fetch(`${g.url}/a`, { headers: bearer(next.access_token) })).status).toBe(200);
      // A refresh token past its own lifetime (30 days) → 401: the seed's cue to fall back to /password.
      now += 31 * 86400_000;
      expect((await refresh(next.refresh_token, g)).status).toBe(401);
    } finally {
      await g.close();
    }
  });

  it('lifetimes and the prefix are configurable', async () => {
    const g = await startGate({
      up: gate.up,
      config: { issue: { oauth2_password: { prefix: '/oauth', accessTtlSeconds: 600, scope: 'positions:read' }, fleet_login: { enabled: false } } },
    });
    try {
      const res = await fetch(`${g.url}/oauth/password`, { method: 'POST', headers: FORM, body: `username=${DEMO.user}&password=${DEMO.password}` });
      expect(res.status).toBe(200);
      const pair = await res.json() as Pair;
      expect(pair.expires_in).toBe(600);
      const payload = JSON.parse(Buffer.from(pair.access_token.split('.')[1]!, 'base64url').toString()) as JWTPayload;
      expect(payload.scope).toBe('positions:read');
      expect((await fetch(`${g.url}/oauth/refresh`, { method: 'POST', headers: FORM, body: `refresh_token=${pair.refresh_token}` })).status).toBe(200);
      // /auth/password is no token endpoint any more: it goes the proxy way (no credentials → 401).
      expect((await fetch(`${g.url}/auth/password`, { method: 'POST', headers: FORM, body: 'x=1' })).status).toBe(401);
    } finally {
      await g.close();
    }
  });
});
