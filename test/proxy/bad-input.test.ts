/**
 * Hostile and malformed requests, each sent raw: a clear 4xx with a short JSON body, a log line naming the
 * error code (and never the credential), never a 500, nothing forwarded, and the server keeps serving.
 */
import { STATUS_CODES } from 'node:http';
import { beforeEach, describe, expect, it } from 'vitest';
import { useGate } from '../helpers/gate.js';
import { basicAuth, DEMO, logsSince } from '../helpers/trackgate.js';
import { portOf, rawRequest } from '../helpers/raw-http.js';

const AUTH = basicAuth(DEMO.user, DEMO.password);
const LIMIT = 1024 * 1024;

const gate = useGate({ config: { limits: { maxRequestBodyBytes: LIMIT } } });
beforeEach(() => { gate.up.received.length = 0; });

const b64 = (b: Buffer | string): string => Buffer.from(b).toString('base64');
/** A GET request head with the given extra header lines (CRLF-joined), as bytes. */
const head = (lines: (string | Buffer)[], target = '/x'): Buffer => Buffer.concat([
  Buffer.from(`GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\n`),
  ...lines.flatMap((l) => [Buffer.from(l), Buffer.from('\r\n')]),
  Buffer.from('\r\n'),
]);
const authed = (lines: (string | Buffer)[], target?: string): Buffer => head([`Authorization: ${AUTH}`, ...lines], target);

type Case = [name: string, payload: Buffer, status: number, code: string, secret?: string];

const CASES: Case[] = [
  // Credentials that cannot be read.
  ['Basic credentials that are not base64', head(['Authorization: Basic !!not*base64!!']), 400, 'TG_ERR_MALFORMED_CREDENTIALS', 'not*base64'],
  ['Basic credentials without a colon', head([`Authorization: Basic ${b64('j.random.user')}`]), 400, 'TG_ERR_MALFORMED_CREDENTIALS', b64('j.random.user')],
  ['Basic credentials that are not UTF-8', head([`Authorization: Basic ${b64(Buffer.from([0xc3, 0x28, 0x3a, 0x78]))}`]), 400, 'TG_ERR_MALFORMED_CREDENTIALS'],
  ['raw non-UTF-8 bytes in the Authorization value', head([Buffer.concat([Buffer.from('Authorization: Basic '), Buffer.from([0xc3, 0x28, 0xff])])]), 400, 'TG_ERR_MALFORMED_CREDENTIALS'],
  ['Basic credentials with a control character', head([`Authorization: Basic ${b64('j.random.user:pa\u0001ss')}`]), 400, 'TG_ERR_MALFORMED_CREDENTIALS'],
  ['a 64 KiB Authorization header', head([`Authorization: Basic ${'QUFB'.repeat(16 * 1024)}`]), 431, 'TG_ERR_HEADER_TOO_LARGE', 'QUFBQUFB'],
  ['a duplicated Authorization header', head([`Authorization: ${AUTH}`, `Authorization: ${basicAuth('admin', 'x')}`]), 400, 'TG_ERR_DUPLICATE_HEADER', AUTH.slice(6)],
  ['a duplicated, identical Authorization header', head([`Authorization: ${AUTH}`, `Authorization: ${AUTH}`]), 400, 'TG_ERR_DUPLICATE_HEADER', AUTH.slice(6)],
  // Header syntax the parser must refuse.
  ['a control character (0x01) in a header value', authed(['X-Note: a\u0001b']), 400, 'TG_ERR_BAD_REQUEST'],
  ['a NUL in a header value', authed(['X-Note: a\u0000b']), 400, 'TG_ERR_BAD_REQUEST'],
  ['a bare CR in a header value', authed(['X-Note: a\rb']), 400, 'TG_ERR_BAD_REQUEST'],
  ['a control character in the Authorization value', head([`Authorization: Basic ${b64('u:p')}\u0002`]), 400, 'TG_ERR_BAD_REQUEST'],
  ['obsolete line folding', authed(['X-Note: first', '  continued']), 400, 'TG_ERR_BAD_REQUEST'],
  ['a space before the colon', authed(['X-Note : v']), 400, 'TG_ERR_BAD_REQUEST'],
  // Body framing.
  ['an absurd Content-Length', authed(['Content-Length: 99999999999999999999']), 400, 'TG_ERR_BAD_REQUEST'],
  ['a non-numeric Content-Length', authed(['Content-Length: 12abc']), 400, 'TG_ERR_BAD_REQUEST'],
  ['a negative Content-Length', authed(['Content-Length: -1']), 400, 'TG_ERR_BAD_REQUEST'],
  ['two different Content-Length headers', authed(['Content-Length: 1', 'Content-Length: 2']), 400, 'TG_ERR_BAD_REQUEST'],
  ['a Content-Length one byte over the limit', authed([`Content-Length: ${LIMIT + 1}`]), 413, 'TG_ERR_BODY_TOO_LARGE'],
  ['Transfer-Encoding together with Content-Length', authed(['Transfer-Encoding: chunked', 'Content-Length: 5']), 400, 'TG_ERR_BAD_REQUEST'],
  ['an unknown Transfer-Encoding', authed(['Transfer-Encoding: chunked, x-unknown']), 400, 'TG_ERR_BAD_REQUEST'],
  // Headers that would let a client smuggle past the identity header or its credential checks.
  ['Connection naming the identity header', authed(['Connection: X-Identity-Assertion']), 400, 'TG_ERR_BAD_REQUEST'],
  ['Connection naming the identity header under another spelling', authed(['Connection: keep-alive, x_identity_assertion']), 400, 'TG_ERR_BAD_REQUEST'],
  ['Connection naming Authorization', authed(['Connection: Authorization']), 400, 'TG_ERR_BAD_REQUEST'],
  // Paths a prefix rule could read differently from the upstream.
  ['a dot-segment path', authed([], '/public/../private'), 400, 'TG_ERR_AMBIGUOUS_PATH'],
  ['an encoded dot-segment path', authed([], '/public/%2e%2e/private'), 400, 'TG_ERR_AMBIGUOUS_PATH'],
  ['an upper-case encoded dot-segment path', authed([], '/public/%2E%2E/private'), 400, 'TG_ERR_AMBIGUOUS_PATH'],
  ['a mixed encoded dot-segment path', authed([], '/public/.%2e/private'), 400, 'TG_ERR_AMBIGUOUS_PATH'],
  ['a single-dot segment', authed([], '/public/./private'), 400, 'TG_ERR_AMBIGUOUS_PATH'],
  ['a trailing dot-segment', authed([], '/public/..'), 400, 'TG_ERR_AMBIGUOUS_PATH'],
  ['an encoded slash', authed([], '/public%2f..%2fprivate'), 400, 'TG_ERR_AMBIGUOUS_PATH'],
  ['a backslash', authed([], '/public\\..\\private'), 400, 'TG_ERR_AMBIGUOUS_PATH'],
  ['an empty path segment', authed([], '//private'), 400, 'TG_ERR_AMBIGUOUS_PATH'],
  ['an absolute-form target', authed([], 'http://evil.example/x'), 400, 'TG_ERR_BAD_REQUEST'],
  // Requests Node would otherwise answer with a bare, unlogged 400 or a silent close.
  ['an HTTP/1.1 request without Host', Buffer.from(`GET /x HTTP/1.1\r\nAuthorization: ${AUTH}\r\n\r\n`), 400, 'TG_ERR_BAD_REQUEST'],
  ['a CONNECT request', Buffer.from(`CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\nAuthorization: ${AUTH}\r\n\r\n`), 405, 'TG_ERR_METHOD_NOT_ALLOWED'],
  ['an OPTIONS * request (cannot be forwarded)', Buffer.from(`OPTIONS * HTTP/1.1\r\nHost: x\r\nAuthorization: ${AUTH}\r\n\r\n`), 400, 'TG_ERR_BAD_REQUEST'],
  ['an h2c upgrade (only WebSocket is proxied)', authed(['Connection: Upgrade, HTTP2-Settings', 'Upgrade: h2c', 'HTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA']), 400, 'TG_ERR_BAD_REQUEST'],
  ['a WebSocket upgrade with POST', Buffer.from(`POST /live HTTP/1.1\r\nHost: x\r\nAuthorization: ${AUTH}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`), 400, 'TG_ERR_BAD_REQUEST'],
];

