/**
 * A token-endpoint body that gives a parameter twice is refused with 400 in the dialect's own error shape,
 * whichever copy is right: before, a repeated form field counted its first copy and a JSON key its last
 * (JSON.parse), so the same body could mean one thing to trackgate and another to anything else reading it.
 */
import { describe, expect, it } from 'vitest';
import { firstDuplicateKey } from '../../src/issue/duplicate-keys.js';
import { useGate } from '../helpers/gate.js';
import { basicAuth, DEMO } from '../helpers/trackgate.js';

const FORM = 'application/x-www-form-urlencoded';
const JSON_TYPE = 'application/json';
const U = DEMO.user;
const P = DEMO.password;
const ADMIN = { instanceid: DEMO.apiInstanceId, instancekey: DEMO.apiInstanceKey };

const gate = useGate({ config: { authn: { bearer: { enabled: true }, instance: { enabled: true } } } });

const post = (path: string, type: string, body: string, headers: Record<string, string> = {}) =>
  fetch(`${gate.url}${path}`, { method: 'POST', redirect: 'manual', headers: { 'content-type': type, ...headers }, body });

// Each body holds the right value once and a wrong one once, in the order the old parser would have taken.
const CASES: [name: string, path: string, type: string, body: string, headers?: Record<string, string>][] = [
  ['oauth2_password, form (first copy right)', '/auth/password', FORM, `username=${U}&password=${P}&password=wrong`],
  ['oauth2_password, JSON (last copy right)', '/auth/password', JSON_TYPE, `{"username":"${U}","password":"wrong","password":"${P}"}`],
  ['oauth2_password, form, repeated unused field', '/auth/password', FORM, `username=${U}&password=${P}&x=1&x=1`],
  ['fleet_login, JSON', '/auth/login', JSON_TYPE, `{"username":"${U}","password":"wrong","password":"${P}"}`],
  ['fleet_login, JSON key written with an escape', '/auth/login', JSON_TYPE, `{"username":"${U}","password":"wrong","p\\u0061ssword":"${P}"}`],
  ['gps_rest_v2, form', '/rest/v2/token', FORM, `username=${U}&username=nobody&password=${P}`],
  ['gps_rest_v2, JSON', '/rest/v2/token', JSON_TYPE, `{"username":"nobody","username":"${U}","password":"${P}"}`],
  ['geoloqi, form', '/1/oauth/token', FORM, `grant_type=password&client_id=${DEMO.clientId}&username=${U}&password=${P}&grant_type=client_credentials`],
  ['telematics, nested JSON object', '/v1/Auth/Login', JSON_TYPE, `{"loginFields":{"Email":"nobody@example.com","Email":"${DEMO.adminEmail}"},"password":"${DEMO.adminPassword}"}`, ADMIN],
  ['operator introspect, form', '/oauth/introspect', FORM, 'token=a&token=b', { authorization: basicAuth(DEMO.adminEmail, DEMO.adminPassword), instanceid: DEMO.apiInstanceId }],
  ['refresh, form', '/auth/refresh', FORM, 'refresh_token=a&refresh_token=b'],
];

describe('duplicated token-endpoint parameters', () => {
  it.each(CASES)('%s → 400, no token', async (_name, path, type, body, headers) => {
    const res = await post(path, type, body, headers);
    const text = await res.text();
    expect(res.status, text).toBe(400);
    expect(text).toMatch(/TG_ERR_DUPLICATE_PARAMETER|invalid_request|given more than once/);
    expect(text).not.toMatch(/token"\s*:\s*"[A-Za-z0-9]|access_token|AccessToken"\s*:\s*\{/);
    expect(res.headers.get('set-cookie')).toBeNull();
    expect(res.headers.get('cache-control')).toBe('no-store');
  });

  it('logs which parameter was repeated, and counts it as a token-endpoint error', async () => {
    const from = gate.logs.length;
    await post('/auth/password', FORM, `username=${U}&password=${P}&password=${P}`);
    const line = gate.logRecords().slice(from).find((l) => l.msg === 'token endpoint error');
    expect(line).toMatchObject({ err: 'TG_ERR_DUPLICATE_PARAMETER', status: 400, detail: 'duplicate body parameter "password"' });
    expect(JSON.stringify(line)).not.toContain(P);
  });

  it('the same bodies without the repetition still work', async () => {
    expect((await post('/auth/password', FORM, `username=${U}&password=${P}`)).status).toBe(200);
    expect((await post('/auth/login', JSON_TYPE, `{"username":"${U}","password":"${P}","nested":{"password":1},"list":[{"a":1},{"a":2}]}`)).status).toBe(200);
  });
});

describe('firstDuplicateKey', () => {
  it.each([
    ['{}', undefined],
    ['{"a":1,"b":{"a":2},"c":[{"a":3},{"a":4}]}', undefined],
    ['{"a":"a","b":"a"}', undefined],
    ['{"a":1,"a":2}', 'a'],
    ['{"x":{"k":1,"k":1}}', 'k'],
    ['[{"k":1},{"q":{"k":1,"k":2}}]', 'k'],
    ['{"a":1,"\\u0061":2}', 'a'],
    ['{"s":"}\\",{\\"s\\":1","s":2}', 's'],
    ['{"s":"}\\",{\\"s\\":1","t":2}', undefined],
    ['{ "a" : [ 1 , { "b" : 2 } ] , "a" : 0 }', 'a'],
    ['{"__proto__":1,"__proto__":2}', '__proto__'],
  ])('%s → %s', (text, dup) => {
    JSON.parse(text);
    expect(firstDuplicateKey(text)).toBe(dup);
  });
});
