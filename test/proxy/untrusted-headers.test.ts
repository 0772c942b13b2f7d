/**
 * Client headers an upstream could take as a front proxy's verdict (who the user is, the client's address, the
 * original URL) never reach it, under any spelling that normalises to the name; `proxy.stripHeaders` adds to the
 * built-in list and `proxy.keepHeaders` takes entries out of it, live on reload.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { beforeEach, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { configSchema } from '../../src/config-schema.js';
import { DEFAULT_STRIPPED_HEADERS, UntrustedHeaders } from '../../src/proxy/untrusted-headers.js';
import { startGate, useGate } from '../helpers/gate.js';
import { basicAuth, DEMO, type TestGate } from '../helpers/trackgate.js';
import { headerNames, portOf, rawGet } from '../helpers/raw-http.js';

const AUTH = `Authorization: ${basicAuth(DEMO.user, DEMO.password)}`;
/** The headers the issue names, and a few of each family of the built-in list. */
const NAMED = [
  'X-Real-IP', 'X-User-Id', 'X-Auth-User', 'X-Remote-User', 'X-Forwarded-User', 'X-Authenticated-User',
  'X-Authenticated-Userid', 'Remote-User', 'X-Client-IP', 'True-Client-IP', 'CF-Connecting-IP', 'X-Original-URL',
  'X-Rewrite-URL', 'X-Forwarded-Prefix', 'X-Forwarded-Port', 'X-Forwarded-Server', 'X-Auth-Request-User',
  'X-Auth-Request-Email', 'X-Credential-Identifier', 'X-Consumer-Username', 'X-Amzn-Oidc-Identity',
  'X-Goog-Authenticated-User-Email', 'X-MS-Client-Principal-Name', 'X-Forwarded-Client-Cert',
];
/** The spellings of one name that frameworks read as that name. */
const spellings = (name: string): string[] => [name, name.toLowerCase(), name.toUpperCase(), name.replace(/-/g, '_'), name.replace(/-/g, '.')];

const gate = useGate();
beforeEach(() => { gate.up.received.length = 0; });

/** One request with `lines`; returns what the upstream received. */
async function upstreamGot(g: TestGate, lines: string[]) {
  const before = gate.up.received.length;
  const r = await rawGet(portOf(g.url), '/x', [AUTH, ...lines]);
  expect(r.responses[0]?.status, r.raw.toString('latin1').slice(0, 300)).toBe(200);
  expect(gate.up.received.length).toBe(before + 1);
  return gate.up.received.at(-1)!;
}

const normal = (n: string) => n.toLowerCase().replace(/[_.]/g, '-');

