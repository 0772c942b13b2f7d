/**
 * Headers that an upstream could take as body framing although trackgate does not: a `Transfer_Encoding`,
 * `Content.Length` or `Content_Encoding` (CGI/WSGI-style frameworks read `_`/`.` as `-`), and a Content-Encoding
 * naming `chunked`. Each is refused with 400 TG_ERR_AMBIGUOUS_FRAMING before authentication, the connection is
 * closed, nothing reaches the upstream, and the next connection is served.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { basicAuth, DEMO, startTrackgate, type TestGate } from '../helpers/trackgate.js';
import { portOf, rawRequest } from './_util.js';

const AUTH = `Authorization: ${basicAuth(DEMO.user, DEMO.password)}`;

let up: RecordingUpstream;
let gate: TestGate;
beforeAll(async () => {
  up = await startRecordingUpstream();
  gate = await startTrackgate({ upstreamUrl: up.url, config: { routes: [{ path: '/pub', access: 'public' }] } });
});
afterAll(async () => { await gate.close(); await up.close(); });
beforeEach(() => { up.received.length = 0; });

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
    expect(up.received).toHaveLength(0);
  });

  it('keeps serving, and a real Content-Encoding passes', async () => {
    const r = await rawRequest(portOf(gate.url), post('/x', [AUTH, 'Content-Encoding: gzip', 'Connection: close'], 'hello'));
    expect(r.responses[0]?.status).toBe(200);
    expect(up.received[0]!.headers['content-encoding']).toBe('gzip');
  });
});
