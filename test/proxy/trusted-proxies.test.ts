/**
 * `proxy.trustedProxies`: only a trusted peer's forwarding headers are believed. Its X-Forwarded-For chain is
 * kept and extended, and the client address (throttle key, access log) is the chain's right-most entry that is
 * not a trusted proxy; its X-Forwarded-Proto/-Host/-Port/-Prefix/-Server and Forwarded are passed on. The tests
 * connect from 127.0.0.1, so trusting 127.0.0.1 makes the test client the trusted proxy.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { configSchema } from '../../src/config-schema.js';
import { TrustedProxies } from '../../src/proxy/trusted-proxies.js';
import { startGate, useGate } from '../helpers/gate.js';
import { basicAuth, DEMO, type TestGate } from '../helpers/trackgate.js';
import { headerNames, portOf, rawGet } from '../helpers/raw-http.js';
import { waitFor } from '../helpers/wait.js';

const AUTH = `Authorization: ${basicAuth(DEMO.user, DEMO.password)}`;
/** A wrong password not tried before (a repeated one is answered from the negative cache, not counted again). */
let wrongs = 0;
const wrong = () => `Authorization: ${basicAuth(DEMO.user, `wrong-${++wrongs}`)}`;

const gate = useGate({
  // ip limit 3: the fourth failed check from one client address is refused; no per-user limit.
  config: { proxy: { trustedProxies: ['127.0.0.1', '10.0.0.0/8'] }, throttle: { ip: { limit: 3 }, user: { limit: 0 } } },
});

async function send(g: TestGate, lines: string[]) {
  const before = gate.up.received.length;
  const r = await rawGet(portOf(g.url), '/x', lines);
  return { status: r.responses[0]?.status, rec: gate.up.received.length > before ? gate.up.received.at(-1)! : undefined };
}

const accessIp = async (g: TestGate, from: number) => {
  const line = await waitFor(() => g.logRecords().slice(from).find((l) => l.msg === 'request' || l.msg === 'request rejected'));
  return line?.ip;
};

describe('from a trusted proxy', () => {
  it('keeps and extends its X-Forwarded-For, and logs the right-most untrusted entry as the client', async () => {
    const from = gate.logs.length;
    const { status, rec } = await send(gate, [AUTH, 'X-Forwarded-For: 198.51.100.7, 203.0.113.9, 10.1.2.3']);
    expect(status).toBe(200);
    expect(rec!.headers['x-forwarded-for']).toBe('198.51.100.7, 203.0.113.9, 10.1.2.3, 127.0.0.1');
    expect(await accessIp(gate, from)).toBe('203.0.113.9');
  });

  it('believes its X-Forwarded-Proto/-Host/-Port/-Prefix/-Server and extends its Forwarded', async () => {
    const { rec } = await send(gate, [
      AUTH, 'X-Forwarded-For: 203.0.113.9', 'X-Forwarded-Proto: https', 'X-Forwarded-Host: gps.example.com', 'X-Forwarded-Port: 443',
      'X-Forwarded-Prefix: /api', 'X-Forwarded-Server: edge-1', 'Forwarded: for=203.0.113.9;proto=https',
    ]);
    expect(rec!.headers).toMatchObject({
      'x-forwarded-proto': 'https', 'x-forwarded-host': 'gps.example.com', 'x-forwarded-port': '443', 'x-forwarded-prefix': '/api',
      'x-forwarded-server': 'edge-1', forwarded: `for=203.0.113.9;proto=https, for=127.0.0.1;host="127.0.0.1:${portOf(gate.url)}";proto=https`,
    });
  });

  it('still strips identity headers and spelled variants of forwarding headers, and replaces an invalid X-Forwarded-Host', async () => {
    const { rec } = await send(gate, [AUTH, 'X-Remote-User: admin', 'X_Forwarded_Port: 1', 'X-Forwarded-Host: a/b?x=']);
    const names = headerNames(rec!.rawHeaders);
    expect(names).not.toContain('x-remote-user');
    expect(names).not.toContain('x_forwarded_port');
    expect(rec!.headers['x-forwarded-host']).toBe(`127.0.0.1:${portOf(gate.url)}`);
  });

  it('throttles per forwarded client address: one client\'s failures do not lock out another behind the same proxy', async () => {
    const a = ['X-Forwarded-For: 192.0.2.10'];
    for (let i = 0; i < 3; i++) expect((await send(gate, [wrong(), ...a])).status).toBe(401);
    expect((await send(gate, [wrong(), ...a])).status).toBe(429);
    expect((await send(gate, [AUTH, 'X-Forwarded-For: 192.0.2.11'])).status).toBe(200);
    // A client cannot escape its own count by prepending entries: the right-most untrusted one is its address.
    expect((await send(gate, [wrong(), 'X-Forwarded-For: 192.0.2.99, 192.0.2.10'])).status).toBe(429);
  });
});

