/** Basic, Digest and the instance form on the proxy path share the token endpoints' brute-force throttle (docs/token-endpoints.md). */
import { readFileSync } from 'node:fs';
import { parse, stringify } from 'yaml';
import { beforeEach, describe, expect, it } from 'vitest';
import { lookupDigest } from '../../src/accounts/digest-token.js';
import { useGate } from '../helpers/gate.js';
import { basicAuth, DEMO, DEMO_ACCOUNTS } from '../helpers/trackgate.js';

// Negative entries are not cached here, so every wrong password is a real check. Windows are an hour long: the
// counters are fixed windows weighted by overlap, so a test crossing a window boundary would see its count decay.
const gate = useGate({ config: { cache: { negativeTtlSeconds: 0 }, throttle: { user: { limit: 3, windowSeconds: 3600 } } } });

describe('password throttling on the proxy path', () => {
  it('Basic: after the limit of failures for a user, even the right password gets 429 with Retry-After', async () => {
    for (let i = 0; i < 3; i++) {
      const r = await fetch(`${gate.url}/x`, { headers: { authorization: basicAuth(DEMO.user, `wrong-${i}`) } });
      expect(r.status).toBe(401);
    }
    const blocked = await fetch(`${gate.url}/x`, { headers: { authorization: basicAuth(DEMO.user, DEMO.password) } });
    expect(blocked.status).toBe(429);
    expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await blocked.json() as { error: string }).error).toBe('TG_ERR_THROTTLED');
  });
});

/**
 * The telematics `instance` form: InstanceKey, the Basic variant's key and the admins' passwords are password
 * checks too, counted per device (instance + device token) or admin (instance + e-mail) and per address, with
 * the same counters as the telematics Login endpoint.
 */
describe('password throttling of instance credentials on the proxy path', () => {
  const SECOND = { id: 'second-device', deviceToken: 'second-device-token' };
  const accounts = parse(readFileSync(DEMO_ACCOUNTS, 'utf8')) as { userGroups: { devices: unknown[] }[] };
  accounts.userGroups[0]!.devices.push({ id: SECOND.id, deviceToken: lookupDigest(SECOND.deviceToken) });
  const files = { 'accounts.yaml': stringify(accounts) };
  const authn = { instance: { enabled: true } };
  // Both in front of the file's upstream.
  const inst = useGate(() => ({ up: gate.up, files, config: { authn, cache: { negativeTtlSeconds: 0 }, throttle: { user: { limit: 3, windowSeconds: 3600 } } } }));
  const perAddress = useGate(() => ({ up: gate.up, files, config: { authn, cache: { negativeTtlSeconds: 0 }, throttle: { user: { limit: 100 }, ip: { limit: 3, windowSeconds: 3600 } } } }));
  beforeEach(() => { gate.up.received.length = 0; });

  const deviceHeaders = (instanceKey: string, deviceToken: string = DEMO.deviceToken) =>
    ({ instanceid: DEMO.instanceId, instancekey: instanceKey, devicetoken: deviceToken });

  async function expectThrottled(res: Response): Promise<void> {
    expect(res.status).toBe(429);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await res.json() as { error: string }).error).toBe('TG_ERR_THROTTLED');
  }

  it('InstanceKey: the right key works before the limit; after it even the right key gets 429 (headers, Basic variant, Login endpoint)', async () => {
    for (const key of ['wrong-1', 'wrong-2']) expect((await fetch(`${inst.url}/x`, { headers: deviceHeaders(key) })).status).toBe(401);
    expect((await fetch(`${inst.url}/x`, { headers: deviceHeaders(DEMO.instanceKey) })).status).toBe(200);
    // The third failure, through the Basic variant: the same device, the same counter.
    const basicWrong = await fetch(`${inst.url}/x`, { headers: { instanceid: DEMO.instanceId, authorization: basicAuth(DEMO.deviceToken, 'wrong-3') } });
    expect(basicWrong.status).toBe(401);

    // The credential verified before the limit is still served from the validation cache (no secret is checked);
    // once it is gone from there, it is checked again, and refused.
    expect((await fetch(`${inst.url}/x`, { headers: deviceHeaders(DEMO.instanceKey) })).status).toBe(200);
    inst.app.cache.clear();
    await expectThrottled(await fetch(`${inst.url}/x`, { headers: deviceHeaders(DEMO.instanceKey) }));
    await expectThrottled(await fetch(`${inst.url}/x`, { headers: { instanceid: DEMO.instanceId, authorization: basicAuth(DEMO.deviceToken, DEMO.instanceKey) } }));
    // The telematics Login endpoint counts under the same key: no extra attempts by switching paths.
    const login = await fetch(`${inst.url}/v1/Auth/Login`, {
      method: 'POST',
      headers: { ...deviceHeaders(DEMO.instanceKey), 'content-type': 'application/json' },
      body: JSON.stringify({ loginFields: { deviceToken: DEMO.deviceToken }, password: DEMO.instanceKey }),
    });
    expect(login.status).toBe(429);
    expect(gate.up.received).toHaveLength(2);

    // Per device: another device of the same group (same InstanceKey) is not locked out.
    expect((await fetch(`${inst.url}/x`, { headers: deviceHeaders(DEMO.instanceKey, SECOND.deviceToken) })).status).toBe(200);
  });

  it('admins: wrong passwords and a wrong InstanceKey header count per admin; then the right ones get 429', async () => {
    const admin = (password: string, instanceKey?: string) => fetch(`${inst.url}/x`, {
      headers: { instanceid: DEMO.apiInstanceId, authorization: basicAuth(DEMO.adminEmail, password), ...(instanceKey !== undefined ? { instancekey: instanceKey } : {}) },
    });
    expect((await admin('wrong-1')).status).toBe(401);
    expect((await admin(DEMO.adminPassword)).status).toBe(200);
    expect((await admin('wrong-2')).status).toBe(401);
    expect((await admin(DEMO.adminPassword, 'wrong-key')).status).toBe(401);
    inst.app.cache.clear();
    await expectThrottled(await admin(DEMO.adminPassword));
    // The e-mail is case-insensitive, and so is its counter.
    const upper = await fetch(`${inst.url}/x`, { headers: { instanceid: DEMO.apiInstanceId, authorization: basicAuth(DEMO.adminEmail.toUpperCase(), DEMO.adminPassword) } });
    await expectThrottled(upper);
    expect(gate.up.received).toHaveLength(1);
  });

  it('per client address: failures against different devices add up', async () => {
    for (const token of ['no-such-device-1', 'no-such-device-2', DEMO.deviceToken]) {
      expect((await fetch(`${perAddress.url}/x`, { headers: deviceHeaders('wrong', token) })).status).toBe(401);
    }
    await expectThrottled(await fetch(`${perAddress.url}/x`, { headers: deviceHeaders(DEMO.instanceKey, SECOND.deviceToken) }));
    expect(gate.up.received).toHaveLength(0);
  });
});
