/**
 * Bearer form, tokens trackgate issued (store) and the RFC 6750 request syntax: through a real trackgate and
 * a recording upstream.
 */
import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import { lookupDigest } from '../../src/accounts/digest-token.js';
import type { TokenRecord } from '../../src/store/types.js';
import { startGate, useGate } from '../helpers/gate.js';
import { basicAuth, DEMO, type TestGate } from '../helpers/trackgate.js';


const gate = useGate({ config: { authn: { basic: { enabled: false }, bearer: { enabled: true, realm: 'GPS API' } } } });
const strict = useGate(() => ({ up: gate.up, config: { authn: { basic: { enabled: false }, bearer: { enabled: true, legacyAuthenticationHeader: false } } } }));

async function issue(g: TestGate, over: Partial<TokenRecord> = {}): Promise<string> {
  const value = randomBytes(32).toString('base64url');
  const now = Date.now();
  await g.app.store.putToken({
    digest: lookupDigest(value), type: 'access', issuer: 'test', subject: 'fleet-user-7', kind: 'user', account: 'acct-9',
    issuedAt: now, expiresAt: now + 3600_000, ...over,
  });
  return value;
}

async function identityClaims(g: TestGate): Promise<Record<string, unknown>> {
  const jwks = createLocalJWKSet(await (await fetch(`${g.adminUrl}/.well-known/jwks.json`)).json() as JSONWebKeySet);
  const { payload } = await jwtVerify(gate.up.received.at(-1)!.headers['x-identity-assertion'] as string, jwks, { issuer: 'trackgate-test', audience: 'upstream-test' });
  return payload;
}