describe('from an untrusted peer, and on reload', () => {
  it('replaces the forwarding headers, and trusting the peer on reload takes effect at once', async () => {
    const g = await startGate({ up: gate.up, config: { proxy: { trustedProxies: ['10.0.0.0/8'] } } });
    try {
      const lines = [AUTH, 'X-Forwarded-For: 203.0.113.9', 'X-Forwarded-Proto: https', 'X-Forwarded-Port: 443'];
      let from = g.logs.length;
      let { rec } = await send(g, lines);
      expect(rec!.headers['x-forwarded-for']).toBe('127.0.0.1');
      expect(rec!.headers['x-forwarded-proto']).toBe('http');
      expect(headerNames(rec!.rawHeaders)).not.toContain('x-forwarded-port');
      expect(await accessIp(g, from)).toBe('127.0.0.1');

      const file = parse(readFileSync(g.configFile, 'utf8')) as Record<string, unknown>;
      writeFileSync(g.configFile, stringify({ ...file, proxy: { trustedProxies: ['127.0.0.0/8'] } }));
      expect(g.app.reload()).toBe(true);
      from = g.logs.length;
      ({ rec } = await send(g, lines));
      expect(rec!.headers['x-forwarded-for']).toBe('203.0.113.9, 127.0.0.1');
      expect(rec!.headers['x-forwarded-proto']).toBe('https');
      expect(rec!.headers['x-forwarded-port']).toBe('443');
      expect(await accessIp(g, from)).toBe('203.0.113.9');
    } finally {
      await g.close();
    }
  });

  it('trustForwardedProto still believes X-Forwarded-Proto from any peer, and nothing else', async () => {
    const g = await startGate({ up: gate.up, config: { proxy: { trustForwardedProto: true } } });
    try {
      const { rec } = await send(g, [AUTH, 'X-Forwarded-For: 203.0.113.9', 'X-Forwarded-Proto: https']);
      expect(rec!.headers['x-forwarded-proto']).toBe('https');
      expect(rec!.headers['x-forwarded-for']).toBe('127.0.0.1');
    } finally {
      await g.close();
    }
  });
});

describe('TrustedProxies', () => {
  const p = new TrustedProxies(['10.0.0.0/8', '192.0.2.1', 'fd00::/8'], false);

  it.each([
    ['10.0.0.1', undefined, '10.0.0.1'],
    ['10.0.0.1', '203.0.113.9', '203.0.113.9'],
    ['10.0.0.1', '1.1.1.1, 203.0.113.9, 10.2.2.2, 192.0.2.1', '203.0.113.9'],
    ['10.0.0.1', '10.3.3.3, 10.2.2.2', '10.3.3.3'],
    ['10.0.0.1', '203.0.113.9:5555', '203.0.113.9'],
    ['10.0.0.1', '[2001:db8::1]:443, fd00::2', '2001:db8::1'],
    ['10.0.0.1', '2001:db8::7', '2001:db8::7'],
    ['10.0.0.1', '203.0.113.9, unknown, 10.2.2.2', '10.2.2.2'],
    ['10.0.0.1', 'garbage', '10.0.0.1'],
    ['10.0.0.1', '', '10.0.0.1'],
  ])('peer %s, X-Forwarded-For %j → client %s', (peer, xff, client) => {
    expect(p.clientAddress(peer, xff)).toBe(client);
  });

  it('matches addresses, ranges and IPv4-mapped IPv6 peers; an empty list trusts no one', () => {
    expect(p.trusts('10.255.0.1')).toBe(true);
    expect(p.trusts('::ffff:10.1.1.1')).toBe(true);
    expect(p.trusts('192.0.2.1')).toBe(true);
    expect(p.trusts('192.0.2.2')).toBe(false);
    expect(p.trusts('fd12::1')).toBe(true);
    expect(p.trusts('11.0.0.1')).toBe(false);
    expect(p.trusts('not-an-ip')).toBe(false);
    expect(new TrustedProxies([], true).trusts('127.0.0.1')).toBe(false);
  });

  it('refuses a trustedProxies entry that is not an address or CIDR range', () => {
    for (const bad of ['10.0.0.0/33', 'fd00::/129', 'example.com', '10.0.0.0/', '10.0.0/8', '*']) {
      expect(configSchema.safeParse({ proxy: { trustedProxies: [bad] } }).success, bad).toBe(false);
    }
    expect(configSchema.safeParse({ proxy: { trustedProxies: ['10.0.0.0/8', '::1', '192.0.2.1/32'] } }).success).toBe(true);
  });
});
