/**
 * Telematics instance credentials through a real trackgate and a recording upstream: devices by headers and
 * by the Basic variant ("Login: User DeviceToken, Password: User Group InstanceKEY"), API admins by
 * InstanceId + Basic e-mail:password, against the demo accounts plus a second user group.
 */
import { readFileSync } from 'node:fs';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet, type JWTPayload } from 'jose';
import { parse, stringify } from 'yaml';
import { beforeEach, describe, expect, it } from 'vitest';
import { lookupDigest } from '../../src/accounts/digest-token.js';
import { hashPassword } from '../../src/accounts/password.js';
import { useGate } from '../helpers/gate.js';
import { basicAuth, DEMO, DEMO_ACCOUNTS, type TestGate } from '../helpers/trackgate.js';

const OTHER = { instanceId: 'other-instance', instanceKey: 'other-instance-key', deviceToken: 'other-device-token', deviceId: 'other-device' };

const gate = useGate(async () => {
  const accounts = parse(readFileSync(DEMO_ACCOUNTS, 'utf8')) as { userGroups: unknown[] };
  accounts.userGroups.push({
    instanceId: OTHER.instanceId,
    instanceKey: await hashPassword(OTHER.instanceKey),
    devices: [{ id: OTHER.deviceId, deviceToken: lookupDigest(OTHER.deviceToken) }],
  });
  return {
    files: { 'accounts.yaml': stringify(accounts) },
    config: { authn: { instance: { enabled: true }, 'session_token': { enabled: true } } },
  };
});
beforeEach(() => { gate.up.received.length = 0; });

const deviceHeaders = (instanceId: string = DEMO.instanceId, instanceKey: string = DEMO.instanceKey, deviceToken: string = DEMO.deviceToken) =>
  ({ instanceid: instanceId, instancekey: instanceKey, devicetoken: deviceToken });

async function claims(g: TestGate, assertion: unknown): Promise<JWTPayload> {
  const jwks = createLocalJWKSet(await (await fetch(`${g.adminUrl}/.well-known/jwks.json`)).json() as JSONWebKeySet);
  return (await jwtVerify(assertion as string, jwks, { issuer: 'trackgate-test', audience: 'upstream-test' })).payload;
}

/** What reached the upstream carries no instance credential header. */
function expectStripped(headers: Record<string, unknown>): void {
  for (const h of ['instanceid', 'instancekey', 'devicetoken', 'authorization']) expect(headers[h], h).toBeUndefined();
}

describe('instance: devices', () => {
  it('InstanceId + InstanceKey + DeviceToken headers → the device, headers stripped', async () => {
    const res = await fetch(`${gate.url}/v1/trips?x=1`, { headers: deviceHeaders() });
    expect(res.status).toBe(200);
    const rec = gate.up.received[0]!;
    expect(rec.url).toBe('/v1/trips?x=1');
    expectStripped(rec.headers);
    const payload = await claims(gate, rec.headers['x-identity-assertion']);
    expect(payload).toMatchObject({ sub: 'demo-device', kind: 'device', instance: DEMO.instanceId, scheme: 'instance' });
    expect(payload.account).toBeUndefined();
  });

  it('the Basic variant: InstanceId + Basic base64(deviceToken:instanceKey) → the same device', async () => {
    const res = await fetch(`${gate.url}/v1/trips`, {
      headers: { instanceid: DEMO.instanceId, authorization: basicAuth(DEMO.deviceToken, DEMO.instanceKey) },
    });
    expect(res.status).toBe(200);
    const rec = gate.up.received[0]!;
    expectStripped(rec.headers);
    expect(await claims(gate, rec.headers['x-identity-assertion'])).toMatchObject({
      sub: 'demo-device', kind: 'device', instance: DEMO.instanceId, scheme: 'instance',
    });
  });

  it('the Basic variant with a matching InstanceKey and DeviceToken header too', async () => {
    const res = await fetch(`${gate.url}/v1/trips`, {
      headers: { ...deviceHeaders(), authorization: basicAuth(DEMO.deviceToken, DEMO.instanceKey) },
    });
    expect(res.status).toBe(200);
  });

  it('a device of the second group with that group\'s key', async () => {
    const res = await fetch(`${gate.url}/v1/trips`, { headers: deviceHeaders(OTHER.instanceId, OTHER.instanceKey, OTHER.deviceToken) });
    expect(res.status).toBe(200);
    expect(await claims(gate, gate.up.received[0]!.headers['x-identity-assertion'])).toMatchObject({ sub: OTHER.deviceId, instance: OTHER.instanceId });
  });

  it.each([
    ['wrong instance key', deviceHeaders(DEMO.instanceId, 'wrong-key')],
    ['another group\'s key', deviceHeaders(DEMO.instanceId, OTHER.instanceKey)],
    ['a device of another group', deviceHeaders(DEMO.instanceId, DEMO.instanceKey, OTHER.deviceToken)],
    ['unknown device', deviceHeaders(DEMO.instanceId, DEMO.instanceKey, 'no-such-device')],
    ['unknown instance', deviceHeaders('no-such-instance')],
  ])('%s → 401', async (_name, headers) => {
    const res = await fetch(`${gate.url}/v1/trips`, { headers });
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ error: 'TG_ERR_INVALID_CREDENTIALS' });
    expect(gate.up.received).toHaveLength(0);
  });

  it('Basic variant with a wrong key → 401; with a contradicting InstanceKey header → 401', async () => {
    const wrong = await fetch(`${gate.url}/v1/trips`, {
      headers: { instanceid: DEMO.instanceId, authorization: basicAuth(DEMO.deviceToken, 'wrong-key') },
    });
    expect(wrong.status).toBe(401);
    const contradicted = await fetch(`${gate.url}/v1/trips`, {
      headers: { instanceid: DEMO.instanceId, instancekey: 'wrong-key', authorization: basicAuth(DEMO.deviceToken, DEMO.instanceKey) },
    });
    expect(contradicted.status).toBe(401);
  });
});

