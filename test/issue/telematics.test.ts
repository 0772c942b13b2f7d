/**
 * telematics (seed: telematics-api-authorization.txt) through a real trackgate and a recording upstream:
 * `POST /v1/Auth/Login` as a user (device token) and as an admin (e-mail) → `Authorization: Bearer <JWT>` →
 * `POST /v1/Auth/RefreshToken` → revocation; the `Result` envelope, also for errors.
 */
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet, type JWTPayload } from 'jose';
import { beforeEach, describe, expect, it } from 'vitest';
import { lookupDigest } from '../../src/accounts/digest-token.js';
import { startGate, useGate } from '../helpers/gate.js';
import { DEMO, type TestGate } from '../helpers/trackgate.js';

interface Envelope {
  Result: { DeviceToken: string; AccessToken: { Token: string; ExpiresIn: number }; RefreshToken: string } | null;
  Status: number;
  Title: string;
  Errors: { Code: string; Message: string }[];
}

const USER_HEADERS = { instanceid: DEMO.instanceId, instancekey: DEMO.instanceKey };
const ADMIN_HEADERS = { instanceid: DEMO.apiInstanceId, instancekey: DEMO.apiInstanceKey };
const DEVICE_BODY = { LoginFields: { deviceToken: DEMO.deviceToken }, Password: DEMO.instanceKey };
const ADMIN_BODY = { loginFields: { Email: DEMO.adminEmail }, password: DEMO.adminPassword };

const gate = useGate({ config: { authn: { bearer: { enabled: true }, instance: { enabled: true } }, issue: { refreshGraceSeconds: 0 }, throttle: { user: { limit: 3 } } } });
beforeEach(() => { gate.up.received.length = 0; });

