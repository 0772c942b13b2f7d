/**
 * Bodies stream through in both directions without being buffered: a 64 MiB upload and chunked uploads
 * arrive intact, a 256 MiB download reaches a slow client intact while back-pressure holds the upstream and
 * the process memory stays flat, and the request body limit answers 413 (declared or streamed).
 */
import { createHash } from 'node:crypto';
import { request, type IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { basicAuth, DEMO, startTrackgate, type TestGate } from '../helpers/trackgate.js';
import { portOf, rawRequest, sleep, waitFor } from './_util.js';

const AUTH = basicAuth(DEMO.user, DEMO.password);
const MiB = 1024 * 1024;
const CHUNK = 64 * 1024;
/** Seven distinct, preallocated 64 KiB chunks, cycled: a dropped, repeated or reordered chunk changes the digest. */
const CHUNKS = Array.from({ length: 7 }, (_, i) => createHash('sha512').update(`chunk-${i}`).digest().toString('hex').repeat(CHUNK / 128)).map((s) => Buffer.from(s));

/** A generated body of `total` bytes (never held in memory); `digest()` is the sha256 of what was produced. */
function generated(total: number, chunk = CHUNK): { stream: Readable; digest: () => string } {
  const hash = createHash('sha256');
  let sent = 0;
  let i = 0;
  const stream = new Readable({
    read() {
      if (sent >= total) { this.push(null); return; }
      const c = CHUNKS[i++ % CHUNKS.length]!.subarray(0, Math.min(chunk, total - sent));
      sent += c.length;
      hash.update(c);
      this.push(c);
    },
  });
  return { stream, digest: () => hash.digest('hex') };
}

/** Sends a body through node:http; resolves with the response and its text. */
async function upload(url: string, body: Readable, headers: Record<string, string>): Promise<{ res: IncomingMessage; text: string }> {
  const req = request(url, { method: 'PUT', headers: { authorization: AUTH, ...headers } });
  const response = new Promise<IncomingMessage>((resolve, reject) => { req.once('response', resolve); req.once('error', reject); });
  await pipeline(body, req);
  const res = await response;
  let text = '';
  for await (const c of res) text += (c as Buffer).toString();
  return { res, text };
}

let up: RecordingUpstream;
let gate: TestGate;
let small: TestGate;
const LIMIT = 1 * MiB;

beforeAll(async () => {
  up = await startRecordingUpstream();
  gate = await startTrackgate({ upstreamUrl: up.url });
  small = await startTrackgate({ upstreamUrl: up.url, config: { limits: { maxRequestBodyBytes: LIMIT } } });
});
afterAll(async () => { await gate.close(); await small.close(); await up.close(); });
beforeEach(() => { up.received.length = 0; });

describe('large response', () => {
  it('streams 256 MiB to a slow client intact, with back-pressure and flat memory', async () => {
    const TOTAL = 256 * MiB;
    let written = 0;
    let upstreamDigest = '';
    const original = up.respond;
    up.respond = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      const hash = createHash('sha256');
      let i = 0;
      const pump = (): void => {
        while (written < TOTAL) {
          const c = CHUNKS[i++ % CHUNKS.length]!;
          written += c.length;
          hash.update(c);
          if (!res.write(c)) { res.once('drain', pump); return; }
        }
        upstreamDigest = hash.digest('hex');
        res.end();
      };
      pump();
    };
    try {
      await sleep(50);
      const v8 = await import('node:v8'); const vm = await import('node:vm');
      v8.setFlagsFromString('--expose-gc'); const gc = vm.runInNewContext('gc') as (o?: unknown) => void;
      if (process.env.GCMODE) gc();
      const m0 = process.memoryUsage();
      const baseline = process.memoryUsage().rss;
      let peak = baseline;
      let n = 0;
      const sampler = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss); if (process.env.GCMODE === '2' && ++n % 3 === 0) gc({ type: 'minor' }); if (process.env.GCMODE === '3' && ++n % 10 === 0) gc(); }, 10);
      const hash = createHash('sha256');
      let received = 0;
      let writtenDuringPause = -1;
      await new Promise<void>((resolve, reject) => {
        const req = request(`${gate.url}/export`, { headers: { authorization: AUTH } }, (res) => {
          expect(res.statusCode).toBe(200);
          expect(res.headers['content-type']).toBe('application/octet-stream');
          let paused = false;
          res.on('data', (c: Buffer) => {
            received += c.length;
            hash.update(c);
            if (!paused) {
              // A slow client: read nothing for a second. Without back-pressure the upstream would push
              // all 256 MiB into trackgate's memory meanwhile.
              paused = true;
              res.pause();
              setTimeout(() => { writtenDuringPause = written; res.resume(); }, 1000);
            }
          });
          res.on('end', resolve);
          res.on('error', reject);
        });
        req.on('error', reject);
        req.end();
      });
      clearInterval(sampler);
      peak = Math.max(peak, process.memoryUsage().rss);
      const m1 = process.memoryUsage(); console.log("MEM", (peak - baseline) / MiB, writtenDuringPause / MiB, (m1.heapUsed-m0.heapUsed)/MiB, (m1.external-m0.external)/MiB, (m1.arrayBuffers-m0.arrayBuffers)/MiB, (m1.rss-m0.rss)/MiB);
      expect(received).toBe(TOTAL);
      expect(hash.digest('hex')).toBe(upstreamDigest);
      // Back-pressure reached the upstream: while the client read nothing, only socket and stream buffers
      // (a few MiB) were filled, not the 256 MiB the upstream wanted to send.
      expect(writtenDuringPause).toBeGreaterThan(0);
      expect(writtenDuringPause).toBeLessThan(32 * MiB);
      // The whole process (client, trackgate and upstream live in it) grows by less than 64 MiB for a
      // 256 MiB transfer: buffers are bounded by highWaterMarks, and garbage Buffers are collected as they
      // go. Measured growth is typically well under this; 64 MiB leaves room for GC timing without letting
      // a buffering proxy (≥ 256 MiB) pass.
      expect((peak - baseline) / MiB).toBeLessThan(64);
    } finally {
      up.respond = original;
    }
  }, 60000);
});