describe('Bearer: tokens trackgate issued', () => {
  it('forwards a request with a stored access token, identity mapped, no credential upstream', async () => {
    const token = await issue(gate);
    const res = await fetch(`${gate.url}/api/vehicles`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    const rec = gate.up.received.at(-1)!;
    expect(rec.url).toBe('/api/vehicles');
    expect(rec.headers.authorization).toBeUndefined();
    expect(rec.headers.authentication).toBeUndefined();
    expect(JSON.stringify(rec.headers)).not.toContain(token);
    expect(await identityClaims(gate)).toMatchObject({ sub: 'fleet-user-7', scheme: 'bearer', kind: 'user', account: 'acct-9' });
  });

  it('accepts the legacy `Authentication: Bearer` spelling (bearer-token-login) and strips it', async () => {
    const token = await issue(gate);
    const res = await fetch(`${gate.url}/api/vehicles`, { headers: { authentication: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    expect(gate.up.received.at(-1)!.headers.authentication).toBeUndefined();
  });

  it('treats the same token in Authorization and Authentication as one credential, two different ones as ambiguous', async () => {
    const a = await issue(gate);
    const b = await issue(gate);
    expect((await fetch(`${gate.url}/x`, { headers: { authorization: `Bearer ${a}`, authentication: `Bearer ${a}` } })).status).toBe(200);
    const res = await fetch(`${gate.url}/x`, { headers: { authorization: `Bearer ${a}`, authentication: `Bearer ${b}` } });
    expect(res.status).toBe(400);
    expect((await res.json() as { error: string }).error).toBe('TG_ERR_AMBIGUOUS_CREDENTIALS');
  });

  it('refuses `Authentication: Bearer` when legacyAuthenticationHeader is off (no credentials) and still strips it', async () => {
    const token = await issue(strict);
    const before = gate.up.received.length;
    const res = await fetch(`${strict.url}/api/vehicles`, { headers: { authentication: `Bearer ${token}` } });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer realm="trackgate"');
    expect(gate.up.received.length).toBe(before);
    expect((await fetch(`${strict.url}/api/vehicles`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
  });

  it('refuses a refresh token on the proxy path with invalid_token', async () => {
    const token = await issue(gate, { type: 'refresh' });
    const res = await fetch(`${gate.url}/api/vehicles`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer realm="GPS API", error="invalid_token", error_description="The access token is invalid"');
  });

  it('answers an expired token 401 expired and a revoked one 401 invalid', async () => {
    const expired = await issue(gate, { expiresAt: Date.now() - 1000 });
    const res = await fetch(`${gate.url}/x`, { headers: { authorization: `Bearer ${expired}` } });
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ error: 'TG_ERR_EXPIRED_CREDENTIALS' });
    expect(res.headers.get('www-authenticate')).toContain('error="invalid_token", error_description="The access token expired"');

    const token = await issue(gate);
    expect((await fetch(`${gate.url}/x`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    await gate.app.store.revokeTokens([lookupDigest(token)], Date.now());
    const revoked = await fetch(`${gate.url}/x`, { headers: { authorization: `Bearer ${token}` } });
    expect(revoked.status).toBe(401);
  });

  it('answers an unknown token 401 invalid_token', async () => {
    const res = await fetch(`${gate.url}/x`, { headers: { authorization: `Bearer ${randomBytes(32).toString('base64url')}` } });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toContain('error="invalid_token"');
  });
});

describe('Bearer: RFC 6750 request syntax and challenges', () => {
  it('answers no credentials 401 with a plain Bearer challenge (no error attribute)', async () => {
    const res = await fetch(`${gate.url}/api/vehicles`);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer realm="GPS API"');
  });

  it.each([
    ['Bearer', 'missing'],
    ['Bearer    ', 'missing'],
    ['Bearer abc def', 'not a valid b64token'],
    ['Bearer abc,def', 'not a valid b64token'],
    ['bearer "quoted"', 'not a valid b64token'],
    [`Bearer ${'a'.repeat(9000)}`, 'too long'],
  ])('answers %j 400 invalid_request', async (value, why) => {
    const before = gate.up.received.length;
    const res = await fetch(`${gate.url}/x`, { headers: { authorization: value } });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'TG_ERR_MALFORMED_CREDENTIALS' });
    const challenge = res.headers.get('www-authenticate')!;
    expect(challenge).toMatch(/^Bearer realm="GPS API", error="invalid_request", error_description="[^"]+"$/);
    expect(challenge).toContain(why);
    expect(gate.up.received.length).toBe(before);
  });

  it('matches the scheme case-insensitively and ignores other schemes', async () => {
    const token = await issue(gate);
    expect((await fetch(`${gate.url}/x`, { headers: { authorization: `bEaReR ${token}` } })).status).toBe(200);
    // Basic is disabled here: not bearer's, so no credentials at all.
    const basic = await fetch(`${gate.url}/x`, { headers: { authorization: basicAuth(DEMO.user, DEMO.password) } });
    expect(basic.status).toBe(401);
    expect(basic.headers.get('www-authenticate')).toBe('Bearer realm="GPS API"');
  });

  it('puts error="invalid_token" only on its own challenge when another form failed', async () => {
    const both = await startGate({ up: gate.up, config: { authn: { bearer: { enabled: true } } } });
    try {
      const basicFail = await fetch(`${both.url}/x`, { headers: { authorization: basicAuth(DEMO.user, 'wrong') } });
      expect(basicFail.status).toBe(401);
      const challenges = basicFail.headers.get('www-authenticate')!;
      expect(challenges).toContain('Bearer realm="trackgate"');
      expect(challenges).not.toContain('invalid_token');
      const bearerFail = await fetch(`${both.url}/x`, { headers: { authorization: 'Bearer nope' } });
      expect(bearerFail.status).toBe(401);
      const c2 = bearerFail.headers.get('www-authenticate')!;
      expect(c2).toContain('Basic realm="trackgate"');
      expect(c2).toContain('Bearer realm="trackgate", error="invalid_token"');
    } finally {
      await both.close();
    }
  });
});

describe('Bearer: tokens from trackgate\'s own login endpoints', () => {
  it('accepts the fleet login token (bearer-token-login) in both spellings and refuses its refresh token', async () => {
    const login = await fetch(`${gate.url}/auth/login`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: DEMO.user, password: DEMO.password }),
    });
    expect(login.status).toBe(200);
    const body = await login.json() as { token: string; refreshToken: string };
    expect((await fetch(`${gate.url}/api/vehicles`, { headers: { authentication: `Bearer ${body.token}` } })).status).toBe(200);
    expect((await fetch(`${gate.url}/api/vehicles`, { headers: { authorization: `Bearer ${body.token}` } })).status).toBe(200);
    expect(await identityClaims(gate)).toMatchObject({ sub: DEMO.user, scheme: 'bearer' });
    expect((await fetch(`${gate.url}/api/vehicles`, { headers: { authorization: `Bearer ${body.refreshToken}` } })).status).toBe(401);
  });

  it('accepts the OAuth 2.0 password grant\'s JWT access token (oauth2-jwt-auth-api)', async () => {
    const login = await fetch(`${gate.url}/auth/password`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ username: DEMO.user, password: DEMO.password }).toString(),
    });
    expect(login.status).toBe(200);
    const { access_token: access, refresh_token: refresh } = await login.json() as { access_token: string; refresh_token: string };
    expect((await fetch(`${gate.url}/api/vehicles`, { headers: { authorization: `Bearer ${access}` } })).status).toBe(200);
    expect((await fetch(`${gate.url}/api/vehicles`, { headers: { authorization: `Bearer ${refresh}` } })).status).toBe(401);
  });
});
