/**
 * `POST /auth/masquerade` (seed: bearer-token-login.txt, "You can alternatively perform a separate masquerade
 * operation afterwards"; "Bearer tokens are only associated with a single account at any time") through a real
 * trackgate (SQLite store) and a recording upstream: a new session bound to another of the user's accounts, in
 * the login's shape; the presented session revoked; the identity header's `account` and `act`; errors in the
 * fleet shape. The same across Redis replicas: test/e2e/redis/masquerade.test.ts.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { startGate, useGate, type Gate } from '../helpers/gate.js';
import { bearerIdentity } from '../helpers/identity-assertion.js';
import { DEMO } from '../helpers/trackgate.js';

const LOGIN_KEYS = ['guid', 'refreshToken', 'refreshTokenExpiration', 'success', 'token', 'tokenExpiration', 'tokenLifetime'];
const CONFIG = { authn: { bearer: { enabled: true } }, issue: { refreshGraceSeconds: 0 } };

interface Session { guid: string; token: string; refreshToken: string }

const gate = useGate({ config: CONFIG });
beforeEach(() => { gate.up.received.length = 0; });

function post(g: Gate, path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${g.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
}

async function login(g: Gate = gate): Promise<Session> {
  const res = await post(g, '/auth/login', { username: DEMO.user, password: DEMO.password });
  expect(res.status).toBe(200);
  return await res.json() as Session;
}

async function masquerade(token: string, accountId: unknown, g: Gate = gate, header = 'authentication'): Promise<Response> {
  return post(g, '/auth/masquerade', { account_id: accountId }, { [header]: `Bearer ${token}` });
}

const identity = (token: string, g: Gate = gate) => bearerIdentity(g, g.up, token);

describe('POST /auth/masquerade', () => {
  it('binds a new session to another of the user\'s accounts, in the login\'s shape, with the user as `act`', async () => {
    const first = await login();
    expect(await identity(first.token)).toMatchObject({ sub: DEMO.user, account: 'demo-account' });
    expect((await identity(first.token) as Record<string, unknown>).act).toBeUndefined();

    const res = await masquerade(first.token, 'demo-account-2');
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const next = await res.json() as Session & Record<string, unknown>;
    expect(Object.keys(next).sort()).toEqual(LOGIN_KEYS);
    expect(next.success).toBe(true);
    expect(next.tokenLifetime).toBe(3600);
    expect(next.token).not.toBe(first.token);
    expect(next.guid).not.toBe(first.guid);
    expect(await identity(next.token)).toMatchObject({ sub: DEMO.user, account: 'demo-account-2', act: { sub: DEMO.user }, kind: 'user' });
  });

  it('one account at a time: the presented token and its refresh token stop working', async () => {
    const first = await login();
    expect(await identity(first.token)).toMatchObject({ account: 'demo-account' }); // now in the validation cache
    const next = await (await masquerade(first.token, 'demo-account-2')).json() as Session;
    expect(await identity(first.token)).toBe(401);
    const refresh = await post(gate, '/auth/refresh', { refreshToken: first.refreshToken });
    expect(refresh.status).toBe(401);
    expect(await refresh.json()).toMatchObject({ success: false });
    // And a masquerade with the revoked token is refused too.
    expect((await masquerade(first.token, 'demo-account')).status).toBe(401);
    expect(await identity(next.token)).toMatchObject({ account: 'demo-account-2' });
  });

  it('the masqueraded session keeps its account and actor through a refresh, and can masquerade back', async () => {
    const next = await (await masquerade((await login()).token, 'demo-account-2')).json() as Session;
    const res = await post(gate, '/auth/refresh', { refreshToken: next.refreshToken });
    expect(res.status).toBe(200);
    const refreshed = await res.json() as Session;
    expect(refreshed.guid).toBe(next.guid);
    expect(await identity(refreshed.token)).toMatchObject({ account: 'demo-account-2', act: { sub: DEMO.user } });
    const back = await masquerade(refreshed.token, 'demo-account', gate, 'authorization');
    expect(back.status).toBe(200);
    expect(await identity((await back.json() as Session).token)).toMatchObject({ account: 'demo-account', act: { sub: DEMO.user } });
  });

  it('form-urlencoded with `Authorization: Bearer` works too', async () => {
    const { token } = await login();
    const res = await fetch(`${gate.url}/auth/masquerade`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Bearer ${token}` },
      body: new URLSearchParams({ account_id: 'demo-account-2' }).toString(),
    });
    expect(res.status).toBe(200);
    expect(await identity((await res.json() as Session).token)).toMatchObject({ account: 'demo-account-2' });
  });

  it('an account the user does not have → 403 {success:false}; the session stays valid', async () => {
    const { token } = await login();
    for (const account of ['someone-elses-account', 42]) {
      const res = await masquerade(token, account);
      expect(res.status).toBe(403);
      expect(await res.json()).toEqual({ success: false, message: 'this user has no access to that account' });
    }
    expect(await identity(token)).toMatchObject({ account: 'demo-account' });
  });

  it('no token, an unknown token, a refresh token, or no account_id → 401/400 in the fleet shape', async () => {
    const { token, refreshToken } = await login();
    const none = await post(gate, '/auth/masquerade', { account_id: 'demo-account-2' });
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer /);
    expect(await none.json()).toEqual({ success: false, message: 'a Bearer token is required' });
    for (const t of ['not-a-token-at-all', refreshToken]) {
      const res = await masquerade(t, 'demo-account-2');
      expect(res.status).toBe(401);
      expect(await res.json()).toEqual({ success: false, message: 'invalid token' });
    }
    const missing = await post(gate, '/auth/masquerade', {}, { authentication: `Bearer ${token}` });
    expect(missing.status).toBe(400);
    expect(await missing.json()).toEqual({ success: false, message: 'account_id required' });
    const two = await post(gate, '/auth/masquerade', { account_id: 'demo-account-2' }, { authentication: `Bearer ${token}`, authorization: `Bearer ${refreshToken}` });
    expect(two.status).toBe(400);
    expect(await identity(token)).toMatchObject({ account: 'demo-account' });
    expect(gate.logs.join('\n')).not.toContain(token);
  });

  it('two masquerades racing on one token: exactly one gets a session', async () => {
    const { token } = await login();
    const answers = await Promise.all([masquerade(token, 'demo-account-2'), masquerade(token, 'demo-account-2')]);
    expect(answers.map((r) => r.status).sort()).toEqual([200, 401]);
  });

  it('the access log names the acting user', async () => {
    const next = await (await masquerade((await login()).token, 'demo-account-2')).json() as Session;
    await identity(next.token);
    const line = gate.logRecords().filter((r) => r.msg === 'request' && r.path === '/vehicles').at(-1);
    expect(line).toMatchObject({ sub: DEMO.user, act: DEMO.user });
  });
});

describe('issue.fleet_login.masqueradeKeepsPrevious: true', () => {
  it('leaves the presented session valid', async () => {
    const g = await startGate({ config: { ...CONFIG, issue: { ...CONFIG.issue, fleet_login: { masqueradeKeepsPrevious: true } } } });
    try {
      const first = await login(g);
      const res = await masquerade(first.token, 'demo-account-2', g);
      expect(res.status).toBe(200);
      expect(await identity(first.token, g)).toMatchObject({ account: 'demo-account' });
      expect(await identity((await res.json() as Session).token, g)).toMatchObject({ account: 'demo-account-2', act: { sub: DEMO.user } });
    } finally {
      await g.close();
    }
  });
});
