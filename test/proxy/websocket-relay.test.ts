/**
 * What the WebSocket relay does around the handshake (src/proxy/upgrade.ts, upgrade-upstream.ts), against a
 * node:http upstream that answers by path: the client's bytes sent right behind its head reach the upstream
 * after the 101; the 101 carries the upstream's fields less the hop-by-hop ones; a refusal with a length is
 * relayed whole with its fields and the client's connection closed after it; the upstream gets the Host a
 * forwarded request gets (`upstream.preserveHost`); a handshake still waiting for its upstream when its token
 * is revoked, or at shutdown, is cut on both sides at once, not at `upstream.headersTimeoutMs`.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basicAuth, DEMO, startTrackgate, type TestGate } from '../helpers/trackgate.js';
import { portOf, rawRequest } from '../helpers/raw-http.js';
import { waitFor } from '../helpers/wait.js';

const AUTH = basicAuth(DEMO.user, DEMO.password);
const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const ACCEPT = createHash('sha1').update(`${KEY}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');

let upstream: Server;
let upPort: number;
let gate: TestGate;
/** Per handshake the upstream read: its request and every byte that followed the head. */
const handshakes: { req: IncomingMessage; bytes: () => Buffer; socket: Duplex }[] = [];
const httpHosts: (string | undefined)[] = [];

beforeAll(async () => {
  upstream = createServer((req, res) => { httpHosts.push(req.headers.host); res.end('ok'); });
  upstream.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const chunks = [head];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('end', () => socket.end());
    socket.on('error', () => undefined);
    handshakes.push({ req, bytes: () => Buffer.concat(chunks), socket });
    if (req.url?.startsWith('/accept')) {
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: ${ACCEPT}\r\n`
        + 'sec-websocket-protocol: chat\r\nx-up: 1\r\nkeep-alive: timeout=5\r\n\r\n');
    } else if (req.url?.startsWith('/refuse')) {
      // Kept open, as a server would after a framed answer: the client's connection must close anyway.
      socket.write('HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain\r\ncontent-length: 7\r\nkeep-alive: timeout=5\r\nx-reason: policy\r\n\r\nno way.');
    }
    // Anything else is never answered.
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
  upPort = (upstream.address() as AddressInfo).port;
  gate = await startTrackgate({ upstreamUrl: `http://127.0.0.1:${upPort}`, config: { upstream: { headersTimeoutMs: 20_000 }, authn: { session_token: { enabled: true } } } });
});
afterAll(async () => {
  await gate.close();
  upstream.closeAllConnections();
  for (const h of handshakes) h.socket.destroy();
  await new Promise<void>((r) => upstream.close(() => r()));
});

const handshake = (path: string, host = 'gate.example'): string => [
  `GET ${path} HTTP/1.1`, `Host: ${host}`, `Authorization: ${AUTH}`, 'Connection: Upgrade', 'Upgrade: websocket',
  'Sec-WebSocket-Version: 13', `Sec-WebSocket-Key: ${KEY}`, '', '',
].join('\r\n');

/** A masked client text frame. */
function maskedText(text: string): Buffer {
  const mask = Buffer.from([1, 2, 3, 4]);
  const payload = Buffer.from(text).map((b, i) => b ^ mask[i % 4]!);
  return Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, payload]);
}