describe('instance: admins', () => {
  it('InstanceId + Basic base64(email:password) → the admin', async () => {
    const res = await fetch(`${gate.url}/v1/admin/users`, {
      headers: { instanceid: DEMO.apiInstanceId, authorization: basicAuth(DEMO.adminEmail, DEMO.adminPassword) },
    });
    expect(res.status).toBe(200);
    const rec = gate.up.received[0]!;
    expectStripped(rec.headers);
    expect(await claims(gate, rec.headers['x-identity-assertion'])).toMatchObject({
      sub: DEMO.adminEmail, kind: 'admin', instance: DEMO.apiInstanceId, scheme: 'instance',
    });
  });

  it('the e-mail is case-insensitive; the subject is the e-mail as on file', async () => {
    const res = await fetch(`${gate.url}/v1/admin/users`, {
      headers: { instanceid: DEMO.apiInstanceId, authorization: basicAuth(DEMO.adminEmail.toUpperCase(), DEMO.adminPassword) },
    });
    expect(res.status).toBe(200);
    expect(await claims(gate, gate.up.received[0]!.headers['x-identity-assertion'])).toMatchObject({ sub: DEMO.adminEmail });
  });

  it('with the InstanceKey header too, both are verified', async () => {
    const ok = await fetch(`${gate.url}/v1/admin/users`, {
      headers: { instanceid: DEMO.apiInstanceId, instancekey: DEMO.apiInstanceKey, authorization: basicAuth(DEMO.adminEmail, DEMO.adminPassword) },
    });
    expect(ok.status).toBe(200);
    const badKey = await fetch(`${gate.url}/v1/admin/users`, {
      headers: { instanceid: DEMO.apiInstanceId, instancekey: 'wrong-key', authorization: basicAuth(DEMO.adminEmail, DEMO.adminPassword) },
    });
    expect(badKey.status).toBe(401);
  });

  it.each([
    ['wrong password', DEMO.apiInstanceId, DEMO.adminEmail, 'wrong'],
    ['another instance', DEMO.instanceId, DEMO.adminEmail, DEMO.adminPassword],
    ['unknown e-mail', DEMO.apiInstanceId, 'nobody@example.com', DEMO.adminPassword],
  ])('%s → 401', async (_name, instanceId, email, password) => {
    const res = await fetch(`${gate.url}/v1/admin/users`, { headers: { instanceid: instanceId, authorization: basicAuth(email, password) } });
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ error: 'TG_ERR_INVALID_CREDENTIALS' });
  });
});

