/**
 * Issue 13 item 2: route rules are decided on the canonical path, and that is what goes upstream. Every
 * spelling an upstream could read as another path (Tomcat/Spring path parameters, IIS trailing dots and
 * `%u`, double encoding, overlong UTF-8, NUL, look-alikes, a fragment) is refused with 400
 * TG_ERR_AMBIGUOUS_PATH before any rule is looked at, for public, deny and kind-restricted rules alike;
 * a rule about GET covers HEAD; method overrides are refused; legit paths pass byte for byte.
 */
import { writeFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { stringify } from 'yaml';
import { WebSocketServer } from 'ws';
import { beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config-schema.js';
import { startGate, useGate } from '../helpers/gate.js';
import { basicAuth, DEMO, deepMerge, type TestGate, logsSince } from '../helpers/trackgate.js';
import { portOf, rawRequest, type RawResponse } from '../helpers/raw-http.js';

const AUTH = basicAuth(DEMO.user, DEMO.password);
const ROUTES = [
  { path: '/public', access: 'public' },
  { path: '/admin', access: { kinds: ['admin'] } },
  { path: '/closed', access: 'deny' },
  { path: '/reports', methods: ['GET'], access: 'deny' },
  { path: '/devices', methods: ['DELETE'], access: 'deny' },
  { path: '/caf%C3%A9', access: 'deny' },
];
/** The same rules with `routing.caseInsensitive` (an IIS/ASP.NET upstream). */

const gate = useGate({ config: { routes: ROUTES } });
const ci = useGate(() => ({ up: gate.up, config: { routes: ROUTES, routing: { caseInsensitive: true } } }));
beforeEach(() => { gate.up.received.length = 0; });

/** One raw request (the spellings below are ones fetch would normalise or refuse to send). */
async function send(g: TestGate, method: string, target: string, lines: string[] = [], body = ''): Promise<RawResponse> {
  const r = await rawRequest(portOf(g.url), [`${method} ${target} HTTP/1.1`, 'Host: 127.0.0.1', ...lines, 'Connection: close', '', body].join('\r\n'), {
    bodiless: method === 'HEAD' ? new Set([0]) : new Set(),
  });
  expect(r.responses, `${method} ${target}: ${r.raw.toString('latin1')}`).toHaveLength(1);
  return r.responses[0]!;
}

function expectAmbiguous(res: RawResponse, target: string): void {
  expect(res.status, target).toBe(400);
  const body = JSON.parse(res.body.toString()) as { error: string; message: string };
  expect(body.error, target).toBe('TG_ERR_AMBIGUOUS_PATH');
  expect(body.message.length).toBeLessThan(120);
}

/** A device login at `path` answered by trackgate's telematics dialect (its envelope), not forwarded. */
async function expectTelematicsLogin(g: TestGate, path: string): Promise<void> {
  const res = await fetch(`${g.url}${path}`, {
    method: 'POST', headers: { 'content-type': 'application/json', instanceid: DEMO.instanceId, instancekey: DEMO.instanceKey },
    body: JSON.stringify({ LoginFields: { deviceToken: DEMO.deviceToken }, Password: DEMO.instanceKey }),
  });
  expect(res.status, path).toBe(200);
  expect(Object.keys(await res.json() as object).sort()).toEqual(['Errors', 'Result', 'Status', 'Title']);
  expect(gate.up.received).toHaveLength(0);
}

/** Spellings that reach a protected path on some upstream kind; each with the rule it would dodge. */
const AMBIGUOUS: [cls: string, target: string][] = [
  // A public prefix, then a way back out that some upstream follows (no credentials sent).
  ['path parameter after ..', '/public/..;/admin/users'],
  ['path parameter before ..', '/public;x/../admin'],
  ['encoded dots with a parameter', '/public/%2e%2e;/closed'],
  ['double encoding', '/public/%252e%252e/admin'],
  ['double-encoded slash', '/public%252f..%252fclosed'],
  ['overlong UTF-8 dots', '/public/%c0%ae%c0%ae/admin'],
  ['three-byte overlong dots', '/public/%e0%80%ae%e0%80%ae/closed'],
  ['IIS %u dots', '/public/%u002e%u002e/admin'],
  ['IIS %u fullwidth dots', '/public/%uff0e%uff0e/closed'],
  ['fullwidth dots (UTF-8)', '/public/%EF%BC%8E%EF%BC%8E/admin'],
  ['fullwidth solidus', '/public%EF%BC%8F..%EF%BC%8Fclosed'],
  ['division slash (best-fit)', '/public/..%E2%88%95closed'],
  ['dots then NUL', '/public/..%00/admin'],
  ['dots then encoded space', '/public/..%20/closed'],
  ['three dots (Windows)', '/public/.../closed'],
  ['encoded backslash', '/public/..%5cadmin'],
  ['encoded slash', '/public/%2e%2e%2fclosed'],
  // A deny rule: the suffix a servlet container or IIS drops (credentials sent).
  ['path parameter', '/closed;x'],
  ['session id parameter', '/closed;jsessionid=0123ABCD/x'],
  ['parameter-only segment', '/closed/;/x'],
  ['encoded semicolon', '/closed%3bx'],
  ['trailing dot', '/closed.'],
  ['trailing dots', '/closed../x'],
  ['trailing space', '/closed%20'],
  ['trailing dot and space', '/closed.%20/x'],
  ['encoded trailing dot', '/closed%2e'],
  ['NUL', '/closed%00'],
  ['encoded tab', '/closed%09'],
  ['encoded DEL', '/closed%7f'],
  ['percent sign (double decoding)', '/closed%25'],
  ['malformed escape', '/closed%zz'],
  ['truncated escape', '/closed%2'],
  ['fragment', '/closed#x'],
  ['fullwidth letter', '/%EF%BD%83losed'],
  ['non-breaking space', '/closed%C2%A0'],
  ['zero-width space', '/closed%E2%80%8B'],
  ['byte order mark', '/closed%EF%BB%BF'],
  ['lone UTF-8 continuation byte', '/closed%80'],
  ['truncated UTF-8', '/closed%C3'],
  ['UTF-16 surrogate as UTF-8', '/closed%ED%A0%80'],
  ['backslash', '/closed\\x'],
  ['empty segment', '//closed'],
  ['character outside RFC 3986', '/closed{x}'],
  ['NTFS stream', '/closed::$DATA'],
  ['encoded NTFS stream', '/closed:%24DATA/x'],
  // `%3A` is matched decoded (pathKey) and IIS decodes it too: the same stream.
  ['NTFS stream, colons encoded', '/closed%3A%3A$DATA'],
  ['NTFS stream, one colon encoded', '/closed:%3A$DATA'],
  ['NTFS stream, all encoded', '/closed%3A%3A%24DATA'],
  // A kinds rule: the demo user is not an admin.
  ['admin with a session id', '/admin;jsessionid=ABC'],
  ['admin with a parameter segment', '/admin;/users'],
  ['admin, out and back in', '/admin/..;/admin/users'],
  ['admin with a trailing dot', '/admin./users'],
  ['admin with a trailing space', '/admin%20/users'],
  ['a token endpoint with a parameter', '/v1/Auth/Login;x'],
];

describe('ambiguous spellings are refused before any rule (400 TG_ERR_AMBIGUOUS_PATH)', () => {
  it.each(AMBIGUOUS)('%s: %s', async (_cls, target) => {
    for (const lines of [[], [`Authorization: ${AUTH}`]]) {
      expectAmbiguous(await send(gate, 'GET', target, lines), target);
    }
    expect(gate.up.received).toHaveLength(0);
  });

  it('logs the refusal as a warning with its detail, and never the credential or the query token', async () => {
    const from = gate.logs.length;
    const res = await send(gate, 'GET', '/closed;x?_token=SECRET-QUERY-TOKEN', [`Authorization: ${basicAuth(DEMO.user, 'SECRET-PASSWORD')}`]);
    expectAmbiguous(res, '/closed;x');
    const line = logsSince(gate.logs, from).find((l) => l.err === 'TG_ERR_AMBIGUOUS_PATH');
    expect(line).toMatchObject({ level: 'warn', status: 400, detail: 'semicolon in path', path: '/closed;x' });
    const text = gate.logs.slice(from).join('\n');
    expect(text).not.toContain('SECRET-QUERY-TOKEN');
    expect(text).not.toContain(Buffer.from(`${DEMO.user}:SECRET-PASSWORD`).toString('base64'));
  });
});

describe('spellings with one meaning are decoded, then the rule applies, and the decoded path is forwarded', () => {
  it.each([
    ['/clo%73ed', 403],
    ['/%61dmin/users', 403],
    ['/ADMIN/users', 200],
    ['/caf%c3%a9', 403],
    ['/caf%C3%A9/menu', 403],
  ])('%s → %i with the demo user', async (target, status) => {
    const res = await send(gate, 'GET', target, [`Authorization: ${AUTH}`]);
    expect(res.status).toBe(status);
    expect(gate.up.received.map((r) => r.url)).toEqual(status === 200 ? [target] : []);
  });

  it.each([
    ['/public/%7Euser', '/public/~user'],
    ['/public/a%2eb/%2Dc%5f', '/public/a.b/-c_'],
    ['/public/caf%c3%a8?q=%c3%a8', '/public/caf%C3%A8?q=%c3%a8'],
    ['/public/a%3ab%40c', '/public/a%3Ab%40c'],
    ['/%70ublic/x', '/public/x'],
  ])('%s is forwarded as %s (public, no identity header)', async (target, forwarded) => {
    const res = await send(gate, 'GET', target);
    expect(res.status).toBe(200);
    expect(gate.up.received.map((r) => r.url)).toEqual([forwarded]);
    expect(gate.up.received[0]!.headers['x-identity-assertion']).toBeUndefined();
  });
});

describe('legit paths pass and are forwarded byte for byte', () => {
  it.each([
    '/v1/Devices/ABC-1/positions',
    '/rest/v2/devices/d-1/track.csv?points=10;limit=2&x=a;b',
    '/.well-known/openid-configuration',
    '/v1/things:batchGet',
    '/users/a%40b.com/trips',
    '/users/a@b.com',
    '/search/two%20words/results',
    '/caf%C3%A8/%E5%9C%B0%E5%9B%BE',
    "/api/(x)/*/+/,/=/!/$/&/'/~u_v-w.x",
    '/rest/v2/devices/',
    '/',
  ])('%s', async (target) => {
    const res = await send(gate, 'GET', target, [`Authorization: ${AUTH}`]);
    expect(res.status).toBe(200);
    expect(gate.up.received.map((r) => r.url)).toEqual([target]);
    expect(gate.up.received[0]!.headers['x-identity-assertion']).toBeDefined();
  });

  it('the seed token endpoint POST /v1/Auth/Login (mixed case) is still served by trackgate', async () => {
    await expectTelematicsLogin(gate, '/v1/Auth/Login');
  });
});

describe('methods', () => {
  it('a deny rule about GET covers HEAD (frameworks answer HEAD with the GET handler)', async () => {
    for (const method of ['GET', 'HEAD']) {
      expect((await send(gate, method, '/reports/monthly', [`Authorization: ${AUTH}`])).status, method).toBe(403);
    }
    expect((await send(gate, 'POST', '/reports/monthly', [`Authorization: ${AUTH}`, 'Content-Length: 0'])).status).toBe(200);
    expect(gate.up.received.map((r) => r.method)).toEqual(['POST']);
  });

  it.each([
    ['X-HTTP-Method-Override: DELETE', '/devices/1'],
    ['X-HTTP-Method: DELETE', '/devices/1'],
    ['X-Method-Override: DELETE', '/devices/1'],
    ['x_http_method_override: DELETE', '/devices/1'],
    ['X-HTTP-Method-Override: GET', '/public/x'],
    [undefined, '/devices/1?_method=DELETE'],
    [undefined, '/devices/1?a=1&%5Fmethod=DELETE'],
  ])('a method override (%s %s) is refused with 400 TG_ERR_METHOD_OVERRIDE', async (header, target) => {
    const lines = [`Authorization: ${AUTH}`, 'Content-Length: 0', ...(header === undefined ? [] : [header])];
    const res = await send(gate, 'POST', target, lines);
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body.toString())).toMatchObject({ error: 'TG_ERR_METHOD_OVERRIDE' });
    expect(gate.up.received).toHaveLength(0);
  });

  it.each([
    ['application/x-www-form-urlencoded', '_method=DELETE'],
    ['multipart/form-data; boundary=b', '--b\r\nContent-Disposition: form-data; name="_method"\r\n\r\nDELETE\r\n--b--\r\n'],
    ['application/json', '{"_method":"DELETE"}'],
  ])('a POST body (%s) is refused where DELETE has a stricter rule: its _method is not read', async (type, body) => {
    const res = await send(gate, 'POST', '/devices/1', [`Authorization: ${AUTH}`, `Content-Type: ${type}`, `Content-Length: ${Buffer.byteLength(body)}`], body);
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body.toString())).toMatchObject({ error: 'TG_ERR_METHOD_OVERRIDE' });
    // Elsewhere a POST body is forwarded as ever: no rule there treats another method more strictly.
    expect((await send(gate, 'POST', '/other/1', [`Authorization: ${AUTH}`, `Content-Type: ${type}`, `Content-Length: ${Buffer.byteLength(body)}`], body)).status).toBe(200);
    expect(gate.up.received.map((r) => [r.method, r.url, r.bodyBytes])).toEqual([['POST', '/other/1', Buffer.byteLength(body)]]);
  });

  it('the methods a rule lists are still the only ones it applies to', async () => {
    expect((await send(gate, 'DELETE', '/devices/1', [`Authorization: ${AUTH}`])).status).toBe(403);
    expect((await send(gate, 'POST', '/devices/1', [`Authorization: ${AUTH}`, 'Content-Length: 0'])).status).toBe(200);
  });
});

