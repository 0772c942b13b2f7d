/**
 * WebSockets do not outlive what admitted them (src/proxy/session-lifetime.ts): opened with an issued token,
 * a socket is closed with 4401 when the token is revoked (in process, through /oauth/revoke, or by the
 * `trackgate tokens revoke` CLI in another process) or expires; any socket is closed with 1008 at
 * `upstream.websocketMaxLifetimeSeconds`, and with 1001 when trackgate shuts down. The close frame never
 * lands inside a frame the upstream is sending.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { lookupDigest } from '../../src/accounts/digest-token.js';
import { startDemoUpstream, type DemoUpstream } from '../../src/demo/upstream.js';
import { closeFrame, FrameTracker } from '../../src/proxy/session-lifetime.js';
import { basicAuth, DEMO, startTrackgate, type TestGate } from '../helpers/trackgate.js';
import { freePort } from '../helpers/ports.js';
import { metric } from '../helpers/metrics.js';
import { sleep, waitFor } from '../helpers/wait.js';

const CONFIG = { authn: { 'session_token': { enabled: true }, 'oauth': { enabled: true }, instance: { enabled: true } } };
const ADMIN = { instanceid: DEMO.apiInstanceId, authorization: basicAuth(DEMO.adminEmail, DEMO.adminPassword) };

let demo: DemoUpstream;
let gate: TestGate;

async function startPair(config: Record<string, unknown> = {}): Promise<{ gate: TestGate; demo: DemoUpstream }> {
  const port = await freePort();
  const g = await startTrackgate({ upstreamUrl: `http://127.0.0.1:${port}`, config: { ...CONFIG, ...config } });
  const d = await startDemoUpstream({ port, jwksUrl: `${g.adminUrl}/.well-known/jwks.json`, issuer: 'trackgate-test', audience: 'upstream-test', livePeriodMs: 50 });
  return { gate: g, demo: d };
}

beforeAll(async () => { ({ gate, demo } = await startPair()); });
afterAll(async () => { await gate.close(); await demo.close(); });

interface Closed { code: number; reason: string; at: number }
interface Open { ws: WebSocket; closed: Promise<Closed>; messages: string[] }

function open(g: TestGate, path: string, headers: Record<string, string> = {}): Promise<Open> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${g.url.replace(/^http/, 'ws')}${path}`, { headers });
    const messages: string[] = [];
    ws.on('message', (d) => messages.push(d.toString()));
    const closed = new Promise<Closed>((r) => ws.once('close', (code, reason) => r({ code, reason: reason.toString(), at: Date.now() })));
    ws.once('open', () => resolve({ ws, closed, messages }));
    ws.once('unexpected-response', (_req, res) => reject(new Error(`handshake failed: ${res.statusCode}`)));
    ws.once('error', reject);
  });
}

async function session(g: TestGate, subject: string, ttlSeconds = 600): Promise<{ token: string; digest: string }> {
  const { value, record } = await g.app.tokens.issue({ type: 'session', issuer: 'gps_rest_v2', subject, kind: 'user', ttlSeconds });
  return { token: value, digest: record.digest };
}

/** A server→client text frame header for a 126–65535-byte payload, and a whole short text frame. */
const textFrameHeader = (len: number) => Buffer.from([0x81, 126, len >> 8, len & 0xff]);
const textFrame = (s: string) => Buffer.concat([Buffer.from([0x81, s.length]), Buffer.from(s)]);

const within = <T>(p: Promise<T>, ms: number): Promise<T | 'timeout'> =>
  Promise.race([p, sleep(ms).then(() => 'timeout' as const)]);

