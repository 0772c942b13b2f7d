/**
 * fleet_login (seed: bearer-token-login.txt) through a real trackgate and a recording upstream:
 * `POST /auth/login` → `Authentication: Bearer` / `Authorization: Bearer` → `POST /auth/refresh` (JSON
 * `refreshToken`, shared with oauth2_password) → revocation; single-account binding; `{success:false}` errors;
 * who owns `/auth/refresh`.
 */
import { readFileSync } from 'node:fs';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet, type JWTPayload } from 'jose';
import { beforeEach, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { lookupDigest } from '../../src/accounts/digest-token.js';
import { hashPassword } from '../../src/accounts/password.js';
import { RefreshRotation } from '../../src/issue/refresh.js';
import { IssueRouter } from '../../src/issue/router.js';
import type { Dialect, DialectId, IssueRoute } from '../../src/issue/types.js';
import { startGate, useGate } from '../helpers/gate.js';
import { DEMO, DEMO_ACCOUNTS, type TestGate } from '../helpers/trackgate.js';

const LOGIN_KEYS = ['guid', 'refreshToken', 'refreshTokenExpiration', 'success', 'token', 'tokenExpiration', 'tokenLifetime'];
const ISO_OFFSET = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const MULTI = { user: 'fleet.manager', password: 'fleet-manager-password', accounts: ['acct-north', 'acct-south', '42'] };

interface Login {
  success: true; guid: string; token: string; tokenExpiration: string; tokenLifetime: number;
  refreshToken: string; refreshTokenExpiration: string;
}

const gate = useGate(async () => {
  const accounts = parse(readFileSync(DEMO_ACCOUNTS, 'utf8')) as { users: Record<string, unknown>[] };
  accounts.users.push({ username: MULTI.user, password: await hashPassword(MULTI.password), accounts: MULTI.accounts });
  return {
    files: { 'multi-accounts.yaml': stringify(accounts) },
    config: { accountsFile: 'multi-accounts.yaml', authn: { bearer: { enabled: true } }, issue: { refreshGraceSeconds: 0 } },
  };
});
beforeEach(() => { gate.up.received.length = 0; });

async function postJson(path: string, body: unknown, g: TestGate = gate): Promise<Response> {
  return fetch(`${g.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

async function login(body: Record<string, unknown> = { username: DEMO.user, password: DEMO.password }, g: TestGate = gate): Promise<Login> {
  const res = await postJson('/auth/login', body, g);
  expect(res.status).toBe(200);
  return await res.json() as Login;
}

async function identityOf(assertion: unknown): Promise<JWTPayload> {
  const jwks = createLocalJWKSet(await (await fetch(`${gate.adminUrl}/.well-known/jwks.json`)).json() as JSONWebKeySet);
  return (await jwtVerify(assertion as string, jwks, { issuer: 'trackgate-test', audience: 'upstream-test' })).payload;
}

/** The account the upstream is told a token is bound to. */
async function accountOf(token: string): Promise<unknown> {
  gate.up.received.length = 0;
  const res = await fetch(`${gate.url}/vehicles`, { headers: { authorization: `Bearer ${token}` } });
  expect(res.status).toBe(200);
  return (await identityOf(gate.up.received[0]!.headers['x-identity-assertion'])).account;
}

describe('POST /auth/login', () => {
  it('JSON username + password → 200 in the seed\'s shape', async () => {
    const before = Date.now();
    const res = await postJson('/auth/login', { username: DEMO.user, password: DEMO.password });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const body = await res.json() as Login;
    expect(Object.keys(body).sort()).toEqual(LOGIN_KEYS);
    expect(body.success).toBe(true);
    expect(body.guid).toMatch(UUID);
    expect(typeof body.token).toBe('string');
    expect(typeof body.refreshToken).toBe('string');
    expect(body.token).not.toBe(body.refreshToken);
    expect(body.tokenLifetime).toBe(3600);
    expect(body.tokenExpiration).toMatch(ISO_OFFSET);
    expect(body.refreshTokenExpiration).toMatch(ISO_OFFSET);
    const exp = Date.parse(body.tokenExpiration);
    expect(exp).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 + 3600_000 - 1000);
    expect(exp).toBeLessThanOrEqual(Date.now() + 3600_000);
    const rexp = Date.parse(body.refreshTokenExpiration);
    expect(Math.abs(rexp - (Date.now() + 30 * 86400_000))).toBeLessThan(5000);
  });

  it('form-urlencoded works too', async () => {
    const res = await fetch(`${gate.url}/auth/login`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ username: DEMO.user, password: DEMO.password }).toString(),
    });
    expect(res.status).toBe(200);
    expect(Object.keys(await res.json() as object).sort()).toEqual(LOGIN_KEYS);
  });

  it('bad credentials → 401 {success:false, message}, the same for an unknown user, no secret echoed', async () => {
    const wrong = await postJson('/auth/login', { username: DEMO.user, password: 'not-the-password-1' });
    const unknown = await postJson('/auth/login', { username: 'nobody.at.all', password: 'not-the-password-2' });
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(401);
    const a = await wrong.json() as Record<string, unknown>;
    expect(a).toEqual({ success: false, message: 'invalid username or password' });
    expect(await unknown.json()).toEqual(a);
    expect(gate.logs.join('\n')).not.toContain('not-the-password');
  });

  it('missing fields or a bad body → 400 {success:false, message}', async () => {
    for (const body of [{ username: DEMO.user }, { password: DEMO.password }, {}, { username: ['a'], password: 'x' }]) {
      const res = await postJson('/auth/login', body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      const json = await res.json() as Record<string, unknown>;
      expect(Object.keys(json).sort()).toEqual(['message', 'success']);
      expect(json.success).toBe(false);
    }
  });

  it('GET → 405 {success:false} with Allow', async () => {
    const res = await fetch(`${gate.url}/auth/login`);
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('POST');
    expect(await res.json()).toEqual({ success: false, message: 'method not allowed' });
  });
});

describe('one account per token', () => {
  it('no account_id → the user\'s first account', async () => {
    const body = await login({ username: MULTI.user, password: MULTI.password });
    expect(await accountOf(body.token)).toBe('acct-north');
  });

  it('account_id of one of the user\'s accounts → bound to it (an integer id as the seed types it, too)', async () => {
    expect(await accountOf((await login({ username: MULTI.user, password: MULTI.password, account_id: 'acct-south' })).token)).toBe('acct-south');
    expect(await accountOf((await login({ username: MULTI.user, password: MULTI.password, account_id: 42 })).token)).toBe('42');
  });

  it('the demo account by its integer id (config/accounts.yaml `id: 1001`), in JSON and in a form', async () => {
    expect(await accountOf((await login({ username: DEMO.user, password: DEMO.password, account_id: 1001 })).token)).toBe('demo-account');
    const form = await fetch(`${gate.url}/auth/login`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `username=${DEMO.user}&password=${DEMO.password}&account_id=1001`,
    });
    expect(form.status).toBe(200);
    expect(await accountOf((await form.json() as Login).token)).toBe('demo-account');
    expect((await postJson('/auth/login', { username: DEMO.user, password: DEMO.password, account_id: 9999 })).status).toBe(403);
  });

  it.each([1.5, -1, 2 ** 53])('account_id %s is no account id → 400', async (id) => {
    const res = await postJson('/auth/login', { username: DEMO.user, password: DEMO.password, account_id: id });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ success: false, message: 'account_id must be a non-negative integer' });
  });

  it('account_id the user does not have → 403 {success:false}', async () => {
    const res = await postJson('/auth/login', { username: MULTI.user, password: MULTI.password, account_id: 'acct-west' });
    expect(res.status).toBe(403);
    expect(await res.json()).toEqual({ success: false, message: 'this user has no access to that account' });
    // A wrong password with someone else's account is a plain 401: the 403 needs the right password.
    expect((await postJson('/auth/login', { username: MULTI.user, password: 'nope', account_id: 'acct-west' })).status).toBe(401);
  });

  it('the binding survives a refresh', async () => {
    const first = await login({ username: MULTI.user, password: MULTI.password, account_id: 'acct-south' });
    const res = await postJson('/auth/refresh', { refreshToken: first.refreshToken });
    expect(res.status).toBe(200);
    expect(await accountOf((await res.json() as Login).token)).toBe('acct-south');
  });
});

describe('the seed\'s flow through the proxy', () => {
  it('login → Authentication: Bearer → refresh → old refresh refused → login → revoke', async () => {
    const first = await login();

    // The seed's own header spelling, and the standard one.
    for (const headers of [{ authentication: `Bearer ${first.token}` }, { authorization: `Bearer ${first.token}` }] as Record<string, string>[]) {
      gate.up.received.length = 0;
      const res = await fetch(`${gate.url}/vehicles/17/positions`, { headers });
      expect(res.status).toBe(200);
      const rec = gate.up.received[0]!;
      expect(rec.headers.authentication).toBeUndefined();
      expect(rec.headers.authorization).toBeUndefined();
      expect(JSON.stringify(rec)).not.toContain(first.token);
      expect(await identityOf(rec.headers['x-identity-assertion'])).toMatchObject({ sub: DEMO.user, kind: 'user', account: 'demo-account' });
    }

    // Refresh: JSON refreshToken on /auth/refresh → the login shape, the same guid, new tokens.
    const res = await postJson('/auth/refresh', { refreshToken: first.refreshToken });
    expect(res.status).toBe(200);
    const second = await res.json() as Login;
    expect(Object.keys(second).sort()).toEqual(LOGIN_KEYS);
    expect(second.success).toBe(true);
    expect(second.guid).toBe(first.guid);
    expect(second.token).not.toBe(first.token);
    expect(second.refreshToken).not.toBe(first.refreshToken);
    expect(second.tokenLifetime).toBe(3600);
    expect(second.tokenExpiration).toMatch(ISO_OFFSET);

    // The previous token stays valid until its tokenExpiration; the new one works.
    expect((await fetch(`${gate.url}/a`, { headers: { authentication: `Bearer ${first.token}` } })).status).toBe(200);
    expect((await fetch(`${gate.url}/a`, { headers: { authentication: `Bearer ${second.token}` } })).status).toBe(200);

    // The old refresh token again (grace 0): 401 {success:false}, and the whole session is revoked.
    const reuse = await postJson('/auth/refresh', { refreshToken: first.refreshToken });
    expect(reuse.status).toBe(401);
    expect(await reuse.json()).toEqual({ success: false, message: 'invalid refresh token' });
    expect((await fetch(`${gate.url}/a`, { headers: { authentication: `Bearer ${second.token}` } })).status).toBe(401);
    expect((await fetch(`${gate.url}/a`, { headers: { authentication: `Bearer ${first.token}` } })).status).toBe(401);

    // Log in again; an operator revokes the token → refused at once.
    const third = await login();
    expect(third.guid).not.toBe(first.guid);
    expect((await fetch(`${gate.url}/a`, { headers: { authentication: `Bearer ${third.token}` } })).status).toBe(200);
    await gate.app.store.revokeTokens([lookupDigest(third.token)], Date.now());
    expect((await fetch(`${gate.url}/a`, { headers: { authentication: `Bearer ${third.token}` } })).status).toBe(401);
  });

  it('two different tokens in Authorization and Authentication → 400', async () => {
    const a = await login();
    const b = await login();
    const res = await fetch(`${gate.url}/a`, { headers: { authorization: `Bearer ${a.token}`, authentication: `Bearer ${b.token}` } });
    expect(res.status).toBe(400);
    expect(gate.up.received).toHaveLength(0);
  });
});

describe('POST /auth/refresh for fleet clients', () => {
  it('an unknown refreshToken (JSON) → 401 in the fleet shape', async () => {
    const res = await postJson('/auth/refresh', { refreshToken: 'dff78899-ed3b-4965-8f44-474ac2bf7354' });
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ success: false, message: 'invalid refresh token' });
  });

  it('a fleet refresh token sent the oauth2 way (form refresh_token) still answers the fleet shape', async () => {
    const first = await login();
    const res = await fetch(`${gate.url}/auth/refresh`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `refresh_token=${first.refreshToken}`,
    });
    expect(res.status).toBe(200);
    const body = await res.json() as Login;
    expect(Object.keys(body).sort()).toEqual(LOGIN_KEYS);
    expect(body.guid).toBe(first.guid);
  });

  it('a missing refreshToken → 400 in the shape of the field family used', async () => {
    const res = await postJson('/auth/refresh', { refreshToken: '' });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ success: false, message: 'refresh_token required' });
  });
});

describe('who serves /auth/refresh', () => {
  it('oauth2_password disabled: fleet_login registers /auth/refresh itself; /auth/password is no endpoint', async () => {
    const g = await startGate({ up: gate.up, config: { issue: { oauth2_password: { enabled: false } }, authn: { bearer: { enabled: true } } } });
    try {
      const first = await login(undefined, g);
      const res = await postJson('/auth/refresh', { refreshToken: first.refreshToken }, g);
      expect(res.status).toBe(200);
      expect((await res.json() as Login).guid).toBe(first.guid);
      // Errors of the path are fleet-shaped whatever the field name.
      const bad = await fetch(`${g.url}/auth/refresh`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'refresh_token=nope' });
      expect(bad.status).toBe(401);
      expect(await bad.json()).toEqual({ success: false, message: 'invalid refresh token' });
      gate.up.received.length = 0;
      expect((await postJson('/auth/password', { username: DEMO.user, password: DEMO.password }, g)).status).toBe(401);
      expect(gate.up.received).toHaveLength(0);
    } finally {
      await g.close();
    }
  });

  it('different prefixes: each dialect has its own refresh path; both rotate either family', async () => {
    const g = await startGate({ up: gate.up, config: { issue: { fleet_login: { prefix: '/fleet' } } } });
    try {
      // /auth/login is no token endpoint now: it goes the proxy way (no credentials → 401).
      expect((await postJson('/auth/login', { username: DEMO.user, password: DEMO.password }, g)).status).toBe(401);
      const res = await postJson('/fleet/login', { username: DEMO.user, password: DEMO.password }, g);
      expect(res.status).toBe(200);
      const fleet = await res.json() as Login;
      const r1 = await postJson('/fleet/refresh', { refreshToken: fleet.refreshToken }, g);
      expect(r1.status).toBe(200);
      const r2 = await postJson('/auth/refresh', { refreshToken: (await r1.json() as Login).refreshToken }, g);
      expect(r2.status).toBe(200);
      expect((await r2.json() as Login).guid).toBe(fleet.guid);
    } finally {
      await g.close();
    }
  });

  it('the router serves one endpoint per declared refresh path; a declared path taken by another route conflicts', () => {
    const rotation = new RefreshRotation(gate.app.tokens, gate.app.store, () => 0, Date.now);
    const handle = async () => ({ status: 204 });
    const renderPair = () => ({ status: 200 });
    const d = (id: DialectId, routes: IssueRoute[], refreshPath?: string): Dialect => ({
      id, routes, renderError: () => ({ status: 500 }),
      ...(refreshPath !== undefined ? { refresh: { path: refreshPath, fields: [`${id}_token`], renderPair } } : {}),
    });
    const router = new IssueRouter([d('fleet_login', [], '/auth/refresh'), d('telematics', [{ method: 'POST', path: '/auth/login', handle }], '/auth/refresh'), d('operator', [], '/c/refresh')], rotation);
    expect(router.size).toBe(3);
    expect(router.match('POST', '/auth/refresh')?.dialect.id).toBe('fleet_login');
    expect(router.match('POST', '/auth/login')?.dialect.id).toBe('telematics');
    expect(router.match('POST', '/c/refresh')?.route?.handle).toBe(router.match('POST', '/auth/refresh')?.route?.handle);
    expect(router.match('GET', '/auth/refresh')).toMatchObject({ route: undefined, allow: ['POST'] });
    expect(() => new IssueRouter([d('fleet_login', [], '/auth/refresh'), d('telematics', [{ method: 'POST', path: '/auth/refresh', handle }])], rotation)).toThrow(/claimed by both telematics and fleet_login/);
  });
});