async function post(path: string, headers: Record<string, string>, body: unknown, type = 'application/json-patch+json', g: TestGate = gate): Promise<Response> {
  return fetch(`${g.url}${path}`, {
    method: 'POST', headers: { accept: '*/*', 'content-type': type, ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

async function loginDevice(g: TestGate = gate): Promise<NonNullable<Envelope['Result']>> {
  const res = await post('/v1/Auth/Login', USER_HEADERS, DEVICE_BODY, undefined, g);
  expect(res.status).toBe(200);
  return (await res.json() as Envelope).Result!;
}

async function refresh(AccessToken: string, RefreshToken: string, headers: Record<string, string> = {}, g: TestGate = gate): Promise<Response> {
  return post('/v1/Auth/RefreshToken', headers, { AccessToken, RefreshToken }, 'application/json', g);
}

function expectOk(body: Envelope, deviceToken: string, expiresIn = 7200): void {
  expect(Object.keys(body).sort()).toEqual(['Errors', 'Result', 'Status', 'Title']);
  expect(body.Status).toBe(200);
  expect(body.Title).toBe('');
  expect(body.Errors).toEqual([]);
  expect(Object.keys(body.Result!).sort()).toEqual(['AccessToken', 'DeviceToken', 'RefreshToken']);
  expect(Object.keys(body.Result!.AccessToken).sort()).toEqual(['ExpiresIn', 'Token']);
  expect(body.Result!.DeviceToken).toBe(deviceToken);
  expect(body.Result!.AccessToken.ExpiresIn).toBe(expiresIn);
  expect(body.Result!.AccessToken.Token.split('.')).toHaveLength(3);
  expect(typeof body.Result!.RefreshToken).toBe('string');
}

async function expectError(res: Response, status: number, code: string): Promise<void> {
  expect(res.status).toBe(status);
  const body = await res.json() as Envelope;
  expect(Object.keys(body).sort()).toEqual(['Errors', 'Result', 'Status', 'Title']);
  expect(body.Result).toBeNull();
  expect(body.Status).toBe(status);
  expect(typeof body.Title).toBe('string');
  expect(body.Title).not.toBe('');
  expect(body.Errors).toHaveLength(1);
  expect(Object.keys(body.Errors[0]!).sort()).toEqual(['Code', 'Message']);
  expect(body.Errors[0]!.Code).toBe(code);
  expect(typeof body.Errors[0]!.Message).toBe('string');
}

async function verifyJwt(token: string, g: TestGate = gate): Promise<JWTPayload> {
  const jwks = createLocalJWKSet(await (await fetch(`${g.adminUrl}/.well-known/jwks.json`)).json() as JSONWebKeySet);
  return (await jwtVerify(token, jwks, { issuer: 'trackgate', audience: 'trackgate:telematics', typ: 'at+jwt' })).payload;
}

async function identityOf(assertion: unknown): Promise<JWTPayload> {
  const jwks = createLocalJWKSet(await (await fetch(`${gate.adminUrl}/.well-known/jwks.json`)).json() as JSONWebKeySet);
  return (await jwtVerify(assertion as string, jwks, { issuer: 'trackgate-test', audience: 'upstream-test' })).payload;
}

describe('POST /v1/Auth/Login as a user (device token)', () => {
  it('the seed\'s request (application/json-patch+json, LoginFields/Password) → 200 Result envelope', async () => {
    const res = await post('/v1/Auth/Login', USER_HEADERS, DEVICE_BODY);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const body = await res.json() as Envelope;
    expectOk(body, DEMO.deviceToken);
    const token = body.Result!.AccessToken.Token;
    expect(decodeProtectedHeader(token).typ).toBe('at+jwt');
    const payload = await verifyJwt(token);
    expect(payload.sub).toBe('demo-device');
    expect(payload.exp! - payload.iat!).toBe(7200);
  });

  it('field names are case-insensitive; application/json works too', async () => {
    const res = await post('/v1/Auth/Login', USER_HEADERS, { loginfields: { DeviceToken: DEMO.deviceToken }, PASSWORD: DEMO.instanceKey }, 'application/json');
    expect(res.status).toBe(200);
    expectOk(await res.json() as Envelope, DEMO.deviceToken);
  });

  it('a wrong instance key, an InstanceKey header other than the password, an unknown device or instance → 401', async () => {
    await expectError(await post('/v1/Auth/Login', { ...USER_HEADERS, instancekey: 'wrong-key-1' }, { ...DEVICE_BODY, Password: 'wrong-key-1' }), 401, 'TG_ERR_INVALID_CREDENTIALS');
    await expectError(await post('/v1/Auth/Login', { ...USER_HEADERS, instancekey: 'wrong-key-2' }, DEVICE_BODY), 401, 'TG_ERR_INVALID_CREDENTIALS');
    await expectError(await post('/v1/Auth/Login', USER_HEADERS, { ...DEVICE_BODY, LoginFields: { deviceToken: 'no-such-device' } }), 401, 'TG_ERR_INVALID_CREDENTIALS');
    await expectError(await post('/v1/Auth/Login', { ...USER_HEADERS, instanceid: 'no-such-instance' }, DEVICE_BODY), 401, 'TG_ERR_INVALID_CREDENTIALS');
    expect(gate.logs.join('\n')).not.toContain('wrong-key');
  });
});

describe('POST /v1/Auth/Login as an admin (e-mail)', () => {
  it('API InstanceId + InstanceKey, e-mail + password → 200, DeviceToken ""', async () => {
    const res = await post('/v1/Auth/Login', ADMIN_HEADERS, ADMIN_BODY);
    expect(res.status).toBe(200);
    const body = await res.json() as Envelope;
    expectOk(body, '');
    expect((await verifyJwt(body.Result!.AccessToken.Token)).sub).toBe(DEMO.adminEmail);
  });

  it('the e-mail is case-insensitive', async () => {
    const res = await post('/v1/Auth/Login', ADMIN_HEADERS, { loginFields: { email: 'Admin@Example.com' }, password: DEMO.adminPassword });
    expect(res.status).toBe(200);
  });

  it('a wrong password, a wrong InstanceKey header, another instance → 401', async () => {
    await expectError(await post('/v1/Auth/Login', ADMIN_HEADERS, { ...ADMIN_BODY, password: 'not-the-password' }), 401, 'TG_ERR_INVALID_CREDENTIALS');
    await expectError(await post('/v1/Auth/Login', { ...ADMIN_HEADERS, instancekey: 'not-the-key' }, ADMIN_BODY), 401, 'TG_ERR_INVALID_CREDENTIALS');
    await expectError(await post('/v1/Auth/Login', { ...ADMIN_HEADERS, instanceid: DEMO.instanceId }, ADMIN_BODY), 401, 'TG_ERR_INVALID_CREDENTIALS');
  });

  it('repeated failures → 429 envelope with Retry-After', async () => {
    const body = { loginFields: { Email: 'victim@example.com' }, password: 'guess' };
    for (let i = 0; i < 3; i++) expect((await post('/v1/Auth/Login', ADMIN_HEADERS, body)).status).toBe(401);
    const res = await post('/v1/Auth/Login', ADMIN_HEADERS, body);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
    await expectError(res, 429, 'TG_ERR_THROTTLED');
  });
});

describe('POST /v1/Auth/Login: malformed requests → 400 envelope', () => {
  it.each([
    ['no InstanceId', { instancekey: DEMO.instanceKey }, DEVICE_BODY],
    ['no InstanceKey', { instanceid: DEMO.instanceId }, DEVICE_BODY],
    ['no loginFields', USER_HEADERS, { Password: DEMO.instanceKey }],
    ['loginFields not an object', USER_HEADERS, { LoginFields: 'x', Password: DEMO.instanceKey }],
    ['both Email and deviceToken', USER_HEADERS, { LoginFields: { deviceToken: DEMO.deviceToken, Email: DEMO.adminEmail }, Password: DEMO.instanceKey }],
    ['neither', USER_HEADERS, { LoginFields: {}, Password: DEMO.instanceKey }],
    ['no password', USER_HEADERS, { LoginFields: { deviceToken: DEMO.deviceToken } }],
    ['password twice', USER_HEADERS, { ...DEVICE_BODY, password: 'other' }],
    ['a number as password', USER_HEADERS, { ...DEVICE_BODY, Password: 7 }],
    ['not JSON', USER_HEADERS, '{"LoginFields":'],
  ] as const)('%s', async (_name, headers, body) => {
    await expectError(await post('/v1/Auth/Login', headers as Record<string, string>, body), 400, 'TG_ERR_BAD_REQUEST');
  });

  it('GET → 405 envelope with Allow', async () => {
    const res = await fetch(`${gate.url}/v1/Auth/Login`);
    expect(res.headers.get('allow')).toBe('POST');
    await expectError(res, 405, 'TG_ERR_METHOD_NOT_ALLOWED');
  });
});

describe('the seed\'s flow through the proxy', () => {
  it('device: Login → Bearer JWT (with the transitional Instance headers) → RefreshToken → old refresh refused → revoke', async () => {
    const first = await loginDevice();

    // "Authorization: Bearer {Token}"; transitional clients still send InstanceId/InstanceKey along.
    const api = await fetch(`${gate.url}/v1/Trips?page=1`, { headers: { authorization: `Bearer ${first.AccessToken.Token}`, ...USER_HEADERS } });
    expect(api.status).toBe(200);
    const rec = gate.up.received[0]!;
    expect(rec.url).toBe('/v1/Trips?page=1');
    for (const h of ['authorization', 'instanceid', 'instancekey']) expect(rec.headers[h]).toBeUndefined();
    expect(JSON.stringify(rec)).not.toContain(first.AccessToken.Token);
    expect(await identityOf(rec.headers['x-identity-assertion'])).toMatchObject({
      sub: 'demo-device', kind: 'device', instance: DEMO.instanceId, scheme: 'bearer',
    });

    // RefreshToken rotates both and hands the device token back (the seed: store all three tokens).
    const res = await refresh(first.AccessToken.Token, first.RefreshToken);
    expect(res.status).toBe(200);
    const body = await res.json() as Envelope;
    expectOk(body, DEMO.deviceToken);
    const second = body.Result!;
    expect(second.AccessToken.Token).not.toBe(first.AccessToken.Token);
    expect(second.RefreshToken).not.toBe(first.RefreshToken);

    // The previous access token stays valid until it expires; the new one works.
    expect((await fetch(`${gate.url}/a`, { headers: { authorization: `Bearer ${first.AccessToken.Token}` } })).status).toBe(200);
    expect((await fetch(`${gate.url}/a`, { headers: { authorization: `Bearer ${second.AccessToken.Token}` } })).status).toBe(200);

    // The old refresh token again (grace 0): 401 envelope, and the family is revoked.
    await expectError(await refresh(first.AccessToken.Token, first.RefreshToken), 401, 'TG_ERR_INVALID_CREDENTIALS');
    expect((await fetch(`${gate.url}/a`, { headers: { authorization: `Bearer ${second.AccessToken.Token}` } })).status).toBe(401);
    await expectError(await refresh(second.AccessToken.Token, second.RefreshToken), 401, 'TG_ERR_INVALID_CREDENTIALS');

    // Login again; the operator revokes the access token → refused.
    const third = await loginDevice();
    expect((await fetch(`${gate.url}/a`, { headers: { authorization: `Bearer ${third.AccessToken.Token}` } })).status).toBe(200);
    await gate.app.store.revokeTokens([lookupDigest(third.AccessToken.Token)], Date.now());
    expect((await fetch(`${gate.url}/a`, { headers: { authorization: `Bearer ${third.AccessToken.Token}` } })).status).toBe(401);
  });

  it('admin: Login → Bearer → RefreshToken (DeviceToken stays "") → revoke the family', async () => {
    const res = await post('/v1/Auth/Login', ADMIN_HEADERS, ADMIN_BODY);
    const first = (await res.json() as Envelope).Result!;
    const api = await fetch(`${gate.url}/v1/Users`, { headers: { authorization: `Bearer ${first.AccessToken.Token}` } });
    expect(api.status).toBe(200);
    expect(await identityOf(gate.up.received[0]!.headers['x-identity-assertion'])).toMatchObject({
      sub: DEMO.adminEmail, kind: 'admin', instance: DEMO.apiInstanceId,
    });
    const r = await refresh(first.AccessToken.Token, first.RefreshToken, { devicetoken: DEMO.deviceToken });
    expect(r.status).toBe(200);
    const second = (await r.json() as Envelope).Result!;
    expect(second.DeviceToken).toBe('');
    const rec = await gate.app.store.getToken(lookupDigest(second.AccessToken.Token));
    await gate.app.store.revokeFamily(rec!.family!, Date.now());
    expect((await fetch(`${gate.url}/a`, { headers: { authorization: `Bearer ${second.AccessToken.Token}` } })).status).toBe(401);
    expect((await fetch(`${gate.url}/a`, { headers: { authorization: `Bearer ${first.AccessToken.Token}` } })).status).toBe(401);
  });
});

describe('POST /v1/Auth/RefreshToken', () => {
  it('the refreshed envelope carries the device token, refresh after refresh; lower-case field names work', async () => {
    const first = await loginDevice();
    const res = await post('/v1/Auth/RefreshToken', {}, { accessToken: first.AccessToken.Token, refreshToken: first.RefreshToken });
    expect(res.status).toBe(200);
    const second = (await res.json() as Envelope);
    expectOk(second, DEMO.deviceToken);
    const third = await post('/v1/Auth/RefreshToken', {}, { RefreshToken: second.Result!.RefreshToken });
    expectOk(await third.json() as Envelope, DEMO.deviceToken);
  });

  it('the refresh token alone is enough (no AccessToken in the body)', async () => {
    const first = await loginDevice();
    const res = await post('/v1/Auth/RefreshToken', {}, { RefreshToken: first.RefreshToken });
    expect(res.status).toBe(200);
    const second = (await res.json() as Envelope).Result!;
    expect(second.RefreshToken).not.toBe(first.RefreshToken);
    expect((await fetch(`${gate.url}/a`, { headers: { authorization: `Bearer ${second.AccessToken.Token}` } })).status).toBe(200);
  });

  it('the store alone does not yield the device token: it is sealed under the refresh token', async () => {
    const first = await loginDevice();
    const rec = await gate.app.store.getToken(lookupDigest(first.RefreshToken));
    expect(JSON.stringify(rec)).not.toContain(DEMO.deviceToken);
    expect(typeof rec!.data?.kept).toBe('string');
  });

  it('a retry of the same refresh within the grace window gets the same pair and device token', async () => {
    const g = await startGate({ up: gate.up, config: { issue: { refreshGraceSeconds: 30 } } });
    try {
      const first = await loginDevice(g);
      const a = await (await refresh(first.AccessToken.Token, first.RefreshToken, {}, g)).json() as Envelope;
      const b = await (await refresh(first.AccessToken.Token, first.RefreshToken, {}, g)).json() as Envelope;
      expect(b.Result).toEqual(a.Result);
      expect(b.Result!.DeviceToken).toBe(DEMO.deviceToken);
    } finally {
      await g.close();
    }
  });

  it('an access token of another family → 401, and the refresh token is not spent', async () => {
    const a = await loginDevice();
    const b = await loginDevice();
    await expectError(await refresh(b.AccessToken.Token, a.RefreshToken), 401, 'TG_ERR_INVALID_CREDENTIALS');
    await expectError(await refresh('not-a-token', a.RefreshToken), 401, 'TG_ERR_INVALID_CREDENTIALS');
    await expectError(await refresh(a.RefreshToken, a.RefreshToken), 401, 'TG_ERR_INVALID_CREDENTIALS');
    expect((await refresh(a.AccessToken.Token, a.RefreshToken)).status).toBe(200);
  });

  it('missing fields → 400; unknown refresh token → 401', async () => {
    const a = await loginDevice();
    await expectError(await post('/v1/Auth/RefreshToken', {}, { AccessToken: a.AccessToken.Token }), 400, 'TG_ERR_BAD_REQUEST');
    await expectError(await post('/v1/Auth/RefreshToken', {}, { AccessToken: '', RefreshToken: a.RefreshToken }), 400, 'TG_ERR_BAD_REQUEST');
    await expectError(await refresh(a.AccessToken.Token, 'no-such-refresh-token'), 401, 'TG_ERR_INVALID_CREDENTIALS');
  });

  it('a telematics refresh token is refused by /auth/refresh without being spent; an oauth2 one by /v1/Auth/RefreshToken', async () => {
    const a = await loginDevice();
    const res = await fetch(`${gate.url}/auth/refresh`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `refresh_token=${a.RefreshToken}`,
    });
    expect(res.status).toBe(401);
    expect((await refresh(a.AccessToken.Token, a.RefreshToken)).status).toBe(200);

    const o = await (await fetch(`${gate.url}/auth/password`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `username=${DEMO.user}&password=${DEMO.password}`,
    })).json() as { access_token: string; refresh_token: string };
    await expectError(await refresh(o.access_token, o.refresh_token), 401, 'TG_ERR_INVALID_CREDENTIALS');
  });

  it('an expired access token of the family is fine: that is when one refreshes (clock)', async () => {
    let now = Date.now();
    const g = await startGate({ up: gate.up, now: () => now, config: { authn: { bearer: { enabled: true } } } });
    try {
      const first = await loginDevice(g);
      now += 7201_000;
      g.app.cache.clear(); // the validation cache's LRU TTL runs on the real clock
      expect((await fetch(`${g.url}/a`, { headers: { authorization: `Bearer ${first.AccessToken.Token}` } })).status).toBe(401);
      const res = await refresh(first.AccessToken.Token, first.RefreshToken, {}, g);
      expect(res.status).toBe(200);
      const second = (await res.json() as Envelope).Result!;
      expect(second.AccessToken.ExpiresIn).toBe(7200);
      expect((await fetch(`${g.url}/a`, { headers: { authorization: `Bearer ${second.AccessToken.Token}` } })).status).toBe(200);
    } finally {
      await g.close();
    }
  });

  it('the access lifetime is configurable and ExpiresIn follows it', async () => {
    const g = await startGate({ up: gate.up, config: { issue: { telematics: { accessTtlSeconds: 1209600 } } } });
    try {
      const res = await post('/v1/Auth/Login', USER_HEADERS, DEVICE_BODY, undefined, g);
      expectOk(await res.json() as Envelope, DEMO.deviceToken, 1209600);
    } finally {
      await g.close();
    }
  });
});