describe('built-in stripped headers', () => {
  it.each(NAMED)('%s never reaches the upstream, in any spelling', async (name) => {
    const lines = spellings(name).map((s, i) => `${s}: spoof-${i}`);
    const rec = await upstreamGot(gate, lines);
    expect(headerNames(rec.rawHeaders).map(normal)).not.toContain(name.toLowerCase());
    expect(rec.rawHeaders.join('\n')).not.toContain('spoof-');
    expect(rec.headers['x-identity-assertion']).toBeDefined();
  });

  it('other headers still pass exactly as sent, underscores and dots included', async () => {
    const rec = await upstreamGot(gate, ['X-Device-Serial: 12_34', 'X_Custom_Thing: a', 'X.Trace.Id: b', 'Accept-Language: de']);
    expect(rec.headers).toMatchObject({ 'x-device-serial': '12_34', x_custom_thing: 'a', 'x.trace.id': 'b', 'accept-language': 'de' });
  });

  it('a spelling of a hop-by-hop, credential or forwarding header is dropped too', async () => {
    const rec = await upstreamGot(gate, [
      'Proxy_Authorization: Basic Zm9vOmJhcg==', 'Keep_Alive: timeout=1', 'Proxy.Connection: close',
      'X_Forwarded_For: 10.9.9.9', 'X.Forwarded.Host: evil.example', 'X_Forwarded_Proto: https', 'X_Request_Id: other', 'Content_Type: text/evil',
    ]);
    const names = headerNames(rec.rawHeaders);
    for (const n of ['proxy_authorization', 'keep_alive', 'proxy.connection', 'x_forwarded_for', 'x.forwarded.host', 'x_forwarded_proto', 'x_request_id', 'content_type']) {
      expect(names, n).not.toContain(n);
    }
    expect(rec.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(rec.headers['x-forwarded-proto']).toBe('http');
  });

  it('X-Forwarded-* and Forwarded from a client that is not a trusted proxy are replaced or dropped', async () => {
    const rec = await upstreamGot(gate, [
      'X-Forwarded-For: 203.0.113.9', 'X-Forwarded-For: 198.51.100.1', 'X-Forwarded-Proto: https', 'X-Forwarded-Host: evil.example',
      'Forwarded: for=203.0.113.9;proto=https;host=evil.example',
    ]);
    expect(rec.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(rec.headers['x-forwarded-proto']).toBe('http');
    expect(rec.headers['x-forwarded-host']).toBe(`127.0.0.1:${portOf(gate.url)}`);
    expect(rec.headers.forwarded).toBeUndefined();
    expect(rec.rawHeaders.join('\n')).not.toMatch(/203\.0\.113\.9|198\.51\.100\.1|evil\.example/);
  });
});

describe('proxy.stripHeaders and proxy.keepHeaders', () => {
  it('strips configured names and prefixes, keeps configured built-ins, and applies a change on reload', async () => {
    const g = await startGate({
      up: gate.up,
      config: { proxy: { stripHeaders: ['X-Tenant', 'x-acme-*'], keepHeaders: ['x-real-ip', 'X-Auth-Request-Email'] } },
    });
    try {
      const lines = ['X_Tenant: t1', 'X-Acme-Role: admin', 'x.acme.user: bob', 'X-Real-IP: 192.0.2.1', 'X-Auth-Request-Email: a@example.com', 'X-Auth-Request-User: bob'];
      let rec = await upstreamGot(g, lines);
      let names = headerNames(rec.rawHeaders);
      for (const n of ['x_tenant', 'x-acme-role', 'x.acme.user', 'x-auth-request-user']) expect(names, n).not.toContain(n);
      expect(rec.headers['x-real-ip']).toBe('192.0.2.1');
      expect(rec.headers['x-auth-request-email']).toBe('a@example.com');

      const file = parse(readFileSync(g.configFile, 'utf8')) as Record<string, unknown>;
      writeFileSync(g.configFile, stringify({ ...file, proxy: {} }));
      expect(g.app.reload()).toBe(true);
      rec = await upstreamGot(g, lines);
      names = headerNames(rec.rawHeaders);
      expect(rec.headers.x_tenant).toBe('t1');
      expect(rec.headers['x-acme-role']).toBe('admin');
      expect(names).not.toContain('x-real-ip');
      expect(names).not.toContain('x-auth-request-email');
    } finally {
      await g.close();
    }
  });

  it('refuses a keepHeaders entry that is not a built-in stripped header, and header patterns that are not names', () => {
    const bad = (proxy: Record<string, unknown>) => configSchema.safeParse({ proxy }).error?.issues.map((i) => i.message).join('; ');
    expect(bad({ keepHeaders: ['authorization'] })).toMatch(/authorization is not a built-in stripped header/);
    expect(bad({ keepHeaders: ['x-identity-assertion'] })).toMatch(/not a built-in stripped header/);
    expect(bad({ stripHeaders: ['bad header'] })).toMatch(/header name/);
    expect(bad({ stripHeaders: ['*'] })).toMatch(/header name/);
    expect(bad({ keepHeaders: ['X_Real_IP', 'x-auth-request-*', 'x-auth-request-email'], stripHeaders: ['x-foo-*'] })).toBeUndefined();
  });

  it('matches names and prefixes after normalising, and keep wins over the built-in list', () => {
    const u = new UntrustedHeaders(['x-acme-*'], ['x-consumer-id']);
    expect(u.has('x-acme-')).toBe(true);
    expect(u.has('x-acme-anything')).toBe(true);
    expect(u.has('x-acm')).toBe(false);
    expect(u.has('x-consumer-username')).toBe(true);
    expect(u.has('x-consumer-id')).toBe(false);
    expect(u.has('x-real-ip')).toBe(true);
    expect(u.has('x-realip')).toBe(false);
    // Every built-in entry is in its normal form, so configured spellings and the request's compare equal.
    for (const d of DEFAULT_STRIPPED_HEADERS) expect(d).toBe(normal(d));
  });
});
