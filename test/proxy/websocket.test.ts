/**
 * WebSocket upgrades through trackgate to the demo upstream (which verifies the identity header against the
 * gate's JWKS): with Basic credentials the live feed works both ways; without credentials, or with only a
 * spoofed (even validly signed) identity header, the handshake fails with trackgate's 401.
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { startDemoUpstream, type DemoUpstream } from '../../src/demo/upstream.js';
import { basicAuth, DEMO, startTrackgate, type TestGate } from '../helpers/trackgate.js';
import { freePort } from '../helpers/ports.js';
import { metric } from '../helpers/metrics.js';
import { portOf, rawRequest } from '../helpers/raw-http.js';
import { verifyAssertion } from '../helpers/identity-assertion.js';
import { waitFor } from '../helpers/wait.js';

const AUTH = basicAuth(DEMO.user, DEMO.password);
let demo: DemoUpstream;
let gate: TestGate;
let wsBase: string;

beforeAll(async () => {
  // The gate needs the upstream's URL and the upstream needs the gate's JWKS URL: reserve the upstream port.
  const port = await freePort();
  gate = await startTrackgate({ upstreamUrl: `http://127.0.0.1:${port}` });
  demo = await startDemoUpstream({
    port, jwksUrl: `${gate.adminUrl}/.well-known/jwks.json`, issuer: 'trackgate-test', audience: 'upstream-test', livePeriodMs: 100,
  });
  wsBase = gate.url.replace(/^http/, 'ws');
});
afterAll(async () => { await gate.close(); await demo.close(); });

/** Opens a WebSocket; resolves with the socket once open, or with the handshake's HTTP status and body. */
function connect(path: string, headers: Record<string, string>): Promise<{ ws?: WebSocket; status?: number; body?: string; wwwAuthenticate?: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${wsBase}${path}`, { headers });
    ws.once('open', () => resolve({ ws }));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => { body += c.toString(); });
      res.on('end', () => resolve({ status: res.statusCode, body, wwwAuthenticate: res.headers['www-authenticate'] as string | undefined }));
      res.on('error', () => resolve({ status: res.statusCode, body }));
    });
    ws.once('error', (e) => reject(e));
  });
}

function nextMessage(ws: WebSocket, match: (m: Record<string, unknown>) => boolean = () => true): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no message within 3 s')), 3000);
    const onMessage = (data: WebSocket.RawData): void => {
      const m = JSON.parse(data.toString()) as Record<string, unknown>;
      if (!match(m)) return;
      clearTimeout(timer);
      ws.off('message', onMessage);
      resolve(m);
    };
    ws.on('message', onMessage);
  });
}

describe('WebSocket through trackgate', () => {
  it('with Basic credentials: receives positions, echoes, and counts the session', async () => {
    const { ws, status, body } = await connect('/rest/v2/live', { authorization: AUTH });
    expect(status, body).toBeUndefined();
    try {
      const pos = await nextMessage(ws!);
      expect(pos).toMatchObject({ device_id: expect.any(String), lat: expect.any(Number), lon: expect.any(Number), ts: expect.any(String) });
      expect(await metric(gate.adminUrl, 'trackgate_websocket_sessions')).toBe(1);
      ws!.send('ping-1');
      expect(await nextMessage(ws!, (m) => 'echo' in m)).toEqual({ echo: 'ping-1' });
    } finally {
      ws!.close();
    }
    expect(await waitFor(async () => (await metric(gate.adminUrl, 'trackgate_websocket_sessions')) === 0, 2000)).toBe(true);
    const line = gate.logRecords().find((l) => l.msg === 'websocket upgrade');
    expect(line).toMatchObject({ path: '/rest/v2/live', scheme: 'basic', sub: DEMO.user });
    expect(JSON.stringify(line)).not.toContain(DEMO.password);
  });

  it('a single device feed streams that device only', async () => {
    const { ws, status, body } = await connect('/rest/v2/devices/trk-002/live', { authorization: AUTH });
    try {
      if (ws === undefined) throw new Error(`handshake failed: ${status} ${body}`);
      for (let i = 0; i < 3; i++) expect((await nextMessage(ws)).device_id).toBe('trk-002');
    } finally {
      ws?.close();
    }
  });

  it.each([
    ['no credentials', {}],
    ['a spoofed identity header only', { 'x-identity-assertion': 'eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhZG1pbiJ9.c2ln' }],
    ['a spoofed header spelled x_identity_assertion only', { x_identity_assertion: 'spoof' }],
  ])('with %s: the handshake fails with 401 from trackgate', async (_name, headers: Record<string, string>) => {
    const before = gate.logs.length;
    const r = await connect('/rest/v2/live', headers);
    expect(r.ws).toBeUndefined();
    expect(r.status).toBe(401);
    expect(JSON.parse(r.body!)).toEqual({ error: 'TG_ERR_NO_CREDENTIALS', message: 'authentication required' });
    expect(r.wwwAuthenticate).toMatch(/^Basic realm=/);
    expect(gate.logs.slice(before).some((l) => l.includes('websocket upgrade rejected'))).toBe(true);
  });

  it('with a genuinely signed identity header but no credentials: still 401 (the header is never trusted from clients)', async () => {
    // A header trackgate itself signed, e.g. lifted from upstream traffic: the demo upstream would accept it.
    const lifted = gate.app.minter.mint(Object.freeze({ subject: DEMO.user, scheme: 'basic', kind: 'user' as const }), 'GET', '/rest/v2/live');
    const r = await connect('/rest/v2/live', { 'x-identity-assertion': lifted });
    expect(r.ws).toBeUndefined();
    expect(r.status).toBe(401);
    expect(JSON.parse(r.body!).error).toBe('TG_ERR_NO_CREDENTIALS');
  });

  it('with wrong credentials: 401; with a malformed Basic header: 400', async () => {
    expect((await connect('/rest/v2/live', { authorization: basicAuth(DEMO.user, 'wrong') })).status).toBe(401);
    const bad = await connect('/rest/v2/live', { authorization: 'Basic !!!' });
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body!).error).toBe('TG_ERR_MALFORMED_CREDENTIALS');
  });

  it('the upstream sees the gate\'s header, not the client\'s credentials (via an HTTP call to the same upstream)', async () => {
    const res = await fetch(`${gate.url}/rest/v2/whoami`, { headers: { authorization: AUTH, 'x-identity-assertion': 'spoof' } });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ iss: 'trackgate-test', aud: 'upstream-test', sub: DEMO.user, scheme: 'basic', kind: 'user' });
  });

  it('answers 502 to an authenticated upgrade when the upstream is down, and keeps serving', async () => {
    const down = await startTrackgate({ upstreamUrl: `http://127.0.0.1:${await freePort()}` });
    try {
      const ws = new WebSocket(`${down.url.replace(/^http/, 'ws')}/rest/v2/live`, { headers: { authorization: AUTH } });
      const r = await new Promise<{ status?: number; body?: string; error?: string }>((resolve) => {
        ws.once('unexpected-response', (_req, res) => {
          let body = '';
          res.on('data', (c: Buffer) => { body += c.toString(); });
          res.on('end', () => resolve({ status: res.statusCode, body }));
        });
        ws.once('error', (e) => resolve({ error: e.message }));
        ws.once('open', () => resolve({ error: 'opened' }));
      });
      expect(r.error).toBeUndefined();
      expect(r.status).toBe(502);
      expect(JSON.parse(r.body!).error).toBe('TG_ERR_UPSTREAM_UNAVAILABLE');
      expect((await fetch(`${down.url}/x`)).status).toBe(401);
    } finally {
      await down.close();
    }
  });

  it('answers a JSON 404 when WebSocket proxying is disabled', async () => {
    const off = await startTrackgate({ upstreamUrl: `http://127.0.0.1:${demo.port}`, config: { upstream: { websockets: false } } });
    try {
      const ws = new WebSocket(`${off.url.replace(/^http/, 'ws')}/rest/v2/live`, { headers: { authorization: AUTH } });
      const r = await new Promise<{ status?: number; body?: string; error?: string }>((resolve) => {
        ws.once('unexpected-response', (_req, res) => {
          let body = '';
          res.on('data', (c: Buffer) => { body += c.toString(); });
          res.on('end', () => resolve({ status: res.statusCode, body }));
        });
        ws.once('error', (e) => resolve({ error: e.message }));
      });
      expect(r.status).toBe(404);
      expect(JSON.parse(r.body!)).toEqual({ error: 'TG_ERR_NOT_FOUND', message: 'WebSocket proxying is disabled' });
    } finally {
      await off.close();
    }
  });
});

