/**
 * Refresh-token rotation across the dialects' refresh endpoints (refresh.ts through /auth/refresh and
 * /v1/Auth/RefreshToken): concurrent refreshes with one token get the same new pair, a retry within
 * `issue.refreshGraceSeconds` gets the same pair, a reuse after it revokes the whole family (the newest access
 * token included, through the proxy), a revoked refresh token is refused.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { lookupDigest } from '../../src/accounts/digest-token.js';
import type { TokenRecord } from '../../src/store/types.js';
import { testClock } from '../helpers/clock.js';
import { useGate } from '../helpers/gate.js';
import { DEMO } from '../helpers/trackgate.js';
import { waitFor } from '../helpers/wait.js';

const GRACE_SECONDS = 1;
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

interface Pair { access_token: string; refresh_token: string; token_type: string; expires_in: number }

const clock = testClock();
const gate = useGate({ now: clock.now, config: { authn: { bearer: { enabled: true } }, issue: { refreshGraceSeconds: GRACE_SECONDS } } });
beforeEach(() => { gate.up.received.length = 0; });
afterEach(() => clock.unpin());

async function login(): Promise<Pair> {
  const res = await fetch(`${gate.url}/auth/password`, { method: 'POST', headers: FORM, body: `username=${DEMO.user}&password=${DEMO.password}` });
  expect(res.status).toBe(200);
  return await res.json() as Pair;
}

async function refresh(token: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${gate.url}/auth/refresh`, { method: 'POST', headers: FORM, body: `refresh_token=${token}` });
  return { status: res.status, body: await res.json() as Record<string, unknown> };
}

async function api(token: string): Promise<number> {
  return (await fetch(`${gate.url}/positions`, { headers: { authorization: `Bearer ${token}` } })).status;
}

/** Every record of the family `token` belongs to. */
async function family(token: string): Promise<TokenRecord[]> {
  const rec = await gate.app.store.getToken(lookupDigest(token));
  const all = await gate.app.store.listTokens({ subject: rec!.subject, limit: 10_000 });
  return all.filter((r) => r.family === rec!.family);
}

describe('concurrent refreshes with the same token', () => {
  it('two at once → both 200 with the very same new pair; one live refresh token in the family', async () => {
    const first = await login();
    const [a, b] = await Promise.all([refresh(first.refresh_token), refresh(first.refresh_token)]);
    expect(a.status).toBe(200);
    expect(b.status).toBe(200);
    expect(b.body).toEqual(a.body);
    const next = a.body as unknown as Pair;
    expect(next.refresh_token).not.toBe(first.refresh_token);
    expect(await api(next.access_token)).toBe(200);
    const live = (await family(first.refresh_token)).filter((r) => r.revokedAt === undefined);
    expect(live.filter((r) => r.type === 'refresh').map((r) => r.digest)).toEqual([lookupDigest(next.refresh_token)]);
    // The chain goes on from the shared pair.
    expect((await refresh(next.refresh_token)).status).toBe(200);
  });

  it('a real interleaving (a slow store, as over the network): the loser withdraws its pair and answers the winner\'s', async () => {
    const first = await login();
    const store = gate.app.store;
    const rotateToken = store.rotateToken.bind(store);
    // The atomic spend waits until both refreshes have read the live token and made a pair, then both try it.
    let arrived = 0;
    store.rotateToken = async (...args) => {
      arrived++;
      await waitFor(() => arrived === 2, 5000, 5);
      return rotateToken(...args);
    };
    let a, b;
    try {
      [a, b] = await Promise.all([refresh(first.refresh_token), refresh(first.refresh_token)]);
    } finally {
      delete (store as { rotateToken?: unknown }).rotateToken;
    }
    expect(arrived).toBe(2);
    expect(a.status).toBe(200);
    expect(b.status).toBe(200);
    expect(b.body).toEqual(a.body);
    // Both created a pair; the loser's is revoked: original access + winner's pair live, nothing else.
    const records = await family(first.refresh_token);
    expect(records).toHaveLength(6);
    const live = records.filter((r) => r.revokedAt === undefined);
    expect(live.map((r) => r.digest).sort()).toEqual([
      lookupDigest(first.access_token), lookupDigest((a.body as unknown as Pair).access_token), lookupDigest((a.body as unknown as Pair).refresh_token),
    ].sort());
    expect(await api((a.body as unknown as Pair).access_token)).toBe(200);
  });

  it('eight at once → one pair for all', async () => {
    const first = await login();
    const results = await Promise.all(Array.from({ length: 8 }, () => refresh(first.refresh_token)));
    for (const r of results) {
      expect(r.status).toBe(200);
      expect(r.body).toEqual(results[0]!.body);
    }
    const live = (await family(first.refresh_token)).filter((r) => r.revokedAt === undefined && r.type === 'refresh');
    expect(live).toHaveLength(1);
  });

  it('fleet_login families too: the same guid and token for both callers', async () => {
    const res = await fetch(`${gate.url}/auth/login`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: DEMO.user, password: DEMO.password }),
    });
    const login = await res.json() as { guid: string; refreshToken: string };
    const go = () => fetch(`${gate.url}/auth/refresh`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ refreshToken: login.refreshToken }),
    }).then(async (r) => ({ status: r.status, body: await r.json() as { guid: string; token: string; refreshToken: string } }));
    const [a, b] = await Promise.all([go(), go()]);
    expect(a.status).toBe(200);
    expect(b.status).toBe(200);
    expect(b.body).toEqual(a.body);
    expect(a.body.guid).toBe(login.guid);
  });
});

