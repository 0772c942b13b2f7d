/**
 * Geoloqi access tokens (`Authorization: OAuth <token>`, `access_token` query) through a real trackgate and a
 * recording upstream, including the seed's rule that user tokens act only for themselves.
 */
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet, type JWTPayload } from 'jose';
import { beforeEach, describe, expect, it } from 'vitest';
import { lookupDigest } from '../../src/accounts/digest-token.js';
import type { TokenRecord } from '../../src/store/types.js';
import { useGate } from '../helpers/gate.js';
import { issueGeoloqiToken } from '../helpers/geoloqi-token.js';
import { basicAuth, DEMO, type TestGate } from '../helpers/trackgate.js';

const gate = useGate({ config: { authn: { 'oauth': { enabled: true, realm: 'Geoloqi API' }, 'session_token': { enabled: true } } } });
beforeEach(() => { gate.up.received.length = 0; });

/** A Geoloqi-looking token, stored as an access token of user `PAE` unless overridden. */
const issue = (over: Partial<TokenRecord> = {}, g: TestGate = gate): Promise<string> => issueGeoloqiToken(g, over);

const oauth = (token: string) => ({ authorization: `OAuth ${token}` });

async function claims(g: TestGate, assertion: unknown): Promise<JWTPayload> {
  const jwks = createLocalJWKSet(await (await fetch(`${g.adminUrl}/.well-known/jwks.json`)).json() as JSONWebKeySet);
  return (await jwtVerify(assertion as string, jwks, { issuer: 'trackgate-test', audience: 'upstream-test' })).payload;
}

describe('oauth: accepted', () => {
  it('Authorization: OAuth <token> → forwarded with the identity, header stripped', async () => {
    const token = await issue();
    const res = await fetch(`${gate.url}/layer/list?x=1`, { headers: oauth(token) });
    expect(res.status).toBe(200);
    const rec = gate.up.received[0]!;
    expect(rec.url).toBe('/layer/list?x=1');
    expect(rec.headers.authorization).toBeUndefined();
    expect(JSON.stringify(rec)).not.toContain(token);
    expect(await claims(gate, rec.headers['x-identity-assertion'])).toMatchObject({
      sub: 'PAE', scheme: 'oauth', kind: 'user', account: 'demo-account',
    });
  });

  it('the scheme name is case-insensitive', async () => {
    const token = await issue();
    expect((await fetch(`${gate.url}/a`, { headers: { authorization: `oauth ${token}` } })).status).toBe(200);
  });

  it('access_token in the query string → forwarded, parameter stripped', async () => {
    const token = await issue();
    const res = await fetch(`${gate.url}/location/last?access_token=${token}&count=2`);
    expect(res.status).toBe(200);
    expect(gate.up.received[0]!.url).toBe('/location/last?count=2');
  });

  it('the same token in the header and the query is one credential', async () => {
    const token = await issue();
    const res = await fetch(`${gate.url}/a?access_token=${token}`, { headers: oauth(token) });
    expect(res.status).toBe(200);
    expect(gate.up.received[0]!.url).toBe('/a');
  });

  it('a user token may name itself as user_id', async () => {
    const token = await issue();
    const res = await fetch(`${gate.url}/layer/subscribe?user_id=PAE`, { headers: oauth(token) });
    expect(res.status).toBe(200);
    expect(gate.up.received[0]!.url).toBe('/layer/subscribe?user_id=PAE');
  });

  it('an application token may act for any user_id: identity stays the app, user_id reaches the upstream', async () => {
    const token = await issue({ subject: DEMO.clientId, kind: 'app', account: undefined });
    const res = await fetch(`${gate.url}/layer/subscribe/YYY?user_id=NNN`, { headers: oauth(token) });
    expect(res.status).toBe(200);
    const rec = gate.up.received[0]!;
    expect(rec.url).toBe('/layer/subscribe/YYY?user_id=NNN');
    const payload = await claims(gate, rec.headers['x-identity-assertion']);
    expect(payload).toMatchObject({ sub: DEMO.clientId, kind: 'app', scheme: 'oauth' });
    expect(payload.user_id).toBeUndefined();
  });
});

describe('oauth: user_id', () => {
  it('a user token naming another user_id → 403, also after a cached success without user_id', async () => {
    const token = await issue();
    expect((await fetch(`${gate.url}/a`, { headers: oauth(token) })).status).toBe(200);
    expect((await fetch(`${gate.url}/a`, { headers: oauth(token) })).status).toBe(200);
    for (let i = 0; i < 2; i++) {
      const res = await fetch(`${gate.url}/layer/subscribe?user_id=NNN`, { headers: oauth(token) });
      expect(res.status).toBe(403);
      expect(await res.json()).toMatchObject({ error: 'TG_ERR_FORBIDDEN' });
    }
    expect(gate.up.received).toHaveLength(2);
  });

  it('an anonymous-user token is a user token too', async () => {
    const token = await issue({ subject: '_VcHVV1jAMgAqspHFz', kind: 'anonymous' });
    expect((await fetch(`${gate.url}/a?user_id=PAE`, { headers: oauth(token) })).status).toBe(403);
  });

  it('two different user_id values → 400', async () => {
    const token = await issue({ subject: DEMO.clientId, kind: 'app' });
    const res = await fetch(`${gate.url}/a?user_id=PAE&user_id=NNN`, { headers: oauth(token) });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'TG_ERR_BAD_REQUEST' });
  });
});