describe('routing.caseInsensitive', () => {
  it.each([
    ['/ADMIN/users', 403],
    ['/Closed/x', 403],
    ['/CAF%C3%89', 403],
    ['/Reports', 403],
    ['/v1/devices', 200],
  ])('%s → %i with the demo user', async (target, status) => {
    const res = await send(ci, 'GET', target, [`Authorization: ${AUTH}`]);
    expect(res.status).toBe(status);
    expect(gate.up.received.map((r) => r.url)).toEqual(status === 200 ? [target] : []);
  });

  it('a public prefix in another case is public, and is forwarded in the client\'s case', async () => {
    expect((await send(ci, 'GET', '/PUBLIC/Page')).status).toBe(200);
    expect(gate.up.received.map((r) => r.url)).toEqual(['/PUBLIC/Page']);
  });

  it.each(['/adm%C4%B1n', '/clo%C5%BFed', '/stra%C3%9Fe', '/%CF%82', '/%E2%84%AAey'])('%s (a letter whose case maps to ASCII or is not one pair) is refused', async (target) => {
    expectAmbiguous(await send(ci, 'GET', target, [`Authorization: ${AUTH}`]), target);
    expect(gate.up.received).toHaveLength(0);
  });

  it('the same letters pass when case does not matter to the rules', async () => {
    expect((await send(gate, 'GET', '/adm%C4%B1n', [`Authorization: ${AUTH}`])).status).toBe(200);
  });

  it('token endpoints match in any case too, as the upstream would', async () => {
    await expectTelematicsLogin(ci, '/V1/AUTH/login');
    await expectTelematicsLogin(ci, '/v1/Auth/Login');
  });
});

