/**
 * An upgrade still being authenticated once shutdown has started is refused with 503 when its check
 * completes: shutdown closes the sessions it knows of (sessions.closeAll), and one opened after that would
 * outlive it.
 */
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basicAuth, DEMO, startTrackgate, type TestGate } from '../helpers/trackgate.js';
import { metricIn } from '../helpers/metrics.js';
import { portOf } from '../helpers/raw-http.js';
import { waitFor } from '../helpers/wait.js';

let upstream: Server;
let upgrades = 0;
let gate: TestGate;

beforeAll(async () => {
  upstream = createServer((_req, res) => res.end('ok'));
  upstream.on('upgrade', (_req, socket) => {
    upgrades++;
    socket.end('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
  gate = await startTrackgate({ upstreamUrl: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`, config: { upstream: { websockets: true } } });
});
afterAll(async () => {
  await gate.close();
  upstream.closeAllConnections();
  await new Promise<void>((r) => upstream.close(() => r()));
});

describe('an upgrade verified after shutdown started', () => {
  it('gets 503 and is never proxied', async () => {
    const s: Socket = connect({ host: '127.0.0.1', port: portOf(gate.url) });
    s.on('error', () => {});
    await new Promise<void>((r) => s.once('connect', () => r()));
    let got = '';
    s.on('data', (c: Buffer) => { got += c.toString('latin1'); });
    const ended = new Promise<void>((r) => s.once('close', () => r()));
    const closing = gate.app.close(5000);
    // Sent on a connection that was already open: shutdown does not refuse it, and its check (a cache
    // miss: the demo password's scrypt hash) completes while shutdown drains.
    s.write(['GET /live HTTP/1.1', 'Host: x', 'Connection: Upgrade', 'Upgrade: websocket', 'Sec-WebSocket-Version: 13',
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==', `Authorization: ${basicAuth(DEMO.user, DEMO.password)}`, '', ''].join('\r\n'));
    // Read in process: the admin port closes with the rest.
    const verified = async (): Promise<boolean> => metricIn(await gate.app.metrics.registry.metrics(), 'trackgate_auth_attempts_total', { result: 'success' }) >= 1;
    expect(await waitFor(verified, 10_000)).toBe(true);
    const done = await Promise.race([ended.then(() => 'closed'), new Promise((r) => setTimeout(r, 10_000, 'timeout'))]);
    s.destroy();
    await closing;
    expect(done).toBe('closed');
    expect(upgrades).toBe(0);
    expect(/^HTTP\/1\.1 (\d{3})/.exec(got)?.[1]).toBe('503');
    expect(got).toContain('TG_ERR_SHUTTING_DOWN');
  });
});
