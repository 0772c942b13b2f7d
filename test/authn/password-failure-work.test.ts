/**
 * No user enumeration by timing, structurally (issue 13 item 3): through a real trackgate, every entry point
 * that checks a secret looked up by name performs the same equalising work on a failure, whatever the name
 * or its hash: one slow KDF evaluation per secret (the user's own scrypt/bcrypt/argon2id, or the reference
 * for an unknown name, an apr1 or a {SHA} hash) and one padded failure, counted by the app's metrics.
 * (The times themselves are measured by test/reliability/password-timing.test.ts.)
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { everyHashFormat } from '../helpers/hash-formats.js';
import { challengesFor, digestAuthorization } from '../helpers/digest-client.js';
import { useGate } from '../helpers/gate.js';
import { basicAuth, DEMO, DEMO_ACCOUNTS } from '../helpers/trackgate.js';

const REALM = 'GPS Data Web Service';

const gate = useGate(async () => {
  const accounts = parse(readFileSync(DEMO_ACCOUNTS, 'utf8')) as { users: Record<string, unknown>[] };
  const { bcrypt, apr1, sha1, argon2id } = await everyHashFormat('right');
  accounts.users.push(
    { username: 'u-bcrypt', password: bcrypt }, { username: 'u-apr1', password: apr1 },
    { username: 'u-sha1', password: sha1 }, { username: 'u-argon2id', password: argon2id },
  );
  return {
    files: { 'accounts.yaml': stringify(accounts) },
    config: {
      authn: { instance: { enabled: true }, digest: { realm: REALM } },
      cache: { negativeTtlSeconds: 0 },
      throttle: { user: { limit: 1000 }, ip: { limit: 10000 } },
      // Keeps the padding short: the structure is under test here, not the wait.
      passwords: { maxFailureFloorMs: 1 },
    },
  };
});

async function counters(): Promise<{ own: number; reference: number; failures: number }> {
  const text = await (await fetch(`${gate.adminUrl}/metrics`)).text();
  const value = (re: RegExp): number => Number(re.exec(text)?.[1] ?? 0);
  return {
    own: value(/^trackgate_password_hashes_total\{work="own"\} (\d+)/m),
    reference: value(/^trackgate_password_hashes_total\{work="reference"\} (\d+)/m),
    failures: value(/^trackgate_password_failures_total (\d+)/m),
  };
}

const post = (path: string, body: unknown, headers: Record<string, string> = {}) => fetch(`${gate.url}${path}`, {
  method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body),
});
const form = (path: string, body: Record<string, string>) => fetch(`${gate.url}${path}`, {
  method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(body).toString(),
});
const proxy = (headers: Record<string, string>) => fetch(`${gate.url}/x`, { headers });
async function digest(username: string): Promise<Response> {
  const [challenge] = await challengesFor(gate.url, { path: '/x' });
  return proxy({ authorization: digestAuthorization({ challenge: challenge!, username, password: 'wrong', method: 'GET', uri: '/x' }) });
}

/** [entry point and failure kind, request, expected status, slow evaluations (own, reference)]. */
const CASES: [string, () => Promise<Response>, number, [own: number, reference: number]][] = [
  ['Basic: unknown user', () => proxy({ authorization: basicAuth('nobody', 'wrong') }), 401, [0, 1]],
  ['Basic: scrypt user, wrong password', () => proxy({ authorization: basicAuth(DEMO.user, 'wrong') }), 401, [1, 0]],
  ['Basic: bcrypt user, wrong password', () => proxy({ authorization: basicAuth('u-bcrypt', 'wrong') }), 401, [1, 0]],
  ['Basic: argon2id user, wrong password', () => proxy({ authorization: basicAuth('u-argon2id', 'wrong') }), 401, [1, 0]],
  ['Basic: apr1 user, wrong password', () => proxy({ authorization: basicAuth('u-apr1', 'wrong') }), 401, [0, 1]],
  ['Basic: {SHA} user, wrong password', () => proxy({ authorization: basicAuth('u-sha1', 'wrong') }), 401, [0, 1]],
  ['Basic: a wrong web-service key as the password', () => proxy({ authorization: basicAuth(DEMO.user, 'not-a-web-service-key') }), 401, [1, 0]],
  ['Digest: unknown user', () => digest('nobody'), 401, [0, 0]],
  ['Digest: known user, wrong response', () => digest(DEMO.user), 401, [0, 0]],
  ['instance headers: unknown instance', () => proxy({ instanceid: 'no-such-instance', instancekey: 'k', devicetoken: DEMO.deviceToken }), 401, [0, 1]],
  ['instance headers: wrong InstanceKey', () => proxy({ instanceid: DEMO.instanceId, instancekey: 'wrong', devicetoken: DEMO.deviceToken }), 401, [1, 0]],
  ['instance headers: right InstanceKey, unknown device', () => proxy({ instanceid: DEMO.instanceId, instancekey: DEMO.instanceKey, devicetoken: 'no-such-device' }), 401, [1, 0]],
  ['instance Basic: admin, wrong password', () => proxy({ instanceid: DEMO.apiInstanceId, authorization: basicAuth(DEMO.adminEmail, 'wrong') }), 401, [1, 0]],
  ['instance Basic: unknown admin (a device login then)', () => proxy({ instanceid: DEMO.apiInstanceId, authorization: basicAuth('nobody@example.com', 'wrong') }), 401, [0, 1]],
  ['gps_rest_v2 token: unknown user', () => form('/rest/v2/token', { username: 'nobody', password: 'wrong' }), 400, [0, 1]],
  ['gps_rest_v2 token: wrong password', () => form('/rest/v2/token', { username: DEMO.user, password: 'wrong' }), 400, [1, 0]],
  ['gps_rest_v2 token: unknown web-service key', () => form('/rest/v2/token', { key: 'no-such-key' }), 400, [0, 0]],
  ['oauth2_password: unknown user', () => form('/auth/password', { username: 'nobody', password: 'wrong' }), 400, [0, 1]],
  ['fleet_login: wrong password', () => post('/auth/login', { username: DEMO.user, password: 'wrong' }), 401, [1, 0]],
  ['telematics Login: device of an unknown instance', () => post('/v1/Auth/Login', { LoginFields: { deviceToken: DEMO.deviceToken }, Password: 'k' }, { instanceid: 'no-such-instance', instancekey: 'k' }), 401, [0, 1]],
  ['telematics Login: admin, wrong password (password and key checked)', () => post('/v1/Auth/Login', { loginFields: { Email: DEMO.adminEmail }, password: 'wrong' }, { instanceid: DEMO.apiInstanceId, instancekey: DEMO.apiInstanceKey }), 401, [2, 0]],
  ['telematics Login: unknown admin', () => post('/v1/Auth/Login', { loginFields: { Email: 'nobody@example.com' }, password: 'wrong' }, { instanceid: DEMO.apiInstanceId, instancekey: 'k' }), 401, [0, 2]],
  ['geoloqi password grant: unknown user', () => form('/1/oauth/token', { grant_type: 'password', client_id: DEMO.clientId, username: 'nobody', password: 'wrong' }), 400, [0, 1]],
  ['geoloqi client_credentials: wrong secret', () => form('/1/oauth/token', { grant_type: 'client_credentials', client_id: DEMO.clientId, client_secret: 'wrong' }), 401, [1, 0]],
  ['geoloqi client_credentials: unknown client', () => form('/1/oauth/token', { grant_type: 'client_credentials', client_id: 'no-such-client', client_secret: 'wrong' }), 401, [0, 1]],
];

describe('every failed secret check does the same equalising work', () => {
  for (const [name, request, status, [own, reference]] of CASES) {
    it(`${name}: ${own} own + ${reference} reference KDF evaluations, one padded failure`, async () => {
      const before = await counters();
      const res = await request();
      await res.arrayBuffer();
      const after = await counters();
      expect(res.status).toBe(status);
      expect({ own: after.own - before.own, reference: after.reference - before.reference, failures: after.failures - before.failures })
        .toEqual({ own, reference, failures: 1 });
    });
  }

  it('a right password ends without padding and a cheap hash costs no reference evaluation', async () => {
    const before = await counters();
    for (const [user, password] of [[DEMO.user, DEMO.password], ['u-apr1', 'right'], ['u-sha1', 'right']] as const) {
      expect((await proxy({ authorization: basicAuth(user, password) })).status).toBe(200);
    }
    const after = await counters();
    expect({ own: after.own - before.own, reference: after.reference - before.reference, failures: after.failures - before.failures })
      .toEqual({ own: 1, reference: 0, failures: 0 });
  });
});