describe('the retry grace window', () => {
  it('a retry within the window (a lost response) → the same pair, and it is usable', async () => {
    clock.pin();
    const first = await login();
    const a = await refresh(first.refresh_token);
    clock.advance(GRACE_SECONDS * 1000); // the window's last millisecond
    const b = await refresh(first.refresh_token);
    expect(a.status).toBe(200);
    expect(b.status).toBe(200);
    // The same tokens; their remaining lifetime is told as of the retry.
    expect(b.body).toEqual({ ...a.body, expires_in: (a.body as unknown as Pair).expires_in - GRACE_SECONDS });
    expect(await api((b.body as unknown as Pair).access_token)).toBe(200);
  });

  it('telematics: a retried RefreshToken within the window → the same pair', async () => {
    const login = await fetch(`${gate.url}/v1/Auth/Login`, {
      method: 'POST', headers: { 'content-type': 'application/json', instanceid: DEMO.instanceId, instancekey: DEMO.instanceKey },
      body: JSON.stringify({ LoginFields: { deviceToken: DEMO.deviceToken }, Password: DEMO.instanceKey }),
    });
    const r = (await login.json() as { Result: { AccessToken: { Token: string }; RefreshToken: string } }).Result;
    const go = () => fetch(`${gate.url}/v1/Auth/RefreshToken`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ AccessToken: r.AccessToken.Token, RefreshToken: r.RefreshToken }),
    }).then(async (x) => ({ status: x.status, body: await x.json() as unknown }));
    const a = await go();
    const b = await go();
    expect(a.status).toBe(200);
    expect(b).toEqual(a);
  });
});

describe('reuse after the grace window', () => {
  it('→ 401 invalid_grant and the whole family is dead: the newest access token through the proxy, the newest refresh token', async () => {
    clock.pin();
    const first = await login();
    const second = (await refresh(first.refresh_token)).body as unknown as Pair;
    const third = (await refresh(second.refresh_token)).body as unknown as Pair;
    // Used (and cached by the validation cache) before the reuse.
    expect(await api(third.access_token)).toBe(200);
    expect(await api(first.access_token)).toBe(200);

    clock.advance(GRACE_SECONDS * 1000 + 1);
    const reuse = await refresh(second.refresh_token);
    expect(reuse.status).toBe(401);
    expect(reuse.body).toEqual({ error: 'invalid_grant', error_description: 'invalid refresh token' });

    expect(await api(third.access_token)).toBe(401);
    expect(await api(second.access_token)).toBe(401);
    expect(await api(first.access_token)).toBe(401);
    expect((await refresh(third.refresh_token)).status).toBe(401);
    const records = await family(first.refresh_token);
    expect(records.length).toBeGreaterThanOrEqual(6);
    expect(records.every((r) => r.revokedAt !== undefined)).toBe(true);
    expect(gate.logRecords().some((l) => String(l.detail ?? '').includes('reuse detected'))).toBe(true);
  });

  it('the first token of a chain reused after the window → family revoked as well', async () => {
    clock.pin();
    const first = await login();
    const second = (await refresh(first.refresh_token)).body as unknown as Pair;
    clock.advance(GRACE_SECONDS * 1000 + 1);
    expect((await refresh(first.refresh_token)).status).toBe(401);
    expect(await api(second.access_token)).toBe(401);
  });
});

describe('revoked refresh tokens', () => {
  it('a revoked refresh token → 401 invalid_grant', async () => {
    const first = await login();
    await gate.app.store.revokeTokens([lookupDigest(first.refresh_token)], Date.now());
    const res = await refresh(first.refresh_token);
    expect(res.status).toBe(401);
    expect(res.body).toEqual({ error: 'invalid_grant', error_description: 'invalid refresh token' });
  });

  it('a revoked family → its refresh token is refused even within the grace window of its last rotation', async () => {
    const first = await login();
    const second = (await refresh(first.refresh_token)).body as unknown as Pair;
    const rec = await gate.app.store.getToken(lookupDigest(second.refresh_token));
    await gate.app.store.revokeFamily(rec!.family!, Date.now());
    expect((await refresh(first.refresh_token)).status).toBe(401);
    expect((await refresh(second.refresh_token)).status).toBe(401);
    expect(await api(second.access_token)).toBe(401);
  });
});
