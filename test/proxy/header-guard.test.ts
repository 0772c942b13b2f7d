/**
 * Request headers refused before authentication (src/proxy/header-guard.ts), nothing forwarded:
 * - a Host that is not `host[:port]` (RFC 9110 §7.2, RFC 3986 authority without userinfo): 400
 *   TG_ERR_INVALID_HOST; it never reaches X-Forwarded-Host;
 * - a header an upstream could take as body framing although trackgate does not (`Transfer_Encoding`,
 *   `Content.Length`, `Content_Encoding`: CGI/WSGI-style frameworks read `_`/`.` as `-`), and a Content-Encoding
 *   naming `chunked`: 400 TG_ERR_AMBIGUOUS_FRAMING, connection closed.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { isValidHost } from '../../src/proxy/host.js';
import { useGate } from '../helpers/gate.js';
import { basicAuth, DEMO } from '../helpers/trackgate.js';
import { portOf, rawGet, rawRequest } from '../helpers/raw-http.js';

const AUTH = `Authorization: ${basicAuth(DEMO.user, DEMO.password)}`;
const BAD = [
  'a/b?x=', 'a b', 'user@example.com', 'user:pw@example.com', 'example.com:80:81', 'example.com:', ':80', '',
  'example.com:99999', 'example.com:8o', '[::1', '[::1]x', '[::1]:', '[v1.fe]', '[fe80::1%25eth0]', '::1',
  'exa%6dple.com', 'a,b', 'a;b', 'a\\b', "a'b", 'a(b)', 'a#b', 'x'.repeat(300),
];
const GOOD = ['example.com', 'example.com:8080', 'EXAMPLE.com', '127.0.0.1', '127.0.0.1:1', '[::1]', '[::1]:8443', '[2001:db8::7]', 'xn--bcher-kva.example', 'under_score.example', 'localhost:65535'];

const gate = useGate({ config: { routes: [{ path: '/pub', access: 'public' }] } });
beforeEach(() => { gate.up.received.length = 0; });

describe('Host validation through trackgate', () => {
  it.each(BAD)('refuses Host %j with 400 TG_ERR_INVALID_HOST, nothing forwarded', async (host) => {
    for (const target of ['/x', '/pub']) {
      const r = await rawGet(portOf(gate.url), target, [`Host: ${host}`, AUTH]);
      expect(r.responses[0]?.status, r.raw.toString('latin1').slice(0, 200)).toBe(400);
      expect(JSON.parse(r.responses[0]!.body.toString())).toEqual({ error: 'TG_ERR_INVALID_HOST', message: 'invalid Host header' });
    }
    expect(gate.up.received).toHaveLength(0);
  });

  it.each(GOOD)('accepts Host %j and forwards it in X-Forwarded-Host', async (host) => {
    const r = await rawGet(portOf(gate.url), '/x', [`Host: ${host}`, AUTH]);
    expect(r.responses[0]?.status).toBe(200);
    expect(gate.up.received[0]!.headers['x-forwarded-host']).toBe(host);
  });

  it('does not log the refused value (it may hold user:password@)', async () => {
    const from = gate.logs.length;
    await rawGet(portOf(gate.url), '/x', ['Host: alice:s3cr3t-pw@example.com', AUTH]);
    const lines = gate.logs.slice(from).join('\n');
    expect(lines).toContain('TG_ERR_INVALID_HOST');
    expect(lines).not.toContain('s3cr3t-pw');
  });
});

describe('isValidHost', () => {
  it.each(BAD)('%j is not a host', (h) => expect(isValidHost(h)).toBe(false));
  it.each(GOOD)('%j is a host', (h) => expect(isValidHost(h)).toBe(true));
});

const post = (target: string, lines: string[], body = '0\r\n\r\n') =>
  `POST ${target} HTTP/1.1\r\nHost: x\r\n${[...lines, `Content-Length: ${body.length}`].join('\r\n')}\r\n\r\n${body}`;

describe('framing headers under another spelling', () => {
  it.each([
    ['Transfer_Encoding: chunked'], ['Transfer.Encoding: chunked'], ['transfer_encoding: chunked'], ['TRANSFER_ENCODING: identity'],
    ['Content_Length: 0'], ['Content.Length: 5'], ['Content_Encoding: gzip'], ['Content-Encoding: chunked'],
    ['Content-Encoding: gzip, chunked'], ['Content-Encoding: Chunked'], ['Content-Encoding: gzip', 'Content-Encoding: chunked'],
  ])('%s → 400 TG_ERR_AMBIGUOUS_FRAMING, connection closed, nothing forwarded', async (...lines) => {
    for (const target of ['/x', '/pub', '/rest/v2/token']) {
      const r = await rawRequest(portOf(gate.url), post(target, [AUTH, ...lines]), { waitClose: true });
      expect(r.responses[0]?.status, r.raw.toString('latin1').slice(0, 200)).toBe(400);
      expect(JSON.parse(r.responses[0]!.body.toString()).error).toBe('TG_ERR_AMBIGUOUS_FRAMING');
      expect(r.responses[0]!.headers.connection).toBe('close');
      expect(r.closed).toBe(true);
    }
    expect(gate.up.received).toHaveLength(0);
  });

  it('keeps serving, and a real Content-Encoding passes', async () => {
    const r = await rawRequest(portOf(gate.url), post('/x', [AUTH, 'Content-Encoding: gzip', 'Connection: close'], 'hello'));
    expect(r.responses[0]?.status).toBe(200);
    expect(gate.up.received[0]!.headers['content-encoding']).toBe('gzip');
  });
});
