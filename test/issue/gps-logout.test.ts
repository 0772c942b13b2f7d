/**
 * The "Try it out" page's server side in trackgate: `POST /rest/v2/logout` revokes the session token it is
 * sent with, and an `exact` route rule makes the root page public without making every path below it public.
 */
import { describe, expect, it } from 'vitest';
import { lookupDigest } from '../../src/accounts/digest-token.js';
import { useGate } from '../helpers/gate.js';
import { DEMO } from '../helpers/trackgate.js';

const gate = useGate({
  config: {
    authn: { session_token: { enabled: true } },
    routes: [{ path: '/', exact: true, methods: ['GET'], access: 'public' }],
  },
});

/** Logs the demo user in as the seed shows and returns the token of the 303's `token` cookie. */
async function login(): Promise<string> {
  const res = await fetch(`${gate.url}/rest/v2/token`, {
    method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: DEMO.user, password: DEMO.password }),
  });
  expect(res.status).toBe(303);
  const token = /^token=([^;]+)/.exec(res.headers.get('set-cookie') ?? '')?.[1];
  expect(token).toBeDefined();
  return token!;
}

describe('POST /rest/v2/logout', () => {
  it('revokes the cookie\'s token and deletes the cookie: the token is refused afterwards', async () => {
    const token = await login();
    expect((await fetch(`${gate.url}/rest/v2/devices`, { headers: { cookie: `token=${token}` } })).status).toBe(200);

    const res = await fetch(`${gate.url}/rest/v2/logout`, { method: 'POST', headers: { cookie: `token=${token}` } });
    expect(res.status).toBe(204);
    expect(res.headers.get('set-cookie')).toMatch(/^token=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=\/; HttpOnly/);
    expect((await gate.app.store.getToken(lookupDigest(token)))?.revokedAt).toBeTypeOf('number');

    for (const headers of [{ cookie: `token=${token}` }, { 'x-token': token }] as Record<string, string>[]) {
      expect((await fetch(`${gate.url}/rest/v2/devices`, { headers })).status).toBe(401);
    }
    // The revoked token cannot log out again either: the dialect's 400 for bad credentials.
    const again = await fetch(`${gate.url}/rest/v2/logout`, { method: 'POST', headers: { 'x-token': token } });
    expect(again.status).toBe(400);
    expect(await again.json()).toMatchObject({ error: 'TG_ERR_INVALID_CREDENTIALS' });
  });

  it('without a session token: 401 with the X-Token challenge, and a Basic login revokes nothing', async () => {
    const bare = await fetch(`${gate.url}/rest/v2/logout`, { method: 'POST' });
    expect(bare.status).toBe(401);
    expect(bare.headers.get('www-authenticate')).toBe('X-Token');
    const basic = `Basic ${Buffer.from(`${DEMO.user}:${DEMO.password}`).toString('base64')}`;
    expect((await fetch(`${gate.url}/rest/v2/logout`, { method: 'POST', headers: { authorization: basic } })).status).toBe(401);
  });
});

describe('route rule `exact`', () => {
  it('makes `/` public and nothing below it', async () => {
    gate.up.received.length = 0;
    const root = await fetch(`${gate.url}/`);
    expect(root.status).toBe(200);
    expect(gate.up.received.at(-1)?.headers['x-identity-assertion']).toBeUndefined();
    expect((await fetch(`${gate.url}/rest/v2/devices`)).status).toBe(401);
    expect((await fetch(`${gate.url}/index.html`)).status).toBe(401);
    // The rule lists GET: a POST to the root still needs an identity.
    expect((await fetch(`${gate.url}/`, { method: 'POST' })).status).toBe(401);
  });
});
