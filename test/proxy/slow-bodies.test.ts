/**
 * Slow request bodies (issue 13, item 1). A body of up to limits.bufferBodyBytes is read whole before the
 * request takes an upstream connection, so clients trickling small bodies cannot take the pool; a larger,
 * streamed body holds at most its client's share of it; a body that stops, or arrives below the minimum
 * rate, is answered 408 with its own code, a metric and a log line. Legitimate bodies still arrive intact.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startGate, useGate } from '../helpers/gate.js';
import { basicAuth, DEMO, type TestGate } from '../helpers/trackgate.js';
import { slowBody, type SlowClient } from '../helpers/slow-client.js';
import { metric } from '../helpers/metrics.js';
import { parseResponses, portOf, rawRequest } from '../helpers/raw-http.js';
import { waitFor } from '../helpers/wait.js';

const AUTH = basicAuth(DEMO.user, DEMO.password);
const ROUTES = [{ path: '/pub', access: 'public' }];

const attackers: SlowClient[] = [];

/** Requests the upstream is receiving right now (their body not complete yet). */
let openAtUpstream = 0;

const pool = useGate({ config: { routes: ROUTES, upstream: { connections: 4 } } });
const strict = useGate(() => ({ up: pool.up, config: { routes: ROUTES, limits: { bodyIdleTimeoutMs: 300, bodyMinBytesPerSecond: 0 } } }));
beforeAll(async () => {
  pool.up.server.on('request', (req: IncomingMessage) => { openAtUpstream++; req.once('end', () => openAtUpstream--).once('close', () => { if (!req.complete) openAtUpstream--; }); });
});
afterEach(() => { for (const a of attackers.splice(0)) a.stop(); });

const inflight = (g: TestGate) => metric(g.adminUrl, 'trackgate_inflight_requests');