describe('WebSocket upgrades use the same canonical path', () => {
  it('refuses an ambiguous upgrade path and forwards the canonical spelling of a good one', async () => {
    const upgrades: IncomingMessage[] = [];
    const wss = new WebSocketServer({ noServer: true });
    const onUpgrade = (req: IncomingMessage, socket: import('node:stream').Duplex, head: Buffer): void => {
      upgrades.push(req);
      wss.handleUpgrade(req, socket, head, () => undefined);
    };
    gate.up.server.on('upgrade', onUpgrade);
    try {
      const handshake = (target: string): string => [
        `GET ${target} HTTP/1.1`, `Host: 127.0.0.1:${(gate.up.server.address() as AddressInfo).port}`, `Authorization: ${AUTH}`,
        'Connection: Upgrade', 'Upgrade: websocket', 'Sec-WebSocket-Version: 13', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==', '', '',
      ].join('\r\n');
      const bad = await rawRequest(portOf(gate.url), handshake('/closed;x/live'));
      expectAmbiguous(bad.responses[0]!, '/closed;x/live');
      const good = await rawRequest(portOf(gate.url), handshake('/public/%7Elive?a=1'));
      expect(good.responses[0]?.status, good.raw.toString('latin1')).toBe(101);
      expect(upgrades.map((r) => r.url)).toEqual(['/public/~live?a=1']);
    } finally {
      gate.up.server.removeListener('upgrade', onUpgrade);
      for (const c of wss.clients) c.terminate();
      wss.close();
    }
  });
});