describe('oauth: rejected', () => {
  it('unknown → 401 with the OAuth challenge', async () => {
    const res = await fetch(`${gate.url}/a`, { headers: oauth('56f-0000000000000000000000000000000000000000') });
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ error: 'TG_ERR_INVALID_CREDENTIALS' });
    expect(res.headers.get('www-authenticate')).toContain('OAuth realm="Geoloqi API"');
  });

  it('no credentials → 401 listing OAuth, X-Token and Basic', async () => {
    const res = await fetch(`${gate.url}/a`);
    expect(res.status).toBe(401);
    const challenges = res.headers.get('www-authenticate')!;
    expect(challenges).toContain('OAuth realm="Geoloqi API"');
    expect(challenges).toContain('X-Token');
    expect(challenges).toContain('Basic realm=');
  });

  it('expired → 401 TG_ERR_EXPIRED_CREDENTIALS', async () => {
    const token = await issue({ expiresAt: Date.now() - 1 });
    const res = await fetch(`${gate.url}/a?access_token=${token}`);
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ error: 'TG_ERR_EXPIRED_CREDENTIALS' });
  });

  it('revoked → 401; a revocation after a cached success evicts it', async () => {
    const token = await issue();
    expect((await fetch(`${gate.url}/a`, { headers: oauth(token) })).status).toBe(200);
    expect((await fetch(`${gate.url}/a`, { headers: oauth(token) })).status).toBe(200);
    await gate.app.store.revokeTokens([lookupDigest(token)], Date.now());
    const res = await fetch(`${gate.url}/a`, { headers: oauth(token) });
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ error: 'TG_ERR_INVALID_CREDENTIALS' });
  });

  it('a revocation evicts every cached user_id variant of an app token', async () => {
    const token = await issue({ subject: DEMO.clientId, kind: 'app' });
    expect((await fetch(`${gate.url}/a?user_id=A`, { headers: oauth(token) })).status).toBe(200);
    expect((await fetch(`${gate.url}/a?user_id=B`, { headers: oauth(token) })).status).toBe(200);
    await gate.app.store.revokeTokens([lookupDigest(token)], Date.now());
    expect((await fetch(`${gate.url}/a?user_id=A`, { headers: oauth(token) })).status).toBe(401);
    expect((await fetch(`${gate.url}/a?user_id=B`, { headers: oauth(token) })).status).toBe(401);
  });

  it.each(['refresh', 'session'])('a %s token → 401', async (type) => {
    const token = await issue({ type });
    const res = await fetch(`${gate.url}/a`, { headers: oauth(token) });
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ error: 'TG_ERR_INVALID_CREDENTIALS' });
  });

  it.each([
    ['OAuth 1.0 signature header', '/a', { authorization: 'OAuth oauth_consumer_key="k", oauth_signature="s"' }],
    ['empty access_token', '/a?access_token=', {}],
    ['token over 512 characters', `/a?access_token=${'a'.repeat(513)}`, {}],
    ['control character', '/a?access_token=a%0Ab', {}],
  ])('malformed (%s) → 400', async (_name, path, headers) => {
    const res = await fetch(`${gate.url}${path}`, { headers });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'TG_ERR_MALFORMED_CREDENTIALS' });
  });

  it('never writes the token to a log line', async () => {
    const token = await issue();
    await fetch(`${gate.url}/a?access_token=${token}`);
    await fetch(`${gate.url}/a?access_token=${token}x`);
    expect(gate.logs.join('\n')).not.toContain(token);
  });
});

describe('oauth: ambiguity', () => {
  it('different tokens in the header and the query → 400', async () => {
    const [a, b] = [await issue(), await issue()];
    const res = await fetch(`${gate.url}/a?access_token=${b}`, { headers: oauth(a) });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'TG_ERR_AMBIGUOUS_CREDENTIALS' });
  });

  it('an OAuth token plus a _token session token → 400', async () => {
    const token = await issue();
    const res = await fetch(`${gate.url}/a?_token=${token}`, { headers: oauth(token) });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'TG_ERR_AMBIGUOUS_CREDENTIALS' });
  });

  it('Basic plus access_token → 400', async () => {
    const token = await issue();
    const res = await fetch(`${gate.url}/a?access_token=${token}`, { headers: { authorization: basicAuth(DEMO.user, DEMO.password) } });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'TG_ERR_AMBIGUOUS_CREDENTIALS' });
  });
});

describe('oauth: disabled', () => {
  const off = useGate(() => ({ up: gate.up, config: { authn: { 'oauth': { enabled: false } }, routes: [{ path: '/public', access: 'public' }] } }));

  it('ignores the token (401 no credentials, no OAuth challenge)', async () => {
    const token = await issue({}, off);
    const res = await fetch(`${off.url}/a?access_token=${token}`);
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ error: 'TG_ERR_NO_CREDENTIALS' });
    expect(res.headers.get('www-authenticate')).not.toContain('OAuth');
  });

  it('still strips it on a public route', async () => {
    const token = await issue({}, off);
    const res = await fetch(`${off.url}/public/x?access_token=${token}&y=2`, { headers: oauth(token) });
    expect(res.status).toBe(200);
    const rec = gate.up.received[0]!;
    expect(rec.url).toBe('/public/x?y=2');
    expect(rec.headers.authorization).toBeUndefined();
  });
});
