/**
 * The operator endpoints through a real trackgate: RFC 7009 `POST /oauth/revoke` and RFC 7662
 * `POST /oauth/introspect`, for accounts-file admins (HTTP Basic e-mail:password + InstanceId, through the
 * proxy's own pipeline); 401/403 for everyone else; refresh-token revocation takes the family.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { lookupDigest } from '../../src/accounts/digest-token.js';
import { startGate, useGate } from '../helpers/gate.js';
import { testClock } from '../helpers/clock.js';
import { basicAuth, DEMO, type TestGate } from '../helpers/trackgate.js';

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
const ADMIN = { instanceid: DEMO.apiInstanceId, authorization: basicAuth(DEMO.adminEmail, DEMO.adminPassword) };
const CONFIG = { authn: { 'oauth': { enabled: true }, bearer: { enabled: true }, instance: { enabled: true } } };

const clock = testClock();
const gate = useGate({ config: CONFIG, now: clock.now });
afterEach(() => clock.unpin());

async function op(path: 'revoke' | 'introspect', fields: Record<string, string>, headers: Record<string, string> = ADMIN, g: TestGate = gate): Promise<Response> {
  return fetch(`${g.url}/oauth/${path}`, { method: 'POST', headers: { ...FORM, ...headers }, body: new URLSearchParams(fields).toString() });
}

/** A Geoloqi-style access token for `subject`, issued straight into the store. */
async function issue(subject = 'op-user', ttlSeconds = 600, g: TestGate = gate): Promise<string> {
  return (await g.app.tokens.issue({ type: 'access', issuer: 'geoloqi', subject, kind: 'user', ttlSeconds, data: { client_id: DEMO.clientId } })).value;
}

const callWith = (token: string) => fetch(`${gate.url}/data`, { headers: { authorization: `OAuth ${token}` } });

describe('POST /oauth/introspect', () => {
  it('an admin learns what a live token is (RFC 7662 fields), and {active: false} for unknown ones', async () => {
    const token = await issue();
    const res = await op('introspect', { token });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const body = await res.json() as Record<string, unknown>;
    const rec = await gate.app.store.getToken(lookupDigest(token));
    expect(body).toEqual({
      active: true, sub: 'op-user', kind: 'user', token_type: 'access_token', issuer: 'geoloqi', client_id: DEMO.clientId,
      exp: Math.floor(rec!.expiresAt / 1000), iat: Math.floor(rec!.issuedAt / 1000),
    });
    expect(await (await op('introspect', { token: 'no-such-token' })).json()).toEqual({ active: false });
    // JSON bodies are accepted too.
    const j = await fetch(`${gate.url}/oauth/introspect`, { method: 'POST', headers: { ...ADMIN, 'content-type': 'application/json' }, body: JSON.stringify({ token }) });
    expect((await j.json() as { active: boolean }).active).toBe(true);
  });

  it('expired and revoked tokens are inactive, with nothing else said', async () => {
    const token = await issue('op-user', 600);
    await gate.app.store.revokeTokens([lookupDigest(token)], Date.now());
    expect(await (await op('introspect', { token })).json()).toEqual({ active: false });
    clock.pin();
    const rec = await gate.app.tokens.issue({ type: 'session', issuer: 'gps_rest_v2', subject: 'x', kind: 'user', ttlSeconds: 1 });
    clock.advance(999);
    expect(await (await op('introspect', { token: rec.value })).json()).toMatchObject({ active: true });
    clock.advance(1);
    expect(await (await op('introspect', { token: rec.value })).json()).toEqual({ active: false });
  });
});