describe('the WebSocket relay', () => {
  it('relays the bytes a client sends right behind its handshake head, after the 101', async () => {
    const frame = maskedText('early');
    const r = await rawRequest(portOf(gate.url), Buffer.concat([Buffer.from(handshake('/accept/early')), frame]));
    expect(r.responses[0]?.status, r.raw.toString('latin1')).toBe(101);
    const h = handshakes.find((x) => x.req.url === '/accept/early')!;
    expect(await waitFor(() => h.bytes().length >= frame.length, 2000)).toBe(true);
    expect(h.bytes()).toEqual(frame);
  });

  it('answers the 101 with the upstream\'s fields, less the hop-by-hop ones', async () => {
    const r = await rawRequest(portOf(gate.url), handshake('/accept/head'));
    const res = r.responses[0]!;
    expect(res.status).toBe(101);
    expect(res.headers).toMatchObject({ upgrade: 'websocket', connection: 'Upgrade', 'sec-websocket-accept': ACCEPT, 'sec-websocket-protocol': 'chat', 'x-up': '1' });
    expect(res.headers['keep-alive']).toBeUndefined();
  });

  it('relays a refusal with a length whole, with its fields, and then closes the client\'s connection', async () => {
    const r = await rawRequest(portOf(gate.url), handshake('/refuse'), { waitClose: true, timeoutMs: 3000 });
    expect(r.closed).toBe(true);
    const res = r.responses[0]!;
    expect(res.status).toBe(403);
    expect(res.reason).toBe('Forbidden');
    expect(res.body.toString()).toBe('no way.');
    expect(res.headers).toMatchObject({ 'content-type': 'text/plain', 'content-length': '7', 'x-reason': 'policy', connection: 'close' });
    expect(res.headers['keep-alive']).toBeUndefined();
    expect(await waitFor(() => gate.app.sessions.size === 0, 1000)).toBe(true);
  });

  it('sends the upstream the Host a forwarded request gets, with and without upstream.preserveHost', async () => {
    await rawRequest(portOf(gate.url), handshake('/accept/host', 'client.example'));
    expect((await fetch(`${gate.url}/plain`, { headers: { authorization: AUTH, host: 'client.example' } })).status).toBe(200);
    expect(handshakes.find((x) => x.req.url === '/accept/host')!.req.headers.host).toBe(`127.0.0.1:${upPort}`);
    expect(httpHosts.at(-1)).toBe(`127.0.0.1:${upPort}`);

    const kept = await startTrackgate({ upstreamUrl: `http://127.0.0.1:${upPort}`, config: { upstream: { preserveHost: true } } });
    try {
      await rawRequest(portOf(kept.url), handshake('/accept/kept-host', 'client.example'));
      expect(handshakes.find((x) => x.req.url === '/accept/kept-host')!.req.headers.host).toBe('client.example');
    } finally {
      await kept.close();
    }
  });

  it('a token revoked while its handshake waits for the upstream: the client is cut and the upstream\'s connection closed', async () => {
    const { value, record } = await gate.app.tokens.issue({ type: 'session', issuer: 'gps_rest_v2', subject: DEMO.user, kind: 'user', ttlSeconds: 600 });
    const s: Socket = connect({ host: '127.0.0.1', port: portOf(gate.url) });
    s.on('error', () => undefined);
    let clientClosed = false;
    s.once('close', () => { clientClosed = true; });
    s.write(handshake(`/silent-revoked?_token=${value}`).replace(`Authorization: ${AUTH}\r\n`, ''));
    expect(await waitFor(() => handshakes.some((x) => x.req.url === '/silent-revoked'), 3000)).toBe(true);
    const up = handshakes.find((x) => x.req.url === '/silent-revoked')!.socket;
    let upClosed = false;
    up.once('end', () => { upClosed = true; });
    up.once('close', () => { upClosed = true; });
    await gate.app.store.revokeTokens([record.digest], Date.now());
    expect(await waitFor(() => upClosed && clientClosed && gate.app.sessions.size === 0, 2000)).toBe(true);
  });

  it('a handshake still waiting for its upstream at shutdown is cut on both sides, not left to headersTimeoutMs', async () => {
    const g = await startTrackgate({ upstreamUrl: `http://127.0.0.1:${upPort}`, config: { upstream: { headersTimeoutMs: 20_000 } } });
    try {
      const s: Socket = connect({ host: '127.0.0.1', port: portOf(g.url) });
      s.on('error', () => undefined);
      let clientClosed = false;
      s.once('close', () => { clientClosed = true; });
      s.write(handshake('/silent'));
      expect(await waitFor(() => handshakes.some((x) => x.req.url === '/silent'), 3000)).toBe(true);
      const up = handshakes.find((x) => x.req.url === '/silent')!.socket;
      // Its end seen (a half-open upgrade socket of node:http stays open until ended).
      let upClosed = false;
      up.once('end', () => { upClosed = true; });
      up.once('close', () => { upClosed = true; });
      await g.app.close(200);
      expect(await waitFor(() => upClosed && clientClosed && g.app.sessions.size === 0, 2000)).toBe(true);
    } finally {
      await g.close();
    }
  });
});
