/**
 * Upstream failures: refused (502 + kind="refused"), reset (502 + kind="reset"), no answer in time
 * (504 + kind="timeout"), a response cut mid-body; a client that leaves mid-request cancels the upstream
 * request; a POST is never retried.
 */
import { request } from 'node:http';
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { basicAuth, DEMO, startTrackgate, type TestGate } from '../helpers/trackgate.js';
import { freePort } from '../helpers/ports.js';
import { metric } from '../helpers/metrics.js';
import { sleep, waitFor } from '../helpers/wait.js';

const AUTH = basicAuth(DEMO.user, DEMO.password);
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => { for (const c of cleanups.splice(0).reverse()) await c(); });

async function gate(upstreamUrl: string, config: Record<string, unknown> = {}): Promise<TestGate> {
  const g = await startTrackgate({ upstreamUrl, config });
  cleanups.push(() => g.close());
  return g;
}

async function listen<T extends NetServer | HttpServer>(server: T): Promise<string> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  cleanups.push(() => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A TCP upstream that counts requests by method and resets the first `resets` connections on data. */
async function resettingUpstream(resets: number): Promise<{ url: string; methods: string[] }> {
  const methods: string[] = [];
  let remaining = resets;
  const srv = createNetServer((sock) => {
    sock.on('error', () => undefined);
    sock.once('data', (d: Buffer) => {
      methods.push(d.toString('latin1').split(' ')[0]!);
      if (remaining > 0) {
        remaining--;
        sock.resetAndDestroy();
      } else {
        sock.end('HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok');
      }
    });
  });
  return { url: await listen(srv), methods };
}

async function expectJsonError(res: Response, status: number, code: string): Promise<void> {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toBe('application/json');
  const body = await res.json() as { error: string; message: string };
  expect(body.error).toBe(code);
  expect(typeof body.message).toBe('string');
  expect(JSON.stringify(body).length).toBeLessThan(200);
}

describe('upstream unavailable', () => {
  it('answers 502 when the upstream port is closed, counts kind="refused", and logs it', async () => {
    const g = await gate(`http://127.0.0.1:${await freePort()}`);
    await expectJsonError(await fetch(`${g.url}/x`, { headers: { authorization: AUTH } }), 502, 'TG_ERR_UPSTREAM_UNAVAILABLE');
    expect(await metric(g.adminUrl, 'trackgate_upstream_errors_total', { kind: 'refused' })).toBe(1);
    expect(await metric(g.adminUrl, 'trackgate_requests_total', { scheme: 'basic', outcome: 'upstream_error', status_class: '5xx' })).toBe(1);
    const line = g.logRecords().find((l) => l.err === 'TG_ERR_UPSTREAM_UNAVAILABLE');
    expect(line).toMatchObject({ level: 'error', status: 502, detail: 'ECONNREFUSED', sub: DEMO.user });
  });

  it('answers 502 when the upstream resets the connection (kind="reset")', async () => {
    const up = await resettingUpstream(Infinity);
    const g = await gate(up.url);
    await expectJsonError(await fetch(`${g.url}/x`, { headers: { authorization: AUTH } }), 502, 'TG_ERR_UPSTREAM_UNAVAILABLE');
    expect(await metric(g.adminUrl, 'trackgate_upstream_errors_total', { kind: 'reset' })).toBe(1);
    expect(await metric(g.adminUrl, 'trackgate_upstream_errors_total', { kind: 'refused' })).toBe(0);
  });

  it('never retries a POST: an upstream that resets once receives exactly one POST', async () => {
    const up = await resettingUpstream(1);
    const g = await gate(up.url);
    const res = await fetch(`${g.url}/orders`, { method: 'POST', headers: { authorization: AUTH, 'content-type': 'application/json' }, body: '{"a":1}' });
    await expectJsonError(res, 502, 'TG_ERR_UPSTREAM_UNAVAILABLE');
    // A retry would come before the answer; the next request below would also show a late one.
    expect(up.methods).toEqual(['POST']);
    // The next request is answered (the reset was the upstream's, not a broken trackgate).
    expect((await fetch(`${g.url}/orders`, { method: 'POST', headers: { authorization: AUTH }, body: 'x' })).status).toBe(200);
    expect(up.methods).toEqual(['POST', 'POST']);
  });

  it('answers 504 when the upstream does not answer within headersTimeoutMs (kind="timeout")', async () => {
    const srv = createHttpServer(() => { /* never answers */ });
    const g = await gate(await listen(srv), { upstream: { headersTimeoutMs: 300 } });
    const t0 = Date.now();
    await expectJsonError(await fetch(`${g.url}/slow`, { headers: { authorization: AUTH } }), 504, 'TG_ERR_UPSTREAM_TIMEOUT');
    const elapsed = Date.now() - t0;
    expect(elapsed).toBeGreaterThanOrEqual(250);
    expect(elapsed).toBeLessThan(3000);
    expect(await metric(g.adminUrl, 'trackgate_upstream_errors_total', { kind: 'timeout' })).toBe(1);
  });

  it('cuts the client connection when the upstream dies mid-body, and keeps serving', async () => {
    let calls = 0;
    const srv = createHttpServer((_req, res) => {
      calls++;
      if (calls > 1) { res.end('fine'); return; }
      res.writeHead(200, { 'content-length': '100000' });
      res.write('x'.repeat(1000));
      setTimeout(() => res.socket?.destroy(), 50);
    });
    const g = await gate(await listen(srv));
    const res = await fetch(`${g.url}/x`, { headers: { authorization: AUTH } });
    expect(res.status).toBe(200);
    await expect(res.text()).rejects.toThrow();
    const next = await fetch(`${g.url}/y`, { headers: { authorization: AUTH } });
    expect(next.status).toBe(200);
    expect(await next.text()).toBe('fine');
  });
});

describe('client goes away', () => {
  /** An upstream that never answers and reports when a request it holds is closed before it answered. */
  async function holdingUpstream() {
    const seen: { url: string; closedEarly: Promise<void> }[] = [];
    const srv = createHttpServer((req: IncomingMessage, res) => {
      let resolveClosed!: () => void;
      const closedEarly = new Promise<void>((r) => { resolveClosed = r; });
      res.on('close', () => { if (!res.writableEnded) resolveClosed(); });
      req.resume();
      seen.push({ url: req.url ?? '', closedEarly });
    });
    return { url: await listen(srv), seen };
  }

  it.each([
    ['waiting for response headers (GET)', false],
    ['in the middle of sending its body (POST)', true],
  ])('cancels the upstream request when the client disconnects %s', async (_name, withBody) => {
    const up = await holdingUpstream();
    const g = await gate(up.url);
    const req = request(`${g.url}/held`, {
      method: withBody ? 'POST' : 'GET',
      headers: { authorization: AUTH, ...(withBody ? { 'content-length': '1000000' } : {}) },
    });
    req.on('error', () => undefined);
    // More than limits.bufferBodyBytes (64 KiB): a smaller start of a body is held back until it is complete.
    if (withBody) req.write('x'.repeat(100_000)); else req.end();
    expect(await waitFor(() => up.seen.length === 1, 3000)).toBe(true);
    req.destroy();
    const closed = await Promise.race([up.seen[0]!.closedEarly.then(() => true), sleep(2000).then(() => false)]);
    expect(closed, 'upstream saw its request aborted').toBe(true);
    // trackgate is left with nothing in flight, and logs the abandoned request.
    expect(await waitFor(async () => (await metric(g.adminUrl, 'trackgate_inflight_requests')) === 0, 2000)).toBe(true);
    expect(g.app.proxyServer.listening).toBe(true);
    const line = await waitFor(() => g.logRecords().find((l) => l.path === '/held' && l.msg === 'request rejected'), 2000);
    expect(line).toMatchObject({ status: 499, err: 'TG_ERR_BAD_REQUEST' });
    expect(await metric(g.adminUrl, 'trackgate_upstream_errors_total')).toBe(0);
  });
});
