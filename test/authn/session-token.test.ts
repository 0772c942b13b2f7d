/**
 * GPS REST v2 session tokens (`_token` query, `token` cookie, `X-Token` header) through a real trackgate and a
 * recording upstream. Tokens are put in the store directly, as the `/rest/v2/token` endpoint will.
 */
import { randomBytes } from 'node:crypto';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet, type JWTPayload } from 'jose';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { lookupDigest } from '../../src/accounts/digest-token.js';
import type { TokenRecord } from '../../src/store/types.js';
import { useGate } from '../helpers/gate.js';
import { issueSessionToken } from '../helpers/session-tokens.js';
import { basicAuth, DEMO, type TestGate } from '../helpers/trackgate.js';

const gate = useGate({ config: { authn: { 'session_token': { enabled: true } } } });
beforeEach(() => { gate.up.received.length = 0; });
afterEach(() => { vi.restoreAllMocks(); });

/** Puts a fresh session token for the demo user in the store and returns its clear value. */
function issue(over: Partial<TokenRecord> = {}, g: TestGate = gate): Promise<string> {
  return issueSessionToken(g, over);
}

async function claims(g: TestGate, assertion: unknown): Promise<JWTPayload> {
  const jwks = createLocalJWKSet(await (await fetch(`${g.adminUrl}/.well-known/jwks.json`)).json() as JSONWebKeySet);
  return (await jwtVerify(assertion as string, jwks, { issuer: 'trackgate-test', audience: 'upstream-test' })).payload;
}

function lastAccessLine(g: TestGate = gate): Record<string, unknown> {
  return g.logRecords().filter((l) => l.msg === 'request' || l.msg === 'request rejected').at(-1)!;
}

describe('session-token: accepted', () => {
  it.each([
    ['query _token', (t: string) => ({ path: `/rest/v2/gateway?_token=${t}&x=1`, headers: {} })],
    ['cookie token', (t: string) => ({ path: '/rest/v2/gateway?x=1', headers: { cookie: `theme=dark; token=${t}` } })],
    ['X-Token header', (t: string) => ({ path: '/rest/v2/gateway?x=1', headers: { 'x-token': t } })],
  ])('via %s: forwarded with the identity, the token stripped', async (_name, make) => {
    const token = await issue();
    const { path, headers } = make(token);
    const res = await fetch(`${gate.url}${path}`, { headers });
    expect(res.status).toBe(200);
    const rec = gate.up.received[0]!;
    expect(rec.url).toBe('/rest/v2/gateway?x=1');
    expect(rec.headers['x-token']).toBeUndefined();
    expect(rec.headers.cookie ?? '').not.toContain('token=');
    if ('cookie' in headers) expect(rec.headers.cookie).toBe('theme=dark');
    expect(JSON.stringify(rec.headers)).not.toContain(token);
    const payload = await claims(gate, rec.headers['x-identity-assertion']);
    expect(payload).toMatchObject({ sub: DEMO.user, scheme: 'session_token', kind: 'user', account: 'demo-account' });
  });

  it('carries instance, and the identity header never outlives the token', async () => {
    const expiresAt = Date.now() + 20_000;
    const token = await issue({ subject: 'demo-device', kind: 'device', instance: 'demo-instance', account: undefined, expiresAt });
    expect((await fetch(`${gate.url}/t?_token=${token}`)).status).toBe(200);
    const payload = await claims(gate, gate.up.received[0]!.headers['x-identity-assertion']);
    expect(payload).toMatchObject({ sub: 'demo-device', kind: 'device', instance: 'demo-instance', scheme: 'session_token' });
    expect(payload.account).toBeUndefined();
    expect(payload.exp).toBeLessThanOrEqual(Math.floor(expiresAt / 1000));
  });

  it('the seed\'s own request (same token as ?_token= and Cookie: token=) is one credential', async () => {
    const token = await issue();
    const res = await fetch(`${gate.url}/rest/v2/gateway?_token=${token}`, { headers: { cookie: `token=${token}`, 'x-token': token } });
    expect(res.status).toBe(200);
    expect(gate.up.received[0]!.url).toBe('/rest/v2/gateway');
    expect(gate.up.received[0]!.headers.cookie).toBeUndefined();
  });

  it('is served from the validation cache on the second request', async () => {
    const token = await issue();
    expect((await fetch(`${gate.url}/a`, { headers: { 'x-token': token } })).status).toBe(200);
    expect(lastAccessLine().cache).toBe('miss');
    expect((await fetch(`${gate.url}/a`, { headers: { 'x-token': token } })).status).toBe(200);
    expect(lastAccessLine().cache).toBe('hit');
  });
});

