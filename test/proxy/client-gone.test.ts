/**
 * A client that leaves while its request waits (for a password check that misses the validation cache, or
 * for an upstream slot) gives everything back at once: the request is finished, its upstream slot freed,
 * and nothing is sent upstream for it.
 */
import { connect } from 'node:net';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { basicAuth, DEMO, startTrackgate, type TestGate } from '../helpers/trackgate.js';
import { metric } from '../helpers/metrics.js';
import { portOf, rawRequest } from '../helpers/raw-http.js';
import { waitFor } from '../helpers/wait.js';

const AUTH = `Authorization: ${basicAuth(DEMO.user, DEMO.password)}`;

/** Sends one request and closes the connection as soon as it is written (before any answer). */
function sendAndLeave(port: number, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port });
    s.on('error', reject);
    s.once('connect', () => s.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n${AUTH}\r\n\r\n`, () => { s.destroy(); resolve(); }));
  });
}

const busy = async (g: TestGate): Promise<number> =>
  (await metric(g.adminUrl, 'trackgate_inflight_requests')) + (await metric(g.adminUrl, 'trackgate_upstream_slots'));

describe('a client that leaves during a password check (cache miss)', () => {
  let up: RecordingUpstream;
  let gate: TestGate;
  beforeAll(async () => {
    up = await startRecordingUpstream();
    // The demo password is an scrypt hash: the check takes a thread-pool round, well after the close is seen.
    gate = await startTrackgate({ upstreamUrl: up.url, config: { upstream: { connections: 2 }, limits: { queueTimeoutMs: 60_000 } } });
  });
  afterAll(async () => { await gate.close(); await up.close(); });

  it('leaves no request in flight and no upstream slot taken, and a later request is answered', async () => {
    const port = portOf(gate.url);
    await Promise.all([sendAndLeave(port, '/left/1'), sendAndLeave(port, '/left/2')]);
    // Both were read and verified (so the test is about requests that did get past authentication).
    expect(await waitFor(async () => (await metric(gate.adminUrl, 'trackgate_auth_attempts_total', { result: 'success' })) >= 2, 10_000)).toBe(true);
    expect(await waitFor(async () => (await busy(gate)) === 0, 5000)).toBe(true);
    expect(up.received.map((r) => r.url)).not.toContain('/left/1');
    expect(up.received.map((r) => r.url)).not.toContain('/left/2');
    const later = await rawRequest(port, `GET /later HTTP/1.1\r\nHost: x\r\n${AUTH}\r\nConnection: close\r\n\r\n`, { waitClose: true });
    expect(later.responses[0]?.status).toBe(200);
  });
});

describe('a client that leaves while queued for an upstream slot', () => {
  let held: ServerResponse[] = [];
  let upstream: Server;
  let gate: TestGate;
  beforeAll(async () => {
    upstream = createServer((req, res) => { req.resume(); held.push(res); });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
    gate = await startTrackgate({
      upstreamUrl: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`,
      config: { routes: [{ path: '/pub', access: 'public' }], upstream: { connections: 1 }, limits: { queueTimeoutMs: 60_000 } },
    });
  });
  afterAll(async () => {
    for (const r of held) r.end();
    await gate.close();
    upstream.closeAllConnections();
    await new Promise<void>((r) => upstream.close(() => r()));
  });

  it('is taken out of the queue at once, not after limits.queueTimeoutMs', async () => {
    const port = portOf(gate.url);
    const first = rawRequest(port, 'GET /pub/first HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', { timeoutMs: 10_000 });
    expect(await waitFor(() => held.length === 1)).toBe(true);
    const s = connect({ host: '127.0.0.1', port });
    s.on('error', () => {});
    s.write('GET /pub/queued HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(await waitFor(async () => (await metric(gate.adminUrl, 'trackgate_upstream_slots', { state: 'queued' })) === 1)).toBe(true);
    s.destroy();
    expect(await waitFor(async () => (await metric(gate.adminUrl, 'trackgate_upstream_slots', { state: 'queued' })) === 0)).toBe(true);
    held[0]!.writeHead(200).end('ok');
    expect((await first).responses[0]?.status).toBe(200);
    expect(await waitFor(async () => (await metric(gate.adminUrl, 'trackgate_inflight_requests')) === 0)).toBe(true);
    expect(held).toHaveLength(1);
  });
});