describe('instance: request shapes', () => {
  it('Basic without InstanceId is still the basic form\'s', async () => {
    const res = await fetch(`${gate.url}/rest/v2/devices`, { headers: { authorization: basicAuth(DEMO.user, DEMO.password) } });
    expect(res.status).toBe(200);
    expect(await claims(gate, gate.up.received[0]!.headers['x-identity-assertion'])).toMatchObject({ sub: DEMO.user, scheme: 'basic' });
  });

  it('an account login sent with an InstanceId is not a Basic login', async () => {
    const res = await fetch(`${gate.url}/rest/v2/devices`, {
      headers: { instanceid: DEMO.instanceId, authorization: basicAuth(DEMO.user, DEMO.password) },
    });
    expect(res.status).toBe(401);
  });

  it.each([
    ['InstanceId alone', { instanceid: DEMO.instanceId }],
    ['InstanceId + InstanceKey, no device token', { instanceid: DEMO.instanceId, instancekey: DEMO.instanceKey }],
    ['InstanceId + DeviceToken, no key', { instanceid: DEMO.instanceId, devicetoken: DEMO.deviceToken }],
    ['InstanceKey + DeviceToken, no InstanceId', { instancekey: DEMO.instanceKey, devicetoken: DEMO.deviceToken }],
    ['empty InstanceKey', { ...deviceHeaders(), instancekey: '' }],
    ['Basic that is not base64', { instanceid: DEMO.instanceId, authorization: 'Basic ***' }],
  ])('incomplete or malformed (%s) → 400', async (_name, headers) => {
    const res = await fetch(`${gate.url}/v1/trips`, { headers });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'TG_ERR_MALFORMED_CREDENTIALS' });
  });

  it('a DeviceToken header contradicting the Basic login → 400 ambiguous', async () => {
    const res = await fetch(`${gate.url}/v1/trips`, {
      headers: { instanceid: DEMO.instanceId, devicetoken: OTHER.deviceToken, authorization: basicAuth(DEMO.deviceToken, DEMO.instanceKey) },
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'TG_ERR_AMBIGUOUS_CREDENTIALS' });
  });

  it('instance headers plus a session token → 400 ambiguous', async () => {
    const res = await fetch(`${gate.url}/v1/trips`, { headers: { ...deviceHeaders(), 'x-token': 'some-session-token' } });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'TG_ERR_AMBIGUOUS_CREDENTIALS' });
  });

  it('with an Authorization of another scheme (the Bearer JWT) the instance headers are not the credential, and are stripped', async () => {
    const res = await fetch(`${gate.url}/v1/trips`, { headers: { ...deviceHeaders(), authorization: 'Bearer not-a-known-token' } });
    expect(res.status).toBe(401);
    expect(gate.up.received).toHaveLength(0);
  });

  it('a 401 carries no instance challenge of its own (the seed defines none)', async () => {
    const res = await fetch(`${gate.url}/v1/trips`, { headers: deviceHeaders(DEMO.instanceId, 'wrong-key') });
    expect(res.status).toBe(401);
    const challenges = res.headers.get('www-authenticate')!;
    expect(challenges).toContain('Basic realm=');
    expect(challenges).not.toMatch(/instance/i);
  });

  it('never writes a key or device token to a log line', async () => {
    await fetch(`${gate.url}/v1/trips`, { headers: deviceHeaders() });
    await fetch(`${gate.url}/v1/trips`, { headers: deviceHeaders(DEMO.instanceId, 'wrong-key') });
    const logs = gate.logs.join('\n');
    for (const secret of [DEMO.instanceKey, DEMO.deviceToken, 'wrong-key']) expect(logs).not.toContain(secret);
  });
});

describe('instance: disabled', () => {
  const off = useGate(() => ({ up: gate.up, config: { routes: [{ path: '/public', access: 'public' }] } }));

  it('is disabled by default: the headers are ignored (401 no credentials)', async () => {
    const res = await fetch(`${off.url}/v1/trips`, { headers: deviceHeaders() });
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ error: 'TG_ERR_NO_CREDENTIALS' });
  });

  it('a stray InstanceId header does not stop an ordinary Basic login (and is stripped)', async () => {
    const res = await fetch(`${off.url}/rest/v2/devices`, {
      headers: { instanceid: DEMO.instanceId, authorization: basicAuth(DEMO.user, DEMO.password) },
    });
    expect(res.status).toBe(200);
    const rec = gate.up.received[0]!;
    expectStripped(rec.headers);
    expect(await claims(off, rec.headers['x-identity-assertion'])).toMatchObject({ sub: DEMO.user, scheme: 'basic' });
  });

  it('still strips them on a public route', async () => {
    const res = await fetch(`${off.url}/public/x`, { headers: { ...deviceHeaders(), authorization: basicAuth(DEMO.deviceToken, DEMO.instanceKey) } });
    expect(res.status).toBe(200);
    expectStripped(gate.up.received[0]!.headers);
  });
});
