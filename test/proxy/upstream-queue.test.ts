/**
 * The fair queue in front of the upstream pool (issue 13, item 1): one client holds at most its share of
 * the upstream connections; when they are all taken a request waits its turn, a freed connection goes to
 * the waiting client holding the fewest, and a request that cannot wait (queue full, or too long) gets 503
 * TG_ERR_OVERLOADED with Retry-After, a metric and a log line.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basicAuth, DEMO, startTrackgate, type TestGate } from '../helpers/trackgate.js';
import { metric } from '../helpers/metrics.js';
import { waitFor } from '../helpers/wait.js';

const AUTH = basicAuth(DEMO.user, DEMO.password);

/** An upstream that holds every request until the test releases it, in the order they arrived. */
let held: { url: string; res: ServerResponse }[] = [];
let upstream: Server;
let upstreamUrl: string;

beforeAll(async () => {
  upstream = createServer((req: IncomingMessage, res) => {
    req.resume();
    held.push({ url: req.url ?? '', res });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
});
afterAll(async () => {
  upstream.closeAllConnections();
  await new Promise<void>((r) => upstream.close(() => r()));
});

function release(url: string): void {
  const i = held.findIndex((h) => h.url === url);
  const [h] = held.splice(i, 1);
  h!.res.writeHead(200, { 'content-type': 'text/plain' }).end(`done ${url}`);
}

/** Starts a GET and returns its eventual status and headers (0 when the connection failed). */
function get(g: TestGate, path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; body: string }> {
  return fetch(`${g.url}${path}`, { headers }).then(async (r) => ({ status: r.status, headers: r.headers, body: await r.text() }), () => ({ status: 0, headers: new Headers(), body: '' }));
}

const gauge = (g: TestGate, state: string) => metric(g.adminUrl, 'trackgate_upstream_slots', { state });

async function withGate(limits: Record<string, unknown>, fn: (g: TestGate) => Promise<void>): Promise<void> {
  held = [];
  const g = await startTrackgate({ upstreamUrl, config: { routes: [{ path: '/pub', access: 'public' }], upstream: { connections: 2 }, limits } });
  try {
    await fn(g);
  } finally {
    for (const h of held.splice(0)) h.res.destroy();
    await g.close();
  }
}

describe('upstream queue', () => {
  it('a client over its share waits; past limits.queueTimeoutMs it gets 503 TG_ERR_OVERLOADED with Retry-After, counted and logged', async () => {
    await withGate({ queueTimeoutMs: 300 }, async (g) => {
      const first = get(g, '/a1', { authorization: AUTH });
      expect(await waitFor(() => held.length === 1)).toBe(true);
      const from = g.logs.length;
      // Share 0.5 of 2 connections: the same credential's second request waits, although one is free.
      const second = await get(g, '/a2', { authorization: AUTH });
      expect(second.status).toBe(503);
      expect(JSON.parse(second.body)).toEqual({ error: 'TG_ERR_OVERLOADED', message: 'too many requests in progress; retry shortly' });
      expect(second.headers.get('retry-after')).toBe('1');
      expect(await metric(g.adminUrl, 'trackgate_shed_requests_total', { reason: 'queue_timeout' })).toBe(1);
      const line = g.logRecords().slice(from).find((l) => l.err === 'TG_ERR_OVERLOADED');
      expect(line).toMatchObject({ msg: 'request rejected', status: 503, detail: 'queue_timeout', path: '/a2', scheme: 'basic' });
      expect(JSON.stringify(line)).not.toContain(AUTH.slice(6));
      // Meanwhile another client (an address on a public path) takes the free connection at once.
      const other = get(g, '/pub/b1');
      expect(await waitFor(() => held.length === 2)).toBe(true);
      release('/a1');
      release('/pub/b1');
      expect((await first).status).toBe(200);
      expect((await other).status).toBe(200);
      expect(held.map((h) => h.url)).toEqual([]); // the shed request never reached the upstream
    });
  });

  it('limits.queuePerClient: 0 sheds a request that would have to wait, at once (client_queue_full)', async () => {
    await withGate({ queuePerClient: 0 }, async (g) => {
      const first = get(g, '/pub/x1');
      expect(await waitFor(() => held.length === 1)).toBe(true);
      const second = await get(g, '/pub/x2');
      expect(second.status).toBe(503);
      expect(await metric(g.adminUrl, 'trackgate_shed_requests_total', { reason: 'client_queue_full' })).toBe(1);
      release('/pub/x1');
      expect((await first).status).toBe(200);
    });
  });

  it('a freed connection goes to the waiting client that holds the fewest, not to the one that queued first', async () => {
    await withGate({ upstreamSharePerClient: 1 }, async (g) => {
      // The credential takes both connections and queues two more; then a public client queues one.
      const a = ['/a1', '/a2'].map((p) => get(g, p, { authorization: AUTH }));
      expect(await waitFor(() => held.length === 2)).toBe(true);
      const aWaiting = ['/a3', '/a4'].map((p) => get(g, p, { authorization: AUTH }));
      expect(await waitFor(async () => (await gauge(g, 'queued')) === 2)).toBe(true);
      const b = get(g, '/pub/b1');
      expect(await waitFor(async () => (await gauge(g, 'queued')) === 3)).toBe(true);
      release('/a1');
      expect(await waitFor(() => held.length === 2 && held[1]!.url !== '/a2')).toBe(true);
      expect(held.map((h) => h.url)).toEqual(['/a2', '/pub/b1']);
      release('/a2');
      release('/pub/b1');
      expect(await waitFor(() => held.length === 2)).toBe(true);
      expect(held.map((h) => h.url).sort()).toEqual(['/a3', '/a4']);
      release('/a3');
      release('/a4');
      expect((await Promise.all([...a, ...aWaiting, b])).map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
      expect(await gauge(g, 'active')).toBe(0);
    });
  });

  it('a client that leaves while it waits gives its place up (nothing reaches the upstream, nothing stays queued)', async () => {
    await withGate({}, async (g) => {
      const first = get(g, '/pub/y1');
      expect(await waitFor(() => held.length === 1)).toBe(true);
      const ac = new AbortController();
      const waiting = fetch(`${g.url}/pub/y2`, { signal: ac.signal }).catch(() => 'aborted');
      expect(await waitFor(async () => (await gauge(g, 'queued')) === 1)).toBe(true);
      ac.abort();
      expect(await waiting).toBe('aborted');
      expect(await waitFor(async () => (await gauge(g, 'queued')) === 0)).toBe(true);
      release('/pub/y1');
      expect((await first).status).toBe(200);
      expect(held).toEqual([]);
      expect(await waitFor(async () => (await metric(g.adminUrl, 'trackgate_inflight_requests')) === 0)).toBe(true);
    });
  });
});