describe('request bodies', () => {
  it('streams a 64 MiB upload with Content-Length intact', async () => {
    const TOTAL = 64 * MiB;
    const body = generated(TOTAL);
    const { res, text } = await upload(`${gate.url}/upload`, body.stream, { 'content-length': String(TOTAL) });
    expect(res.statusCode).toBe(200);
    expect(JSON.parse(text)).toMatchObject({ ok: true, bytes: TOTAL });
    const rec = up.received[0]!;
    expect(rec.headers['content-length']).toBe(String(TOTAL));
    expect(rec.bodyBytes).toBe(TOTAL);
    expect(rec.bodySha256).toBe(body.digest());
  }, 60000);

  it('streams a chunked upload (8 MiB in odd-sized chunks) intact', async () => {
    const TOTAL = 8 * MiB + 17;
    const body = generated(TOTAL, 10_007);
    const { res } = await upload(`${gate.url}/upload`, body.stream, {});
    expect(res.statusCode).toBe(200);
    const rec = up.received[0]!;
    expect(rec.headers['transfer-encoding']).toBe('chunked');
    expect(rec.bodyBytes).toBe(TOTAL);
    expect(rec.bodySha256).toBe(body.digest());
  }, 30000);

  it('accepts hand-framed chunks with extensions and trailers', async () => {
    const r = await rawRequest(portOf(gate.url), [
      `POST /c HTTP/1.1\r\nHost: x\r\nAuthorization: ${AUTH}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n`,
      '5;ext=1\r\nhello\r\n', '1\r\n \r\n', '5\r\nworld\r\n', '0\r\nX-Trailer: t\r\n\r\n',
    ]);
    expect(r.responses[0]?.status).toBe(200);
    expect(up.received[0]).toMatchObject({ bodyBytes: 11, bodySha256: createHash('sha256').update('hello world').digest('hex') });
  });

  it('forwards a body of exactly the limit', async () => {
    const body = generated(LIMIT);
    const { res } = await upload(`${small.url}/upload`, body.stream, { 'content-length': String(LIMIT) });
    expect(res.statusCode).toBe(200);
    expect(up.received[0]?.bodySha256).toBe(body.digest());
  });

  it('answers 413 to a Content-Length over the limit, before reading the body, and closes', async () => {
    const r = await rawRequest(portOf(small.url),
      `PUT /upload HTTP/1.1\r\nHost: x\r\nAuthorization: ${AUTH}\r\nContent-Length: ${LIMIT + 1}\r\n\r\n`, { waitClose: true });
    expect(r.responses[0]?.status).toBe(413);
    expect(r.responses[0]?.headers.connection).toBe('close');
    expect(JSON.parse(r.responses[0]!.body.toString())).toEqual({ error: 'TG_ERR_BODY_TOO_LARGE', message: 'request body too large' });
    expect(r.closed).toBe(true);
    expect(up.received).toHaveLength(0);
  });

  it('answers 413 to a chunked body that grows over the limit, and the upstream never gets it whole', async () => {
    let upstreamSaw = 0;
    let upstreamAborted = false;
    const onRequest = (req: IncomingMessage): void => {
      req.on('data', (c: Buffer) => { upstreamSaw += c.length; });
      req.on('close', () => { if (!req.complete) upstreamAborted = true; });
    };
    up.server.on('request', onRequest);
    try {
      const body = generated(4 * LIMIT);
      const req = request(`${small.url}/upload`, { method: 'PUT', headers: { authorization: AUTH } });
      const result = await new Promise<{ status?: number; text?: string; error?: string }>((resolve) => {
        req.once('response', (res) => {
          let text = '';
          res.on('data', (c: Buffer) => { text += c.toString(); });
          res.on('end', () => resolve({ status: res.statusCode, text }));
          res.on('error', () => resolve({ status: res.statusCode, text }));
        });
        req.once('error', (e: NodeJS.ErrnoException) => resolve({ error: e.code }));
        body.stream.pipe(req);
      });
      expect(result.error, 'a 413 answer, not a reset').toBeUndefined();
      expect(result.status).toBe(413);
      expect(JSON.parse(result.text!)).toEqual({ error: 'TG_ERR_BODY_TOO_LARGE', message: 'request body too large' });
      expect(await waitFor(() => upstreamAborted, 2000)).toBe(true);
      expect(upstreamSaw).toBeLessThanOrEqual(LIMIT);
      expect(up.received).toHaveLength(0);
      const line = small.logRecords().find((l) => l.err === 'TG_ERR_BODY_TOO_LARGE' && l.path === '/upload' && l.status === 413);
      expect(line).toBeDefined();
    } finally {
      up.server.off('request', onRequest);
    }
    // Still serving.
    expect((await fetch(`${small.url}/after`, { headers: { authorization: AUTH } })).status).toBe(200);
  });
});
