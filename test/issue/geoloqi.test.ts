/**
 * geoloqi (seed: geoloqi-authentication.txt) through a real trackgate and a recording upstream:
 * `POST /1/user/create_anon` → `Authorization: OAuth <token>` on the proxy path → the same `key` again (409
 * without the secret, the user's token with it) → `POST /1/user/create` → password grant → client_credentials
 * application token → acting for a `user_id` → revocation through `/oauth/revoke`; durability of created users
 * across a restart on the same SQLite file; the Geoloqi error shape everywhere.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet, type JWTPayload } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { lookupDigest } from '../../src/accounts/digest-token.js';
import { startGate, useGate } from '../helpers/gate.js';
import { basicAuth, DEMO, type TestGate } from '../helpers/trackgate.js';

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
const ADMIN = { instanceid: DEMO.apiInstanceId, authorization: basicAuth(DEMO.adminEmail, DEMO.adminPassword) };
const CONFIG = {
  authn: { 'oauth': { enabled: true }, bearer: { enabled: true }, instance: { enabled: true } },
  throttle: { user: { limit: 5 } },
};

interface AnonUser {
  display_name: string; username: string; user_id: string; is_anonymous: number; key: string | null;
  access_token: string; extra: Record<string, unknown>; email?: string;
}
interface TokenBody { access_token: string; token_type: string; expires_in: number }

const storeDir = mkdtempSync(join(tmpdir(), 'trackgate-geoloqi-'));
const STORE = { store: { url: `sqlite:${join(storeDir, 'store.sqlite')}` } };

afterAll(() => { rmSync(storeDir, { recursive: true, force: true }); });
const gate = useGate({ config: { ...CONFIG, ...STORE } });
beforeEach(() => { gate.up.received.length = 0; });

function form(fields: Record<string, string>): string {
  return new URLSearchParams(fields).toString();
}

async function post(path: string, body: string | Record<string, unknown>, headers: Record<string, string> = {}, g: TestGate = gate): Promise<Response> {
  return typeof body === 'string'
    ? fetch(`${g.url}${path}`, { method: 'POST', headers: { ...FORM, ...headers }, body })
    : fetch(`${g.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
}

async function json<T>(res: Response, status = 200): Promise<T> {
  const text = await res.text();
  expect(res.status, text).toBe(status);
  expect(res.headers.get('cache-control')).toBe('no-store');
  return JSON.parse(text) as T;
}

async function identityOf(g: TestGate, assertion: unknown): Promise<JWTPayload & Record<string, unknown>> {
  const jwks = createLocalJWKSet(await (await fetch(`${g.adminUrl}/.well-known/jwks.json`)).json() as JSONWebKeySet);
  return (await jwtVerify(assertion as string, jwks, { issuer: 'trackgate-test', audience: 'upstream-test' })).payload as JWTPayload & Record<string, unknown>;
}

/** Calls the upstream through trackgate with `Authorization: OAuth <token>`. */
async function call(token: string, path = '/1/location/last', g: TestGate = gate): Promise<Response> {
  return fetch(`${g.url}${path}`, { headers: { authorization: `OAuth ${token}` } });
}

async function expectGeoError(res: Response, status: number, error: string): Promise<Record<string, unknown>> {
  const body = await json<Record<string, unknown>>(res, status);
  expect(Object.keys(body).sort()).toEqual(['error', 'error_code', 'error_description']);
  expect(body.error_code).toBe(status);
  expect(body.error).toBe(error);
  expect(typeof body.error_description).toBe('string');
  return body;
}

async function passwordGrant(username: string, password: string, g: TestGate = gate): Promise<Response> {
  return post('/1/oauth/token', form({ grant_type: 'password', client_id: DEMO.clientId, username, password }), {}, g);
}