describe('revocation → close 4401', () => {
  it('a store revocation closes the socket within a second; another token\'s socket stays open', async () => {
    const a = await session(gate, DEMO.user);
    const b = await session(gate, DEMO.user);
    const sa = await open(gate, `/rest/v2/live?_token=${a.token}`);
    const sb = await open(gate, '/rest/v2/live', { authorization: `OAuth ${(await gate.app.tokens.issue({ type: 'access', issuer: 'geoloqi', subject: DEMO.user, kind: 'user', ttlSeconds: 600 })).value}` });
    await waitFor(() => sa.messages.length > 0 && sb.messages.length > 0, 2000);
    expect(sa.messages.length).toBeGreaterThan(0);
    expect(gate.app.sessions.size).toBe(2);

    const t0 = Date.now();
    await gate.app.store.revokeTokens([a.digest], Date.now());
    const closed = await within(sa.closed, 1000);
    expect(closed).not.toBe('timeout');
    expect(closed).toMatchObject({ code: 4401, reason: 'token revoked' });
    expect((closed as Closed).at - t0).toBeLessThan(1000);
    // Messages received were whole JSON documents (no frame was cut by the close).
    for (const m of sa.messages) expect(() => JSON.parse(m)).not.toThrow();

    expect(sb.ws.readyState).toBe(WebSocket.OPEN);
    const before = sb.messages.length;
    await waitFor(() => sb.messages.length > before, 1000);
    expect(sb.messages.length).toBeGreaterThan(before);
    sb.ws.close();
    await sb.closed;
    expect(await waitFor(async () => (await metric(gate.adminUrl, 'trackgate_websocket_sessions')) === 0, 2000)).toBe(true);
    expect(await waitFor(() => gate.app.sessions.size === 0, 1000)).toBe(true);
    expect(gate.logRecords().find((l) => l.msg === 'websocket closed by trackgate')).toMatchObject({ code: 4401, reason: 'token revoked', sub: DEMO.user });
    void b;
  });

  it('through the operator endpoint /oauth/revoke', async () => {
    const { value } = await gate.app.tokens.issue({ type: 'access', issuer: 'geoloqi', subject: 'ws-op', kind: 'anonymous', ttlSeconds: 600 });
    const s = await open(gate, `/rest/v2/live?access_token=${value}`);
    const res = await fetch(`${gate.url}/oauth/revoke`, { method: 'POST', headers: { ...ADMIN, 'content-type': 'application/x-www-form-urlencoded' }, body: `token=${value}` });
    expect(res.status).toBe(200);
    expect(await within(s.closed, 1000)).toMatchObject({ code: 4401, reason: 'token revoked' });
  });

  it('by `trackgate tokens revoke` in another process (SQLite: the running trackgate polls the revocation log)', async () => {
    const { token } = await session(gate, 'ws-cli');
    const s = await open(gate, `/rest/v2/live?_token=${token}`);
    const root = fileURLToPath(new URL('../..', import.meta.url));
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TRACKGATE_')));
    const exit = await new Promise<number | null>((resolve, reject) => {
      const child = spawn(process.execPath, [join(root, 'bin/trackgate.js'), 'tokens', 'revoke', '-', '--config', gate.configFile], { cwd: root, env, stdio: ['pipe', 'ignore', 'inherit'] });
      child.on('error', reject);
      child.on('close', resolve);
      child.stdin.end(token);
    });
    expect(exit).toBe(0);
    const revokedAt = Date.now();
    const closed = await within(s.closed, 2500);
    expect(closed).toMatchObject({ code: 4401, reason: 'token revoked' });
    expect((closed as Closed).at - revokedAt).toBeLessThan(1500);
  });
});

describe('expiry → 4401, maximum lifetime → 1008, shutdown → 1001', () => {
  it('a token expiring in 1 s closes its socket at expiry', async () => {
    const { token } = await session(gate, 'ws-expiring', 1);
    const rec = await gate.app.store.getToken(lookupDigest(token));
    const s = await open(gate, `/rest/v2/live?_token=${token}`);
    const closed = await within(s.closed, 2500);
    expect(closed).toMatchObject({ code: 4401, reason: 'token expired' });
    expect((closed as Closed).at).toBeGreaterThanOrEqual(rec!.expiresAt - 20);
    expect((closed as Closed).at - rec!.expiresAt).toBeLessThan(500);
  });

  it('any socket (Basic: no expiry) is closed with 1008 at upstream.websocketMaxLifetimeSeconds', async () => {
    const pair = await startPair({ upstream: { websocketMaxLifetimeSeconds: 1 } });
    try {
      const t0 = Date.now();
      const s = await open(pair.gate, '/rest/v2/live', { authorization: basicAuth(DEMO.user, DEMO.password) });
      const closed = await within(s.closed, 2500);
      expect(closed).toMatchObject({ code: 1008, reason: 'maximum session lifetime reached' });
      expect((closed as Closed).at - t0).toBeGreaterThanOrEqual(900);
      // A token expiring before the maximum lifetime gets 4401, not 1008.
      const { token } = await session(pair.gate, 'short', 1);
      const s2 = await open(pair.gate, `/rest/v2/live?_token=${token}`);
      expect(await within(s2.closed, 2500)).toMatchObject({ code: 4401, reason: 'token expired' });
    } finally {
      await pair.gate.close();
      await pair.demo.close();
    }
  });

  it('at shutdown, open sockets get 1001 and the shutdown does not wait for them', async () => {
    const pair = await startPair();
    try {
      const s = await open(pair.gate, '/rest/v2/live', { authorization: basicAuth(DEMO.user, DEMO.password) });
      const t0 = Date.now();
      await pair.gate.app.close(200);
      expect(Date.now() - t0).toBeLessThan(1500);
      expect(await within(s.closed, 1500)).toMatchObject({ code: 1001, reason: 'server shutting down' });
    } finally {
      await pair.gate.close();
      await pair.demo.close();
    }
  });
});

