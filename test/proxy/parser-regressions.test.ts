/**
 * Regression tests for the parser and framing bugs the reliability suite found (issue 13; the generated
 * cases are in test/reliability/): each one request, so `npm test` keeps them fixed too.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { useGate } from '../helpers/gate.js';
import { basicAuth, DEMO, logsSince } from '../helpers/trackgate.js';
import { portOf, rawRequest } from '../helpers/raw-http.js';
import { waitFor } from '../helpers/wait.js';

const AUTH = basicAuth(DEMO.user, DEMO.password);

const gate = useGate({ config: { authn: { session_token: { enabled: true } } } });
beforeEach(() => { gate.up.received.length = 0; });

const get = (target: string, lines = '', version = 'HTTP/1.1'): string => `GET ${target} ${version}\r\nHost: 127.0.0.1\r\n${lines}\r\n`;

describe('credentials the parsers used to leak', () => {
  it('a token68 under the Digest scheme is refused without being echoed into the log', async () => {
    const from = gate.logs.length;
    const secret = 'dXNlcjpzM2NyZXQtcGFzc3dvcmQ';
    const r = await rawRequest(portOf(gate.url), get('/x', `Authorization: Digest ${secret}==\r\n`));
    expect(r.responses[0]?.status).toBe(400);
    expect(logsSince(gate.logs, from).some((l) => l.err === 'TG_ERR_MALFORMED_CREDENTIALS')).toBe(true);
    expect(gate.logs.slice(from).join('\n').toLowerCase()).not.toContain(secret.slice(0, 16).toLowerCase());
  });

  it('a `_token` after a doubled "?" (`/p??_token=`), which the request view reads, is stripped before forwarding and logging', async () => {
    const issued = await gate.app.tokens.issue({ type: 'session', issuer: 'gps_rest_v2', subject: DEMO.user, kind: 'user', ttlSeconds: 600 });
    const from = gate.logs.length;
    const r = await rawRequest(portOf(gate.url), get(`/p??_token=${issued.value}&a=1`));
    expect(r.responses[0]?.status).toBe(200);
    expect(gate.up.received).toHaveLength(1);
    expect(gate.up.received[0]!.url).toBe('/p?a=1');
    expect(gate.logs.slice(from).join('\n')).not.toContain(issued.value);
  });
});

describe('framing', () => {
  it.each(['HTTP/2.0', 'HTTP/0.9'])('a %s request line is refused with 400, not forwarded as HTTP/1.1', async (version) => {
    const r = await rawRequest(portOf(gate.url), get('/x', `Authorization: ${AUTH}\r\n`, version));
    expect(r.responses[0]?.status).toBe(400);
    expect(JSON.parse(r.responses[0]!.body.toString()).error).toBe('TG_ERR_BAD_REQUEST');
    expect(gate.up.received).toHaveLength(0);
  });

  it('unreadable bytes after a good pipelined request: its own answer comes first, then the 400 and the close', async () => {
    const r = await rawRequest(portOf(gate.url), `${get('/good', `Authorization: ${AUTH}\r\n`)}\u0000garbage\r\n\r\n`, { waitClose: true });
    expect(r.responses.map((x) => x.status)).toEqual([200, 400]);
    expect(JSON.parse(r.responses[0]!.body.toString()).url).toBe('/good');
    expect(r.closed).toBe(true);
  });

  it('data after an HTTP/1.0 request (no keep-alive): the request is answered, nothing after it is read or answered', async () => {
    const r = await rawRequest(portOf(gate.url), `GET /one HTTP/1.0\r\nAuthorization: ${AUTH}\r\n\r\n${get('/two', `Authorization: ${AUTH}\r\n`)}`, { waitClose: true });
    expect(r.responses.map((x) => x.status)).toEqual([200]);
    expect(gate.up.received.map((x) => x.url)).toEqual(['/one']);
  });

  it('a token-endpoint body cut off by a framing error is a client error, not TG_ERR_INTERNAL', async () => {
    const from = gate.logs.length;
    await rawRequest(portOf(gate.url), 'POST /auth/password HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{"a\r\nzz\r\n', { waitClose: true });
    // The handler notices the cut-off body when the socket closes: wait for its access line.
    const lines = await waitFor(() => { const l = logsSince(gate.logs, from); return l.some((x) => x.path === '/auth/password' && x.msg !== 'token endpoint error') ? l : undefined; });
    expect(lines).toBeDefined();
    expect(lines!.filter((l) => l.err === 'TG_ERR_INTERNAL' || (typeof l.status === 'number' && l.status >= 500))).toEqual([]);
  });
});