describe('what a WebSocket upstream receives', () => {
  it('the identity header, and no credentials, spoofs or Connection-named headers', async () => {
    const upgrades: IncomingMessage[] = [];
    const server = createServer((_req, res) => res.end());
    const wss = new WebSocketServer({ noServer: true });
    server.on('upgrade', (req: IncomingMessage, socket, head) => {
      upgrades.push(req);
      wss.handleUpgrade(req, socket, head, () => undefined);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const g = await startTrackgate({ upstreamUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
    try {
      // Raw, so the Connection header can name another header (the ws client always sends `Upgrade` alone).
      const r = await rawRequest(portOf(g.url), [
        'GET /live?a=1&_token=s&b=%2F HTTP/1.1', `Host: 127.0.0.1:${portOf(g.url)}`, `Authorization: ${AUTH}`,
        'Cookie: a=1; token=secret; b=2', 'X-Identity-Assertion: spoof', 'x_identity_assertion: spoof2', 'InstanceKey: k',
        'Connection: Upgrade, X-Secret-Hop', 'X-Secret-Hop: 1', 'X-Keep: kept', 'Upgrade: websocket',
        'Sec-WebSocket-Version: 13', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==', '', '',
      ].join('\r\n'));
      expect(r.responses[0]?.status, r.raw.toString('latin1')).toBe(101);
      expect(r.responses[0]?.headers['sec-websocket-accept']).toBe('s3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
      const req = upgrades[0]!;
      expect(req.url).toBe('/live?a=1&b=%2F');
      expect(req.headers.authorization).toBeUndefined();
      expect(req.headers.instancekey).toBeUndefined();
      expect(req.headers.cookie).toBe('a=1; b=2');
      expect(req.headers['x-secret-hop']).toBeUndefined();
      expect(req.headers['x-keep']).toBe('kept');
      expect(req.headers.upgrade).toBe('websocket');
      expect(req.headers['x-forwarded-for']).toBe('127.0.0.1');
      const names = req.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
      expect(names).not.toContain('x_identity_assertion');
      expect(names.filter((n) => n === 'x-identity-assertion')).toHaveLength(1);
      const { payload } = await verifyAssertion(g.adminUrl, req.headers['x-identity-assertion'] as string);
      expect(payload).toMatchObject({ sub: DEMO.user, scheme: 'basic', kind: 'user' });
    } finally {
      await g.close();
      for (const c of wss.clients) c.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});