describe('the identity header binds the canonical path', () => {
  it('htu is the forwarded path', async () => {
    const g = await startGate({ up: gate.up, config: { identity: { bindToRequest: true } } });
    try {
      expect((await send(g, 'GET', '/v1/%7Edevices?x=1', [`Authorization: ${AUTH}`])).status).toBe(200);
      const rec = gate.up.received[0]!;
      expect(rec.url).toBe('/v1/~devices?x=1');
      const claims = JSON.parse(Buffer.from((rec.headers['x-identity-assertion'] as string).split('.')[1]!, 'base64url').toString()) as { htu: string };
      expect(claims.htu).toBe('/v1/~devices');
    } finally {
      await g.close();
    }
  });
});

describe('rule paths are validated at config load', () => {
  it.each(['/a;b', '/a/../b', '/a/./b', '//a', '/a//b', '/adm%69n', '/a%2fb', '/caf%c3%a9', '/a.', '/a%20', '/a%u002e', '/a#b', '/a\\b', '/caf\u00e9'])('%s is refused', (path) => {
    const file = `${gate.dir}/bad-rule.yaml`;
    writeFileSync(file, stringify({ routes: [{ path, access: 'public' }] }));
    expect(() => loadConfig(file, {})).toThrow(/routes\.0\.path.*canonical|canonical.*routes/s);
  });

  it('a rule path whose letters are ambiguous in case-insensitive mode is refused on reload, and the running rules stay; the routing keys apply on reload', async () => {
    const g = await startGate({ up: gate.up, config: { routes: ROUTES } });
    try {
      const config = (extra: Record<string, unknown>): string => stringify(deepMerge({
        listen: '127.0.0.1:0', admin: { listen: '127.0.0.1:0' }, upstream: { url: gate.up.url },
        store: { url: `sqlite:${g.dir}/store.sqlite` }, accountsFile: 'accounts.yaml', watch: false,
        identity: { issuer: 'trackgate-test', audience: 'upstream-test' }, routes: ROUTES,
      }, extra));
      writeFileSync(g.configFile, config({ routing: { caseInsensitive: true }, routes: [...ROUTES, { path: '/adm%C4%B1n', access: 'public' }] }));
      expect(g.app.reload()).toBe(false);
      expect((await send(g, 'GET', '/ADMIN/users', [`Authorization: ${AUTH}`])).status).toBe(200);

      // routing.caseInsensitive applies on reload.
      writeFileSync(g.configFile, config({ routing: { caseInsensitive: true } }));
      expect(g.app.reload()).toBe(true);
      expect((await send(g, 'GET', '/ADMIN/users', [`Authorization: ${AUTH}`])).status).toBe(403);
      writeFileSync(g.configFile, config({ routing: { caseInsensitive: false } }));
      expect(g.app.reload()).toBe(true);
      expect((await send(g, 'GET', '/ADMIN/users', [`Authorization: ${AUTH}`])).status).toBe(200);

      // routing.bodyMethodOverride applies on reload.
      const post = (): Promise<RawResponse> => send(g, 'POST', '/devices/1', [`Authorization: ${AUTH}`, 'Content-Type: application/x-www-form-urlencoded', 'Content-Length: 3'], 'a=1');
      expect((await post()).status).toBe(400);
      writeFileSync(g.configFile, config({ routing: { bodyMethodOverride: false } }));
      expect(g.app.reload()).toBe(true);
      expect((await post()).status).toBe(200);
    } finally {
      await g.close();
    }
  });
});
