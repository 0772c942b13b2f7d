/**
 * `routes[].invalidCredentials: anonymous` (the telematics seed: "For security purpose the API will accept any
 * value with no error message. However, if you use incorrect value, you won't be able to get information from
 * sensitive API") through a real trackgate and a recording upstream: on such a route a wrong, expired or
 * malformed credential is forwarded with the anonymous identity instead of 401/400, and the auth-attempt metric
 * and the access line still say why; no credential, two credentials, or any other route → the usual errors;
 * rules where it could not apply are refused at load.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { validateConfig } from '../../src/config-schema.js';
import { useGate } from '../helpers/gate.js';
import { verifyAssertion } from '../helpers/identity-assertion.js';
import { metric } from '../helpers/metrics.js';
import { basicAuth, DEMO } from '../helpers/trackgate.js';

const gate = useGate({
  config: {
    authn: { bearer: { enabled: true } },
    routes: [
      { path: '/v1/catalog', access: 'authenticated', invalidCredentials: 'anonymous' },
      { path: '/v1/sensitive', access: { kinds: ['user', 'device', 'admin'] } },
    ],
  },
});
beforeEach(() => { gate.up.received.length = 0; });

async function get(path: string, headers: Record<string, string> = {}): Promise<{ status: number; claims?: Record<string, unknown>; upstreamHeaders?: Record<string, unknown> }> {
  gate.up.received.length = 0;
  const res = await fetch(`${gate.url}${path}`, { headers });
  await res.arrayBuffer();
  const rec = gate.up.received[0];
  if (res.status !== 200 || rec === undefined) return { status: res.status };
  return { status: 200, claims: (await verifyAssertion(gate.adminUrl, rec.headers['x-identity-assertion'] as string)).payload, upstreamHeaders: rec.headers };
}

const attempts = (reason: string) => metric(gate.adminUrl, 'trackgate_auth_attempts_total', { scheme: 'bearer', reason });

async function fleetToken(): Promise<string> {
  const res = await fetch(`${gate.url}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: DEMO.user, password: DEMO.password }) });
  return (await res.json() as { token: string }).token;
}

describe('routes[].invalidCredentials: anonymous', () => {
  it('a wrong token is forwarded as anonymous (its header stripped); the metric and the access line say invalid', async () => {
    const before = await attempts('invalid');
    const res = await get('/v1/catalog/items', { authorization: 'Bearer not-a-real-token' });
    expect(res.status).toBe(200);
    expect(res.claims).toMatchObject({ sub: 'anonymous', kind: 'anonymous', scheme: 'anonymous' });
    expect(res.claims?.account).toBeUndefined();
    expect(res.upstreamHeaders?.authorization).toBeUndefined();
    expect(await attempts('invalid')).toBe(before + 1);
    const line = gate.logRecords().filter((r) => r.path === '/v1/catalog/items').at(-1);
    expect(line).toMatchObject({
      level: 'warn', msg: 'invalid credentials forwarded as anonymous', status: 200, scheme: 'bearer', sub: 'anonymous', kind: 'anonymous',
      err: 'TG_ERR_INVALID_CREDENTIALS', reason: 'invalid', detail: 'unknown token',
    });
    expect(gate.logs.join('\n')).not.toContain('not-a-real-token');
    // Again: the rejection now comes from the validation cache (synchronously), with the same outcome.
    expect((await get('/v1/catalog/items', { authorization: 'Bearer not-a-real-token' })).claims).toMatchObject({ kind: 'anonymous' });
    expect(await attempts('invalid')).toBe(before + 2);
  });

  it('a malformed credential and a wrong password too; a valid credential keeps its identity', async () => {
    expect((await get('/v1/catalog', { authorization: 'Bearer' })).claims).toMatchObject({ sub: 'anonymous', kind: 'anonymous' });
    expect((await get('/v1/catalog', { authorization: basicAuth(DEMO.user, 'wrong-password') })).claims).toMatchObject({ sub: 'anonymous', kind: 'anonymous' });
    expect((await get('/v1/catalog', { authorization: basicAuth(DEMO.user, DEMO.password) })).claims).toMatchObject({ sub: DEMO.user, kind: 'user', scheme: 'basic' });
    const before = await attempts('expired');
    const expired = (await gate.app.tokens.issue({ type: 'access', issuer: 'fleet_login', subject: DEMO.user, kind: 'user', ttlSeconds: 0 })).value;
    expect((await get('/v1/catalog', { authorization: `Bearer ${expired}` })).claims).toMatchObject({ sub: 'anonymous', kind: 'anonymous' });
    expect(await attempts('expired')).toBe(before + 1);
    const token = await fleetToken();
    expect((await get('/v1/catalog', { authentication: `Bearer ${token}` })).claims).toMatchObject({ sub: DEMO.user, kind: 'user', account: 'demo-account', scheme: 'bearer' });
  });

  it('no credential → 401 with the challenge; two different credentials → 400', async () => {
    const none = await fetch(`${gate.url}/v1/catalog`);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/Bearer realm=/);
    expect((await get('/v1/catalog', { authorization: 'Bearer token-one', authentication: 'Bearer token-two' })).status).toBe(400);
    expect(gate.up.received).toHaveLength(0);
  });

  it('off elsewhere (the default): the same wrong token → 401 on other routes, and anonymous is not a user on sensitive ones', async () => {
    const res = await fetch(`${gate.url}/v1/sensitive/trips`, { headers: { authorization: 'Bearer not-a-real-token' } });
    expect(res.status).toBe(401);
    expect((await get('/elsewhere', { authorization: 'Bearer not-a-real-token' })).status).toBe(401);
    expect(gate.up.received).toHaveLength(0);
  });
});

describe('config', () => {
  const base = { routes: [] as unknown[] };
  it('is off unless set', () => {
    const { config } = validateConfig({ routes: [{ path: '/a', access: 'authenticated' }] }, undefined, {});
    expect(config.routes[0]!.invalidCredentials).toBeUndefined();
  });
  it.each([
    ['public', 'public'],
    ['deny', 'deny'],
    ['a kinds list without anonymous', { kinds: ['user'] }],
    ['an accounts list', { accounts: ['acct-1'] }],
  ])('refuses invalidCredentials: anonymous with %s access', (_name, access) => {
    expect(() => validateConfig({ ...base, routes: [{ path: '/a', access, invalidCredentials: 'anonymous' }] }, undefined, {})).toThrow(/routes\.0\.invalidCredentials/);
  });
  it('accepts it where the anonymous identity is admitted', () => {
    const { config } = validateConfig({ routes: [{ path: '/a', access: { kinds: ['anonymous', 'user'] }, invalidCredentials: 'anonymous' }] }, undefined, {});
    expect(config.routes[0]!.invalidCredentials).toBe('anonymous');
  });
});