describe('the close frame never lands inside an upstream frame', () => {
  /** An upstream that completes the WebSocket handshake by hand and lets the test write raw frames. */
  async function rawUpstream(): Promise<{ server: Server; port: number; next: () => Promise<Socket> }> {
    const waiting: ((s: Socket) => void)[] = [];
    const ready: Socket[] = [];
    const server = createServer();
    server.on('upgrade', (req: IncomingMessage, socket: Socket) => {
      const accept = createHash('sha1').update(`${req.headers['sec-websocket-key']}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: ${accept}\r\n\r\n`);
      socket.on('error', () => undefined);
      const w = waiting.shift();
      if (w) w(socket); else ready.push(socket);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    return {
      server, port: (server.address() as AddressInfo).port,
      next: () => new Promise((r) => { const s = ready.shift(); if (s) r(s); else waiting.push(r); }),
    };
  }

  it('a revocation mid-frame: the frame is completed, then the close frame; what follows is dropped; the upstream is cut', async () => {
    const raw = await rawUpstream();
    const g = await startTrackgate({ upstreamUrl: `http://127.0.0.1:${raw.port}`, config: CONFIG });
    try {
      const { token, digest } = await session(g, 'mid-frame');
      const s = await open(g, `/feed?_token=${token}`);
      const up = await raw.next();
      // Read (and ignore) what trackgate sends the upstream, so its end of the connection is seen.
      up.resume();
      const upClosed = new Promise<void>((r) => { up.once('end', () => r()); up.once('close', () => r()); });
      const payload = Buffer.alloc(1000, 'x');
      up.write(Buffer.concat([textFrameHeader(1000), payload.subarray(0, 400)]));
      await sleep(100);
      await g.app.store.revokeTokens([digest], Date.now());
      await sleep(200);
      expect(s.ws.readyState).toBe(WebSocket.OPEN); // waiting for the frame in flight
      up.write(Buffer.concat([payload.subarray(400), textFrame('after')]));
      expect(await within(s.closed, 1000)).toMatchObject({ code: 4401, reason: 'token revoked' });
      expect(s.messages).toEqual(['x'.repeat(1000)]);
      expect(await within(upClosed, 1000)).not.toBe('timeout');
    } finally {
      await g.close();
      raw.server.closeAllConnections();
      raw.server.close();
    }
  });

  it('a frame that never completes: the connection is dropped after the drain time (no close frame inside it)', async () => {
    const raw = await rawUpstream();
    const g = await startTrackgate({ upstreamUrl: `http://127.0.0.1:${raw.port}`, config: CONFIG });
    try {
      const { token, digest } = await session(g, 'stuck-frame');
      const s = await open(g, `/feed?_token=${token}`);
      const up = await raw.next();
      up.write(Buffer.concat([textFrameHeader(1000), Buffer.alloc(10, 'x')]));
      await sleep(50);
      await g.app.store.revokeTokens([digest], Date.now());
      const closed = await within(s.closed, 2500);
      expect(closed).not.toBe('timeout');
      expect((closed as Closed).code).toBe(1006);
      expect(s.messages).toEqual([]);
    } finally {
      await g.close();
      raw.server.closeAllConnections();
      raw.server.close();
    }
  });
});

describe('housekeeping', () => {
  it('closing sessions leaves no upstream-error noise in the logs and no tracked session behind', async () => {
    expect(gate.logRecords().filter((l) => l.msg === 'websocket upstream error')).toEqual([]);
    expect(await waitFor(() => gate.app.sessions.size === 0, 1000)).toBe(true);
  });
});

describe('FrameTracker and closeFrame', () => {
  it('closeFrame: FIN + opcode 8, unmasked, 2-byte code, UTF-8 reason', () => {
    expect([...closeFrame(4401, 'token revoked')]).toEqual([0x88, 15, 0x11, 0x31, ...Buffer.from('token revoked')]);
    expect(closeFrame(1008, 'x'.repeat(500)).length).toBe(127); // control frames carry at most 125 bytes
  });

  it('finds frame ends across chunk splits, for 7-bit, 16-bit and 64-bit lengths, masked or not', () => {
    const small = textFrame('hello');
    const mid = Buffer.concat([textFrameHeader(300), Buffer.alloc(300, 1)]);
    const big = Buffer.concat([Buffer.from([0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0]), Buffer.alloc(65536, 2)]);
    const masked = Buffer.concat([Buffer.from([0x81, 0x80 | 3, 1, 2, 3, 4]), Buffer.from('abc')]);
    const stream = Buffer.concat([small, mid, big, masked]);
    const ends = [small.length, small.length + mid.length, small.length + mid.length + big.length, stream.length];
    for (const chunkSize of [1, 2, 3, 7, 100, 4096, stream.length]) {
      const t = new FrameTracker();
      const seen: number[] = [];
      for (let off = 0; off < stream.length; off += chunkSize) {
        let chunk = stream.subarray(off, Math.min(off + chunkSize, stream.length));
        let base = off;
        while (chunk.length > 0) {
          const n = t.advance(chunk, true);
          if (t.atBoundary) seen.push(base + n);
          chunk = chunk.subarray(n);
          base += n;
        }
      }
      expect(seen, `chunks of ${chunkSize}`).toEqual(ends);
      expect(t.sawClose).toBe(false);
    }
    const t = new FrameTracker();
    t.advance(Buffer.concat([small, closeFrame(1000, 'bye')]));
    expect(t.sawClose).toBe(true);
    expect(t.atBoundary).toBe(true);
  });
});
