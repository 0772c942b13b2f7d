/**
 * Bodies stream through in both directions without being buffered: a 64 MiB upload and chunked uploads
 * arrive intact, a 256 MiB download reaches a slow client intact while back-pressure holds the upstream (asserted on
 * what trackgate holds and what the upstream wrote, not on RSS, which GC timing makes noisy), and the request body limit answers 413 (declared or streamed).
 */
import { createHash } from 'node:crypto';
import { request, type IncomingMessage, type ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { beforeEach, describe, expect, it } from 'vitest';
import { useGate } from '../helpers/gate.js';
import { basicAuth, DEMO } from '../helpers/trackgate.js';
import { metric } from '../helpers/metrics.js';
import { portOf, rawRequest } from '../helpers/raw-http.js';
import { waitFor } from '../helpers/wait.js';

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

const LIMIT = 1 * MiB;

const gate = useGate();
const small = useGate(() => ({ up: gate.up, config: { limits: { maxRequestBodyBytes: LIMIT } } }));
beforeEach(() => { gate.up.received.length = 0; });

describe('large response', () => {
  /**
   * The upstream sends `total` bytes as fast as back-pressure lets it; the client reads the first chunk,
   * then nothing for `pauseMs`, then the rest. Returns what both sides saw.
   */
  async function download(total: number, pauseMs: number) {
    let written = 0;
    let upstreamDigest = '';
    const original = gate.up.respond;
    gate.up.respond = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      const hash = createHash('sha256');
      let i = 0;
      const pump = (): void => {
        while (written < total) {
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
    // trackgate's own ServerResponse for this request, to see what it holds in user space.
    let gateRes: ServerResponse | undefined;
    const onGateRequest = (_req: IncomingMessage, res: ServerResponse): void => { gateRes = res; };
    gate.app.proxyServer.on('request', onGateRequest);
    const hash = createHash('sha256');
    let received = 0;
    let writtenDuringPause = -1;
    let bufferedInGate = -1;
    try {
      await new Promise<void>((resolve, reject) => {
        const req = request(`${gate.url}/export`, { headers: { authorization: AUTH } }, (res) => {
          expect(res.statusCode).toBe(200);
          expect(res.headers['content-type']).toBe('application/octet-stream');
          let paused = false;
          res.on('data', (c: Buffer) => {
            received += c.length;
            hash.update(c);
            if (!paused) {
              paused = true;
              res.pause();
              setTimeout(() => {
                writtenDuringPause = written;
                bufferedInGate = gateRes?.writableLength ?? -1;
                res.resume();
              }, pauseMs);
            }
          });
          res.on('end', resolve);
          res.on('error', reject);
        });
        req.on('error', reject);
        req.end();
      });
    } finally {
      gate.up.respond = original;
      gate.app.proxyServer.off('request', onGateRequest);
    }
    return { received, digest: hash.digest('hex'), upstreamDigest, writtenDuringPause, bufferedInGate };
  }

  it('streams 256 MiB to a slow client intact, with back-pressure', async () => {
    // Warm-up through the same path: first-use allocations (undici's WASM parser, JIT code, malloc arenas
    // sized by the garbage Buffers of a fast transfer) are part of the steady state, not of this transfer.
    const warm = await download(32 * MiB, 10);
    expect(warm.received).toBe(32 * MiB);

    const TOTAL = 256 * MiB;
    const r = await download(TOTAL, 1500);
    expect(r.received).toBe(TOTAL);
    expect(r.digest).toBe(r.upstreamDigest);
    // Back-pressure held: while the client read nothing for 1.5 s, trackgate kept at most a few stream
    // buffers (highWaterMark-sized) queued for the client socket...
    expect(r.bufferedInGate).toBeGreaterThanOrEqual(0);
    expect(r.bufferedInGate).toBeLessThan(1 * MiB);
    // ...and the upstream was stopped: it got ahead only by what the kernel socket buffers absorb (autotuned,
    // up to tcp_rmem max per socket, 32 MiB on this kind of host; measured 8-41 MiB). Without back-pressure
    // the upstream would have pushed all 256 MiB into trackgate during the pause.
    expect(r.writtenDuringPause).toBeGreaterThan(0);
    expect(r.writtenDuringPause).toBeLessThan(128 * MiB);
  }, 60000);
});

describe('client leaves mid-download', () => {
  it('stops the upstream: its response is closed before it finished, and trackgate holds nothing', async () => {
    let written = 0;
    let upstreamClosedEarly = false;
    const original = gate.up.respond;
    gate.up.respond = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.on('close', () => { if (!res.writableFinished) upstreamClosedEarly = true; });
      let i = 0;
      const pump = (): void => {
        while (written < 1024 * MiB && !res.destroyed) {
          written += CHUNK;
          if (!res.write(CHUNKS[i++ % CHUNKS.length]!)) { res.once('drain', pump); return; }
        }
        if (!res.destroyed) res.end();
      };
      pump();
    };
    try {
      await new Promise<void>((resolve, reject) => {
        const req = request(`${gate.url}/export`, { headers: { authorization: AUTH } }, (res) => {
          let got = 0;
          res.on('data', (c: Buffer) => {
            got += c.length;
            if (got >= 4 * MiB) { req.destroy(); resolve(); }
          });
          res.on('error', () => undefined);
        });
        req.on('error', (e: NodeJS.ErrnoException) => { if (e.code !== 'ECONNRESET') reject(e); });
        req.end();
      });
      expect(await waitFor(() => upstreamClosedEarly, 3000), 'upstream response closed early').toBe(true);
      // The pump stops with the closed response, so what it wrote is final.
      expect(written).toBeLessThan(512 * MiB);
      expect(await waitFor(async () => (await metric(gate.adminUrl, 'trackgate_inflight_requests')) === 0, 2000)).toBe(true);
    } finally {
      gate.up.respond = original;
    }
  });
});

describe('request bodies', () => {
  it('streams a 64 MiB upload with Content-Length intact', async () => {
    const TOTAL = 64 * MiB;
    const body = generated(TOTAL);
    const { res, text } = await upload(`${gate.url}/upload`, body.stream, { 'content-length': String(TOTAL) });
    expect(res.statusCode).toBe(200);
    expect(JSON.parse(text)).toMatchObject({ ok: true, bytes: TOTAL });
    const rec = gate.up.received[0]!;
    expect(rec.headers['content-length']).toBe(String(TOTAL));
    expect(rec.bodyBytes).toBe(TOTAL);
    expect(rec.bodySha256).toBe(body.digest());
  }, 60000);

  it('streams a chunked upload (8 MiB in odd-sized chunks) intact', async () => {
    const TOTAL = 8 * MiB + 17;
    const body = generated(TOTAL, 10_007);
    const { res } = await upload(`${gate.url}/upload`, body.stream, {});
    expect(res.statusCode).toBe(200);
    const rec = gate.up.received[0]!;
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
    expect(gate.up.received[0]).toMatchObject({ bodyBytes: 11, bodySha256: createHash('sha256').update('hello world').digest('hex') });
  });

  it('forwards a body of exactly the limit', async () => {
    const body = generated(LIMIT);
    const { res } = await upload(`${small.url}/upload`, body.stream, { 'content-length': String(LIMIT) });
    expect(res.statusCode).toBe(200);
    expect(gate.up.received[0]?.bodySha256).toBe(body.digest());
  });

  it('answers 413 to a Content-Length over the limit, before reading the body, and closes', async () => {
    const r = await rawRequest(portOf(small.url),
      `PUT /upload HTTP/1.1\r\nHost: x\r\nAuthorization: ${AUTH}\r\nContent-Length: ${LIMIT + 1}\r\n\r\n`, { waitClose: true });
    expect(r.responses[0]?.status).toBe(413);
    expect(r.responses[0]?.headers.connection).toBe('close');
    expect(JSON.parse(r.responses[0]!.body.toString())).toEqual({ error: 'TG_ERR_BODY_TOO_LARGE', message: 'request body too large' });
    expect(r.closed).toBe(true);
    expect(gate.up.received).toHaveLength(0);
  });

  it('answers 413 to a chunked body that grows over the limit, and the upstream never gets it whole', async () => {
    let upstreamSaw = 0;
    let upstreamAborted = false;
    const onRequest = (req: IncomingMessage): void => {
      req.on('data', (c: Buffer) => { upstreamSaw += c.length; });
      req.on('close', () => { if (!req.complete) upstreamAborted = true; });
    };
    gate.up.server.on('request', onRequest);
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
      expect(gate.up.received).toHaveLength(0);
      const line = small.logRecords().find((l) => l.err === 'TG_ERR_BODY_TOO_LARGE' && l.path === '/upload' && l.status === 413);
      expect(line).toBeDefined();
    } finally {
      gate.up.server.off('request', onRequest);
    }
    // Still serving.
    expect((await fetch(`${small.url}/after`, { headers: { authorization: AUTH } })).status).toBe(200);
  });
});