describe('session-token: rejected', () => {
  it('unknown token → 401 invalid, with the X-Token challenge next to Basic', async () => {
    const res = await fetch(`${gate.url}/a?_token=${randomBytes(24).toString('base64url')}`);
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ error: 'TG_ERR_INVALID_CREDENTIALS' });
    const challenges = res.headers.get('www-authenticate')!;
    expect(challenges).toContain('X-Token');
    expect(challenges).toMatch(/Basic realm=/);
    expect(gate.up.received).toHaveLength(0);
  });

  it('no credentials → 401 listing X-Token', async () => {
    const res = await fetch(`${gate.url}/a`);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toContain('X-Token');
  });

  it('expired → 401 TG_ERR_EXPIRED_CREDENTIALS', async () => {
    const token = await issue({ issuedAt: Date.now() - 7_200_000, expiresAt: Date.now() - 1000 });
    const res = await fetch(`${gate.url}/a`, { headers: { cookie: `token=${token}` } });
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ error: 'TG_ERR_EXPIRED_CREDENTIALS' });
    expect(res.headers.get('www-authenticate')).toContain('X-Token');
    expect(lastAccessLine().reason).toBe('expired');
  });

  it('revoked → 401', async () => {
    const token = await issue();
    await gate.app.store.revokeTokens([lookupDigest(token)], Date.now());
    const res = await fetch(`${gate.url}/a?_token=${token}`);
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ error: 'TG_ERR_INVALID_CREDENTIALS' });
  });

  it('a revocation after a cached success evicts it: the next request is 401', async () => {
    const token = await issue();
    expect((await fetch(`${gate.url}/a?_token=${token}`)).status).toBe(200);
    expect((await fetch(`${gate.url}/a?_token=${token}`)).status).toBe(200);
    expect(lastAccessLine().cache).toBe('hit');
    await gate.app.store.revokeTokens([lookupDigest(token)], Date.now());
    const res = await fetch(`${gate.url}/a?_token=${token}`);
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ error: 'TG_ERR_INVALID_CREDENTIALS' });
    expect(gate.up.received).toHaveLength(2);
  });

  it.each(['access', 'refresh'])('a %s token is not a session token → 401', async (type) => {
    const token = await issue({ type });
    const res = await fetch(`${gate.url}/a`, { headers: { 'x-token': token } });
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ error: 'TG_ERR_INVALID_CREDENTIALS' });
  });

  it.each([
    ['empty _token', '/a?_token=', {}],
    ['empty cookie', '/a', { cookie: 'token=' }],
    ['over 512 characters', `/a?_token=${'a'.repeat(513)}`, {}],
    ['control character', '/a?_token=abc%01def', {}],
  ])('malformed (%s) → 400', async (_name, path, headers) => {
    const res = await fetch(`${gate.url}${path}`, { headers });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'TG_ERR_MALFORMED_CREDENTIALS' });
  });

  it('a store failure → 503 TG_ERR_SOURCE_UNAVAILABLE, not cached', async () => {
    const token = await issue();
    vi.spyOn(gate.app.store, 'getToken').mockRejectedValueOnce(new Error('SQLITE_IOERR: disk I/O error'));
    const res = await fetch(`${gate.url}/a?_token=${token}`);
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ error: 'TG_ERR_SOURCE_UNAVAILABLE' });
    expect(lastAccessLine().reason).toBe('unavailable');
    expect((await fetch(`${gate.url}/a?_token=${token}`)).status).toBe(200);
  });

  it('never writes the token to a log line', async () => {
    const good = await issue();
    const bad = randomBytes(24).toString('base64url');
    await fetch(`${gate.url}/a?_token=${good}`);
    await fetch(`${gate.url}/a?_token=${bad}`);
    await fetch(`${gate.url}/a`, { headers: { cookie: `token=${bad}` } });
    const logs = gate.logs.join('\n');
    expect(logs).not.toContain(good);
    expect(logs).not.toContain(bad);
    expect(logs).not.toContain(lookupDigest(good).slice(7));
  });
});

describe('session-token: ambiguity', () => {
  it('two different tokens (query and cookie) → 400', async () => {
    const [a, b] = [await issue(), await issue()];
    const res = await fetch(`${gate.url}/a?_token=${a}`, { headers: { cookie: `token=${b}` } });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'TG_ERR_AMBIGUOUS_CREDENTIALS' });
    expect(gate.up.received).toHaveLength(0);
  });

  it('the same parameter twice with different values → 400', async () => {
    const [a, b] = [await issue(), await issue()];
    const res = await fetch(`${gate.url}/a?_token=${a}&_token=${b}`);
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'TG_ERR_AMBIGUOUS_CREDENTIALS' });
  });

  it('Basic plus _token → 400', async () => {
    const token = await issue();
    const res = await fetch(`${gate.url}/a?_token=${token}`, { headers: { authorization: basicAuth(DEMO.user, DEMO.password) } });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'TG_ERR_AMBIGUOUS_CREDENTIALS' });
  });

  it('a percent-encoded parameter name is the same parameter: read, and stripped', async () => {
    const token = await issue();
    const res = await fetch(`${gate.url}/a?%5Ftoken=${token}&x=1`);
    expect(res.status).toBe(200);
    expect(gate.up.received[0]!.url).toBe('/a?x=1');
  });
});

describe('session-token: disabled', () => {
  const off = useGate(() => ({ up: gate.up, config: { authn: { 'session_token': { enabled: false } }, routes: [{ path: '/public', access: 'public' }] } }));

  it('ignores the token (401 no credentials, no X-Token challenge)', async () => {
    const token = await issue({}, off);
    const res = await fetch(`${off.url}/a?_token=${token}`, { headers: { 'x-token': token } });
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ error: 'TG_ERR_NO_CREDENTIALS' });
    expect(res.headers.get('www-authenticate')).not.toContain('X-Token');
  });

  it('still strips it on a public route', async () => {
    const token = await issue({}, off);
    const res = await fetch(`${off.url}/public/x?_token=${token}&y=2`, { headers: { 'x-token': token, cookie: `a=1; token=${token}` } });
    expect(res.status).toBe(200);
    const rec = gate.up.received[0]!;
    expect(rec.url).toBe('/public/x?y=2');
    expect(rec.headers['x-token']).toBeUndefined();
    expect(rec.headers.cookie).toBe('a=1');
    expect(rec.headers['x-identity-assertion']).toBeUndefined();
  });
});