describe('the Geoloqi flow end to end', () => {
  const KEY = `key-${Date.now()}`;
  let anon: AnonUser;
  let alice: AnonUser;
  let aliceToken: string;
  let appToken: string;

  it('create_anon (API key only, with key and extra) → the seed\'s shape; the token works with Authorization: OAuth', async () => {
    anon = await json<AnonUser>(await post('/1/user/create_anon', form({ client_id: DEMO.clientId, key: KEY, 'extra[phone]': '555-0100', 'extra[plan]': 'gold' })));
    expect(Object.keys(anon).sort()).toEqual(['access_token', 'display_name', 'extra', 'is_anonymous', 'key', 'user_id', 'username']);
    expect(anon).toMatchObject({ display_name: 'Anonymous', is_anonymous: 1, key: KEY, extra: { phone: '555-0100', plan: 'gold' } });
    expect(anon.username).toMatch(/^_[A-Za-z0-9]{17}$/);
    expect(anon.user_id).toMatch(/^[A-Za-z0-9]{10}$/);
    // Only the digest is stored.
    const rec = await gate.app.store.getToken(lookupDigest(anon.access_token));
    expect(rec).toMatchObject({ type: 'access', issuer: 'geoloqi', subject: anon.user_id, kind: 'anonymous', data: { client_id: DEMO.clientId } });

    const res = await call(anon.access_token);
    expect(res.status).toBe(200);
    const rec0 = gate.up.received[0]!;
    expect(rec0.headers.authorization).toBeUndefined();
    expect(await identityOf(gate, rec0.headers['x-identity-assertion'])).toMatchObject({ sub: anon.user_id, kind: 'anonymous', scheme: 'oauth' });
    // The query-string form works too, and never reaches the upstream.
    const q = await fetch(`${gate.url}/1/location/last?access_token=${encodeURIComponent(anon.access_token)}&x=1`);
    expect(q.status).toBe(200);
    expect(gate.up.received[1]!.url).toBe('/1/location/last?x=1');
    // token_type "bearer": the Bearer form accepts it as well.
    expect((await fetch(`${gate.url}/1/location/last`, { headers: { authorization: `Bearer ${anon.access_token}` } })).status).toBe(200);
  });

  it('the same key without the secret → 409 with the seed\'s exact body', async () => {
    const res = await post('/1/user/create_anon', form({ client_id: DEMO.clientId, key: KEY }));
    expect(res.status).toBe(409);
    expect(await res.json()).toEqual({ error_code: 409, error: 'duplicate_key', error_description: 'A user already exists with this key.' });
    // JSON body, same answer.
    const j = await post('/1/user/create_anon', { client_id: DEMO.clientId, key: KEY });
    expect(await j.json()).toEqual({ error_code: 409, error: 'duplicate_key', error_description: 'A user already exists with this key.' });
  });

  it('the same key with the secret → that user, in the same shape, with a new working token (the first one keeps working)', async () => {
    const again = await json<AnonUser>(await post('/1/user/create_anon', { client_id: DEMO.clientId, client_secret: DEMO.clientSecret, key: KEY }));
    expect(again).toMatchObject({ user_id: anon.user_id, username: anon.username, display_name: 'Anonymous', is_anonymous: 1, key: KEY, extra: anon.extra });
    expect(again.access_token).not.toBe(anon.access_token);
    expect((await call(again.access_token)).status).toBe(200);
    expect((await call(anon.access_token)).status).toBe(200);
    // A wrong secret is not "no secret": 401 invalid_client.
    await expectGeoError(await post('/1/user/create_anon', { client_id: DEMO.clientId, client_secret: 'wrong', key: KEY }), 401, 'invalid_client');
  });

  it('create_anon without a key: a new user each time; extra as a JSON object', async () => {
    const a = await json<AnonUser>(await post('/1/user/create_anon', { client_id: DEMO.clientId, extra: { locale: 'en', n: 3 } }));
    const b = await json<AnonUser>(await post('/1/user/create_anon', form({ client_id: DEMO.clientId })));
    expect(a.user_id).not.toBe(b.user_id);
    expect(a).toMatchObject({ key: null, extra: { locale: 'en', n: 3 } });
    expect(b).toMatchObject({ key: null, extra: {} });
  });

  it('concurrent create_anon with one new key and the secret: one user', async () => {
    const key = `race-${Date.now()}`;
    const all = await Promise.all(Array.from({ length: 5 }, () => post('/1/user/create_anon', { client_id: DEMO.clientId, client_secret: DEMO.clientSecret, key })));
    const users = await Promise.all(all.map((r) => json<AnonUser>(r)));
    expect(new Set(users.map((u) => u.user_id)).size).toBe(1);
  });

  it('user/create: a named user; duplicate usernames (stored or in the accounts file) → 409 duplicate_username', async () => {
    alice = await json<AnonUser>(await post('/1/user/create', form({
      client_id: DEMO.clientId, username: 'alice', password: 'correct horse battery', email: 'alice@example.com', key: `alice-${KEY}`,
    })));
    expect(alice).toMatchObject({ display_name: 'alice', username: 'alice', is_anonymous: 0, key: `alice-${KEY}`, email: 'alice@example.com', extra: {} });
    expect(await gate.app.store.getToken(lookupDigest(alice.access_token))).toMatchObject({ subject: alice.user_id, kind: 'user' });
    const stored = await gate.app.store.getUserByUsername('alice');
    expect(stored?.password).toMatch(/^\$scrypt\$/);
    expect(JSON.stringify(stored)).not.toContain('correct horse');

    const dup = await post('/1/user/create', form({ client_id: DEMO.clientId, username: 'alice', password: 'another password' }));
    expect(dup.status).toBe(409);
    expect(await dup.json()).toEqual({ error_code: 409, error: 'duplicate_username', error_description: 'A user already exists with this username.' });
    await expectGeoError(await post('/1/user/create', { client_id: DEMO.clientId, username: DEMO.user, password: 'long enough password' }), 409, 'duplicate_username');
  });

  it('user/create de-duplicates by key like create_anon: that user with the secret, 409 duplicate_key without', async () => {
    const key = `named-${KEY}`;
    const first = await json<AnonUser>(await post('/1/user/create', { client_id: DEMO.clientId, username: 'dora', password: 'long enough password', key, extra: { team: 'blue' } }));
    expect(first).toMatchObject({ username: 'dora', key, extra: { team: 'blue' } });
    // Without the secret: the seed's duplicate_key, and no second account (not even under another username).
    await expectGeoError(await post('/1/user/create', { client_id: DEMO.clientId, username: 'dora2', password: 'long enough password', key }), 409, 'duplicate_key');
    expect(await gate.app.store.getUserByUsername('dora2')).toBeUndefined();
    // With it: the same user, its stored extra, and a new working token.
    const again = await json<AnonUser>(await post('/1/user/create', { client_id: DEMO.clientId, client_secret: DEMO.clientSecret, username: 'dora', password: 'long enough password', key }));
    expect(again).toMatchObject({ user_id: first.user_id, username: 'dora', is_anonymous: 0, key, extra: { team: 'blue' } });
    expect(again.access_token).not.toBe(first.access_token);
    expect((await call(again.access_token)).status).toBe(200);
    // De-duplication is by key alone: the anonymous user's key answers that user, not a new named one.
    const byKey = await json<AnonUser>(await post('/1/user/create', { client_id: DEMO.clientId, client_secret: DEMO.clientSecret, username: 'bob', password: 'long enough password', key: KEY }));
    expect(byKey.user_id).toBe(anon.user_id);
    expect(await gate.app.store.getUserByUsername('bob')).toBeUndefined();
  });

  it('user/create validation → 400 invalid_request', async () => {
    await expectGeoError(await post('/1/user/create', { client_id: DEMO.clientId, username: 'carol', password: 'short' }), 400, 'invalid_request');
    await expectGeoError(await post('/1/user/create', { client_id: DEMO.clientId, password: 'long enough password' }), 400, 'invalid_request');
    await expectGeoError(await post('/1/user/create', { client_id: DEMO.clientId, username: '_sneaky', password: 'long enough password' }), 400, 'invalid_request');
    await expectGeoError(await post('/1/user/create', { client_id: DEMO.clientId, username: 'a:b', password: 'long enough password' }), 400, 'invalid_request');
    await expectGeoError(await post('/1/user/create', { client_id: DEMO.clientId, username: 'dave', password: 'long enough password', extra: [1] }), 400, 'invalid_request');
    await expectGeoError(await post('/1/user/create', { client_id: DEMO.clientId, username: 'dave', password: 'long enough password', extra: { big: 'x'.repeat(9000) } }), 400, 'invalid_request');
    await expectGeoError(await post('/1/user/create', { username: 'dave', password: 'long enough password' }), 400, 'invalid_request');
    await expectGeoError(await post('/1/user/create', { client_id: 'no-such-app', username: 'dave', password: 'long enough password' }), 401, 'invalid_client');
    expect(await gate.app.store.getUserByUsername('dave')).toBeUndefined();
  });

  it('password grant: a created user and an accounts-file user get user tokens; a wrong password → 400 invalid_grant', async () => {
    const body = await json<TokenBody>(await passwordGrant('alice', 'correct horse battery'));
    expect(Object.keys(body).sort()).toEqual(['access_token', 'expires_in', 'token_type']);
    expect(body.token_type).toBe('bearer');
    expect(body.expires_in).toBe(365 * 86400);
    aliceToken = body.access_token;
    expect((await call(aliceToken)).status).toBe(200);
    expect(await identityOf(gate, gate.up.received[0]!.headers['x-identity-assertion'])).toMatchObject({ sub: alice.user_id, kind: 'user', scheme: 'oauth' });

    const file = await json<TokenBody>(await passwordGrant(DEMO.user, DEMO.password));
    expect(await gate.app.store.getToken(lookupDigest(file.access_token))).toMatchObject({ subject: DEMO.user, kind: 'user', account: 'demo-account' });

    await expectGeoError(await passwordGrant('alice', 'wrong password'), 400, 'invalid_grant');
    await expectGeoError(await passwordGrant('nobody', 'wrong password'), 400, 'invalid_grant');
    // An anonymous user has no password.
    await expectGeoError(await passwordGrant(anon.username, ''), 400, 'invalid_grant');
    await expectGeoError(await post('/1/oauth/token', form({ grant_type: 'password', client_id: DEMO.clientId, username: 'alice' })), 400, 'invalid_request');
    // With a client secret, it must be right.
    await expectGeoError(await post('/1/oauth/token', form({ grant_type: 'password', client_id: DEMO.clientId, client_secret: 'nope', username: 'alice', password: 'correct horse battery' })), 401, 'invalid_client');
  });

  it('client_credentials: an application token (kind app); the secret is required', async () => {
    const body = await json<TokenBody>(await post('/1/oauth/token', form({ grant_type: 'client_credentials', client_id: DEMO.clientId, client_secret: DEMO.clientSecret })));
    expect(body).toMatchObject({ token_type: 'bearer', expires_in: 30 * 86400 });
    appToken = body.access_token;
    expect(await gate.app.store.getToken(lookupDigest(appToken))).toMatchObject({ subject: DEMO.clientId, kind: 'app', issuer: 'geoloqi' });
    // HTTP Basic client authentication (RFC 6749 §2.3.1) works the same.
    const viaBasic = await json<TokenBody>(await post('/1/oauth/token', form({ grant_type: 'client_credentials' }), { authorization: basicAuth(DEMO.clientId, DEMO.clientSecret) }));
    expect(typeof viaBasic.access_token).toBe('string');

    await expectGeoError(await post('/1/oauth/token', form({ grant_type: 'client_credentials', client_id: DEMO.clientId })), 401, 'invalid_client');
    const wrong = await post('/1/oauth/token', form({ grant_type: 'client_credentials' }), { authorization: basicAuth(DEMO.clientId, 'wrong') });
    expect(wrong.headers.get('www-authenticate')).toBe('Basic realm="geoloqi"');
    await expectGeoError(wrong, 401, 'invalid_client');
    await expectGeoError(await post('/1/oauth/token', form({ grant_type: 'authorization_code', client_id: DEMO.clientId })), 400, 'unsupported_grant_type');
    await expectGeoError(await post('/1/oauth/token', form({ client_id: DEMO.clientId })), 400, 'invalid_request');
  });

  it('an application token acts for any user_id; a user token only for itself (403 otherwise)', async () => {
    const asApp = await call(appToken, `/1/layer/subscribe/L1?user_id=${alice.user_id}`);
    expect(asApp.status).toBe(200);
    const rec = gate.up.received[0]!;
    expect(rec.url).toBe(`/1/layer/subscribe/L1?user_id=${alice.user_id}`);
    expect(await identityOf(gate, rec.headers['x-identity-assertion'])).toMatchObject({ sub: DEMO.clientId, kind: 'app' });

    expect((await call(aliceToken, `/1/layer/subscribe/L1?user_id=${alice.user_id}`)).status).toBe(200);
    const other = await call(aliceToken, `/1/layer/subscribe/L1?user_id=${anon.user_id}`);
    expect(other.status).toBe(403);
    expect((await other.json() as { error: string }).error).toBe('TG_ERR_FORBIDDEN');
    expect(gate.up.received).toHaveLength(2);
  });

  it('revoked through /oauth/revoke → refused at once (the cached verdict is dropped)', async () => {
    expect((await call(aliceToken)).status).toBe(200);
    const res = await post('/oauth/revoke', form({ token: aliceToken, token_type_hint: 'access_token' }), ADMIN);
    expect(res.status).toBe(200);
    const refused = await call(aliceToken);
    expect(refused.status).toBe(401);
    expect(refused.headers.get('www-authenticate')).toContain('OAuth realm=');
    // Alice can log in again.
    expect((await passwordGrant('alice', 'correct horse battery')).status).toBe(200);
  });

  it('other methods → 405 in the Geoloqi shape', async () => {
    const res = await fetch(`${gate.url}/1/oauth/token`);
    expect(res.headers.get('allow')).toBe('POST');
    await expectGeoError(res, 405, 'method_not_allowed');
  });
});