describe('POST /oauth/revoke', () => {
  it('revokes a token the proxy accepted a moment ago (its cached verdict goes at once)', async () => {
    const token = await issue();
    expect((await callWith(token)).status).toBe(200);
    expect((await callWith(token)).status).toBe(200); // now cached
    const res = await op('revoke', { token, token_type_hint: 'access_token' });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('');
    expect((await callWith(token)).status).toBe(401);
    expect((await gate.app.store.getToken(lookupDigest(token)))?.revokedAt).toBeTypeOf('number');
    const line = gate.logRecords().find((l) => l.msg === 'token revoked by operator');
    expect(line).toMatchObject({ operator: DEMO.adminEmail, sub: 'op-user', type: 'access' });
    expect(JSON.stringify(gate.logs)).not.toContain(token);
  });

  it('unknown, already revoked, or absurdly long tokens → 200 all the same (RFC 7009 §2.2)', async () => {
    expect((await op('revoke', { token: 'never-issued' })).status).toBe(200);
    const token = await issue();
    expect((await op('revoke', { token })).status).toBe(200);
    expect((await op('revoke', { token })).status).toBe(200);
    expect((await op('revoke', { token: 'x'.repeat(5000) })).status).toBe(200);
    expect((await op('revoke', { token: 'never-issued', token_type_hint: 'something_else' })).status).toBe(200);
  });

  it('a refresh token takes its family with it (the access token issued alongside)', async () => {
    const login = await fetch(`${gate.url}/auth/password`, { method: 'POST', headers: FORM, body: new URLSearchParams({ username: DEMO.user, password: DEMO.password }).toString() });
    const pair = await login.json() as { access_token: string; refresh_token: string };
    const bearer = () => fetch(`${gate.url}/data`, { headers: { authorization: `Bearer ${pair.access_token}` } });
    expect((await bearer()).status).toBe(200);
    expect((await (await op('introspect', { token: pair.refresh_token })).json() as Record<string, unknown>).token_type).toBe('refresh_token');
    expect((await op('revoke', { token: pair.refresh_token, token_type_hint: 'refresh_token' })).status).toBe(200);
    expect((await bearer()).status).toBe(401);
    const refresh = await fetch(`${gate.url}/auth/refresh`, { method: 'POST', headers: FORM, body: new URLSearchParams({ refresh_token: pair.refresh_token }).toString() });
    expect(refresh.status).toBe(401);
  });

  it('no token parameter → 400 invalid_request; GET → 405', async () => {
    const res = await op('revoke', {});
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ error: 'invalid_request', error_description: 'token required' });
    const get = await fetch(`${gate.url}/oauth/revoke`, { headers: ADMIN });
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
  });
});

describe('who may call them', () => {
  it('no credentials → 401 invalid_client with a challenge; nothing is revoked', async () => {
    const token = await issue();
    const res = await op('revoke', { token }, {});
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Basic realm="trackgate operator"');
    expect(await res.json()).toEqual({ error: 'invalid_client', error_description: 'operator credentials required' });
    expect((await callWith(token)).status).toBe(200);
  });

  it('a wrong admin password or an unknown InstanceId → 401 invalid_client', async () => {
    const token = await issue();
    for (const headers of <Record<string, string>[]>[
      { instanceid: DEMO.apiInstanceId, authorization: basicAuth(DEMO.adminEmail, 'wrong') },
      { instanceid: 'no-such-instance', authorization: basicAuth(DEMO.adminEmail, DEMO.adminPassword) },
      // Without InstanceId, Basic is an ordinary user login: not the admin.
      { authorization: basicAuth(DEMO.adminEmail, DEMO.adminPassword) },
    ]) {
      const res = await op('revoke', { token }, headers);
      expect(res.status).toBe(401);
      expect((await res.json() as { error: string }).error).toBe('invalid_client');
      expect(res.headers.get('www-authenticate')).not.toBeNull();
    }
    expect((await callWith(token)).status).toBe(200);
  });

  it('valid credentials that are not an admin → 403 access_denied (a user, a device, a user\'s own token)', async () => {
    const token = await issue();
    for (const headers of <Record<string, string>[]>[
      { authorization: basicAuth(DEMO.user, DEMO.password) },
      { instanceid: DEMO.instanceId, instancekey: DEMO.instanceKey, devicetoken: DEMO.deviceToken },
      { authorization: `OAuth ${token}` },
    ]) {
      const res = await op('introspect', { token }, headers);
      expect(res.status).toBe(403);
      expect(await res.json()).toEqual({ error: 'access_denied', error_description: 'admin credentials required' });
      expect((await op('revoke', { token }, headers)).status).toBe(403);
    }
    expect((await callWith(token)).status).toBe(200);
  });

  it('issue.operator.instances limits which API instances\' admins qualify; disabled → the paths are proxied', async () => {
    const limited = await startGate({ up: gate.up, config: { ...CONFIG, issue: { operator: { instances: ['another-instance'] } } } });
    try {
      const token = await issue('x', 600, limited);
      expect((await op('introspect', { token }, ADMIN, limited)).status).toBe(403);
    } finally {
      await limited.close();
    }
    const off = await startGate({ up: gate.up, config: { ...CONFIG, issue: { operator: { enabled: false } } } });
    try {
      gate.up.received.length = 0;
      expect((await op('introspect', { token: 'x' }, ADMIN, off)).status).toBe(200);
      expect(gate.up.received[0]?.url).toBe('/oauth/introspect');
    } finally {
      await off.close();
    }
  });
});