/** One GET on a fresh connection; its status, or 0 when no answer came within `ms`. */
async function answeredWithin(url: string, ms: number, headers: Record<string, string> = {}): Promise<number> {
  try {
    const res = await fetch(url, { headers, signal: AbortSignal.timeout(ms) });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}

describe('slow bodies and the upstream pool (upstream.connections: 4)', () => {
  it('clients trickling small bodies on a public path take no upstream connection: another client is answered at once', async () => {
    const port = portOf(pool.url);
    for (let i = 0; i < 12; i++) attackers.push(slowBody(port, { path: '/pub/upload', declared: 2000, first: 10, everyMs: 200 }));
    expect(await waitFor(async () => (await inflight(pool)) >= 12, 5000)).toBe(true);
    expect(await metric(pool.adminUrl, 'trackgate_upstream_slots', { state: 'active' })).toBe(0);
    expect(await answeredWithin(`${pool.url}/pub/status`, 3000)).toBe(200);
  });

  it('slow streamed bodies with one valid credential hold at most their share; other clients are still answered', async () => {
    const port = portOf(pool.url);
    expect(await waitFor(() => openAtUpstream === 0, 3000)).toBe(true);
    const authenticated = () => metric(pool.adminUrl, 'trackgate_auth_attempts_total', { result: 'success' });
    const before = await authenticated();
    // Past limits.bufferBodyBytes (64 KiB): these are streamed, and hold an upstream connection each.
    for (let i = 0; i < 6; i++) attackers.push(slowBody(port, { path: '/upload', declared: 1_000_000, first: 70_000, everyMs: 200, headers: { authorization: AUTH } }));
    // All six authenticated, and so dispatched or waiting for an upstream connection.
    expect(await waitFor(async () => (await authenticated()) >= before + 6 && openAtUpstream >= 2, 5000)).toBe(true);
    expect(await answeredWithin(`${pool.url}/pub/status`, 3000)).toBe(200);
    // upstreamSharePerClient 0.5 of 4: two held, four waiting.
    expect(openAtUpstream).toBe(2);
    expect(await metric(pool.adminUrl, 'trackgate_upstream_slots', { state: 'active' })).toBe(2);
  });
});

describe('body pace', () => {
  it('a body that stops arriving is answered 408 TG_ERR_BODY_TIMEOUT, counted and logged without the credential', async () => {
    const before = await metric(strict.adminUrl, 'trackgate_shed_requests_total', { reason: 'body_idle' });
    const from = strict.logs.length;
    const t0 = Date.now();
    const r = await rawRequest(portOf(strict.url), `POST /upload HTTP/1.1\r\nHost: x\r\nAuthorization: ${AUTH}\r\nContent-Length: 100\r\n\r\n0123456789`, { waitClose: true, timeoutMs: 5000 });
    expect(Date.now() - t0).toBeLessThan(2500);
    expect(r.responses[0]?.status).toBe(408);
    expect(JSON.parse(r.responses[0]!.body.toString())).toEqual({ error: 'TG_ERR_BODY_TIMEOUT', message: 'request body too slow' });
    expect(r.responses[0]!.headers.connection).toBe('close');
    expect(r.closed).toBe(true);
    expect(await metric(strict.adminUrl, 'trackgate_shed_requests_total', { reason: 'body_idle' })).toBe(before + 1);
    const line = await waitFor(() => strict.logRecords().slice(from).find((l) => l.err === 'TG_ERR_BODY_TIMEOUT'));
    expect(line).toMatchObject({ msg: 'request rejected', status: 408, path: '/upload', detail: expect.stringMatching(/^body_idle/) });
    const secret = AUTH.slice('Basic '.length);
    expect(strict.logs.slice(from).some((l) => l.includes(secret) || l.includes(DEMO.password))).toBe(false);
  });

  it('a streamed body that stalls after reaching the upstream is cut with 408 and frees its connection', async () => {
    const before = await metric(strict.adminUrl, 'trackgate_shed_requests_total', { reason: 'body_idle' });
    const head = `POST /pub/big HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n`;
    const r = await rawRequest(portOf(strict.url), [head, Buffer.alloc(100_000, 0x62)], { waitClose: true, timeoutMs: 5000 });
    expect(r.responses[0]?.status).toBe(408);
    expect(r.closed).toBe(true);
    expect(await metric(strict.adminUrl, 'trackgate_shed_requests_total', { reason: 'body_idle' })).toBe(before + 1);
    expect(await waitFor(async () => (await metric(strict.adminUrl, 'trackgate_upstream_slots', { state: 'active' })) === 0)).toBe(true);
  });

  it('a body trickling below limits.bodyMinBytesPerSecond is answered 408 (body_rate)', async () => {
    const g = await startGate({ up: pool.up, config: { routes: ROUTES, limits: { bodyIdleTimeoutMs: 300, bodyMinBytesPerSecond: 5000 } } });
    try {
      const a = slowBody(portOf(g.url), { path: '/pub/upload', declared: 1000, first: 1, everyMs: 40 });
      attackers.push(a);
      expect(await waitFor(() => a.closed(), 4000)).toBe(true);
      const [res] = parseResponses(Buffer.from(a.received(), 'latin1'), true);
      expect(res?.status).toBe(408);
      expect(await metric(g.adminUrl, 'trackgate_shed_requests_total', { reason: 'body_rate' })).toBe(1);
      expect(await metric(g.adminUrl, 'trackgate_shed_requests_total', { reason: 'body_idle' })).toBe(0);
    } finally {
      await g.close();
    }
  });
});

describe('legitimate bodies', () => {
  const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

  it.each([
    ['buffered, with Content-Length', 10_000, false],
    ['buffered, chunked', 10_000, true],
    ['streamed past the buffer, with Content-Length', 3_000_000, false],
    ['streamed past the buffer, chunked', 3_000_000, true],
  ])('%s arrives intact', async (_name, size, chunked) => {
    const body = Buffer.alloc(size);
    for (let i = 0; i < size; i++) body[i] = (i * 31 + 7) & 0xff;
    pool.up.received.length = 0;
    const res = await fetch(`${pool.url}/pub/upload`, {
      method: 'POST',
      body: chunked ? new Blob([body]).stream() : body,
      ...(chunked ? { duplex: 'half' } : {}),
    } as RequestInit);
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    expect(pool.up.received[0]).toMatchObject({ bodyBytes: size, bodySha256: sha(body) });
    expect(await metric(pool.adminUrl, 'trackgate_shed_requests_total')).toBe(0);
  });

  it('with the buffer budget spent (bufferTotalBytes: 0) a small body is streamed and arrives intact', async () => {
    const g = await startGate({ up: pool.up, config: { routes: ROUTES, limits: { bufferTotalBytes: 0 } } });
    try {
      pool.up.received.length = 0;
      const res = await fetch(`${g.url}/pub/upload`, { method: 'POST', body: 'hello world' });
      expect(res.status).toBe(200);
      expect(pool.up.received[0]?.bodyBytes).toBe(11);
    } finally {
      await g.close();
    }
  });
});