describe('password grant timing', () => {
  it('the failure floor of an unknown name is measured from before the store lookup', async () => {
    // Observed, not replaced: both spies call through. The start passed to the verifier must precede the lookup.
    let lookedUpAt: number | undefined;
    const passwords = gate.app.passwords;
    const store = gate.app.store;
    const lookup = store.getUserByUsername.bind(store);
    const getUser = vi.spyOn(store, 'getUserByUsername').mockImplementation(async (name) => {
      lookedUpAt = passwords.start();
      return lookup(name);
    });
    const verify = vi.spyOn(passwords, 'verify');
    try {
      await expectGeoError(await passwordGrant(`nobody-${Date.now()}`, 'wrong password'), 400, 'invalid_grant');
      expect(lookedUpAt).toBeDefined();
      const started = verify.mock.calls.at(-1)?.[1];
      expect(started).toBeDefined();
      expect(started!).toBeLessThanOrEqual(lookedUpAt!);
    } finally {
      getUser.mockRestore();
      verify.mockRestore();
    }
  });
});

describe('durability: created users survive a restart on the same SQLite file', () => {
  it('a user created before the restart logs in after it; its key still de-duplicates', async () => {
    const key = `durable-${Date.now()}`;
    const named = await json<AnonUser>(await post('/1/user/create', { client_id: DEMO.clientId, username: 'erin', password: 'erin password 1', key }));
    const before = await passwordGrant('erin', 'erin password 1');
    expect(before.status).toBe(200);
    await gate.restart(); // the store lives in storeDir, not in the gate's own temp folder

    const after = await json<TokenBody>(await passwordGrant('erin', 'erin password 1'));
    expect((await call(after.access_token)).status).toBe(200);
    expect(await identityOf(gate, gate.up.received.at(-1)!.headers['x-identity-assertion'])).toMatchObject({ sub: named.user_id });
    // The token issued before the restart is still valid too (tokens are in the store as well).
    expect((await call((await before.json() as TokenBody).access_token)).status).toBe(200);
    await expectGeoError(await post('/1/user/create', { client_id: DEMO.clientId, username: 'erin', password: 'erin password 2' }), 409, 'duplicate_username');
    const again = await json<AnonUser>(await post('/1/user/create_anon', { client_id: DEMO.clientId, client_secret: DEMO.clientSecret, key }));
    expect(again).toMatchObject({ user_id: named.user_id, username: 'erin', is_anonymous: 0 });
  });
});

describe('prefix and enablement', () => {
  it('a configured prefix moves the endpoints; disabled → the paths go to the upstream', async () => {
    const moved = await startGate({ up: gate.up, config: { ...CONFIG, issue: { geoloqi: { prefix: '/api/1' } } } });
    try {
      expect((await post('/api/1/user/create_anon', { client_id: DEMO.clientId }, {}, moved)).status).toBe(200);
      // /1/user/create_anon is now an ordinary proxied path: it needs credentials.
      expect((await post('/1/user/create_anon', { client_id: DEMO.clientId }, {}, moved)).status).toBe(401);
    } finally {
      await moved.close();
    }
  });
});