describe('malformed and hostile requests', () => {
  const table = CASES.map(([name, payload, status, code, secret]) => ({ name, payload, status, code, secret }));
  it.each(table)('$name → $status $code', async ({ payload, status, code, secret }) => {
    const from = gate.logs.length;
    const r = await rawRequest(portOf(gate.url), payload);
    expect(r.responses, `raw answer: ${r.raw.toString('latin1')} (${r.error ?? 'no socket error'})`).toHaveLength(1);
    const res = r.responses[0]!;
    expect(res.status).toBe(status);
    expect(res.reason).toBe(STATUS_CODES[status]);
    expect(res.headers['content-type']).toBe('application/json');
    expect(res.body.length).toBeLessThan(200);
    const body = JSON.parse(res.body.toString()) as { error: string; message: string };
    expect(body.error).toBe(code);
    expect(typeof body.message).toBe('string');
    expect(gate.up.received).toHaveLength(0);

    const lines = logsSince(gate.logs, from);
    const line = lines.find((l) => l.err === code);
    expect(line, JSON.stringify(lines)).toBeDefined();
    expect(line!.level).toBe('warn');
    if (secret !== undefined) expect(gate.logs.slice(from).join('\n')).not.toContain(secret);

    // Still serving, on a fresh connection.
    const ok = await fetch(`${gate.url}/after`, { headers: { authorization: AUTH } });
    expect(ok.status).toBe(200);
    await ok.arrayBuffer();
  });

  it('never answered 500 and never logged an internal error', () => {
    const records = gate.logRecords();
    expect(records.filter((l) => l.status === 500 || l.err === 'TG_ERR_INTERNAL')).toEqual([]);
    expect(records.filter((l) => l.level === 'error' || l.level === 'fatal')).toEqual([]);
  });
});
