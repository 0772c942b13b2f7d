import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { AddressInfo, Socket } from 'node:net';
import { Readable } from 'node:stream';
import { exportJWK, generateKeyPair, SignJWT, type JWTPayload } from 'jose';
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startDemoUpstream, type DemoUpstream, type DemoUpstreamOptions } from '../../src/demo/upstream.js';
import { sleep } from '../helpers/wait.js';

const ISSUER = 'https://trackgate.test';
const AUDIENCE = 'demo-gps';
const HEADER = 'x-identity-assertion';
/** 'ts,lat,lon,speed_kmh\n' and `2024-01-01T00:00:00.000Z,52.520008,13.419954,29.8\n`. */
const CSV_HEADER_BYTES = 21;
const CSV_LINE_BYTES = 50;
const CSV_LINE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z,\d\d\.\d{6},\d\d\.\d{6},\d\d\.\d$/;

type SigningKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];

let edKey: SigningKey;
let esKey: SigningKey;
let jwksServer: Server;
let jwksUrl: string;

/** Listens on 127.0.0.1:0 and returns the base URL. */
async function listen(server: Server): Promise<string> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

beforeAll(async () => {
  const ed = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  const es = await generateKeyPair('ES256', { extractable: true });
  edKey = ed.privateKey;
  esKey = es.privateKey;
  const keys = [
    { ...(await exportJWK(ed.publicKey)), kid: 'ed-1', alg: 'EdDSA', use: 'sig' },
    { ...(await exportJWK(es.publicKey)), kid: 'es-1', alg: 'ES256', use: 'sig' },
  ];
  const body = JSON.stringify({ keys });
  jwksServer = createServer((req, res) => {
    if (req.url !== '/.well-known/jwks.json') {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/jwk-set+json' }).end(body);
  });
  jwksUrl = `${await listen(jwksServer)}/.well-known/jwks.json`;
});

afterAll(async () => {
  await closeServer(jwksServer);
});

// Everything a test starts is closed after it, even when it fails.
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (let c = cleanups.pop(); c !== undefined; c = cleanups.pop()) await c();
});

async function upstream(overrides: Partial<DemoUpstreamOptions> = {}): Promise<DemoUpstream> {
  const u = await startDemoUpstream({ jwksUrl, issuer: ISSUER, audience: AUDIENCE, livePeriodMs: 50, ...overrides });
  cleanups.push(() => u.close());
  return u;
}

interface SignOptions {
  iss?: string;
  aud?: string;
  /** jose time span or epoch seconds; `null` leaves `exp` out. */
  exp?: string | number | null;
  alg?: 'EdDSA' | 'ES256';
  key?: SigningKey;
  kid?: string;
}

/** An identity assertion as trackgate mints it, with `extra` claims merged over the defaults. */
async function sign(extra: JWTPayload = {}, o: SignOptions = {}): Promise<string> {
  const alg = o.alg ?? 'EdDSA';
  const jwt = new SignJWT({ scheme: 'basic', kind: 'user', account: 'acme', instance: 'eu-1', ...extra })
    .setProtectedHeader({ alg, kid: o.kid ?? (alg === 'EdDSA' ? 'ed-1' : 'es-1') })
    .setSubject('user-42')
    .setIssuer(o.iss ?? ISSUER)
    .setAudience(o.aud ?? AUDIENCE)
    .setIssuedAt();
  if (o.exp !== null) jwt.setExpirationTime(o.exp ?? '2m');
  return jwt.sign(o.key ?? (alg === 'EdDSA' ? edKey : esKey));
}

async function get(url: string, token?: string): Promise<{ status: number; body: unknown; text: string }> {
  const res = await request(url, { headers: token === undefined ? {} : { [HEADER]: token } });
  const text = await res.body.text();
  const body: unknown = res.headers['content-type'] === 'application/json' ? JSON.parse(text) : undefined;
  return { status: res.statusCode, body, text };
}

describe('identity verification', () => {
  it('accepts a valid EdDSA assertion', async () => {
    const u = await upstream();
    const res = await get(`${u.url}/rest/v2/devices`, await sign());
    expect(res.status).toBe(200);
    const { devices } = res.body as { devices: Array<{ id: string }> };
    expect(devices.length).toBeGreaterThanOrEqual(3);
    expect(devices.length).toBeLessThanOrEqual(4);
  });

  it('accepts a valid ES256 assertion', async () => {
    const u = await upstream();
    expect((await get(`${u.url}/rest/v2/devices`, await sign({}, { alg: 'ES256' }))).status).toBe(200);
  });

  it('rejects a request without the header, before routing', async () => {
    const u = await upstream();
    for (const path of ['/rest/v2/devices', '/no/such/path']) {
      const res = await get(`${u.url}${path}`);
      expect(res.status).toBe(401);
      expect(res.body).toEqual({ error: 'missing_identity' });
    }
    expect((await get(`${u.url}/rest/v2/devices`, '')).body).toEqual({ error: 'missing_identity' });
  });

  it('honours a custom header name', async () => {
    const u = await upstream({ headerName: 'X-Trackgate-Identity' });
    const token = await sign();
    expect((await get(`${u.url}/rest/v2/devices`, token)).status).toBe(401);
    const res = await request(`${u.url}/rest/v2/devices`, { headers: { 'x-trackgate-identity': token } });
    await res.body.dump();
    expect(res.statusCode).toBe(200);
  });

  const invalid: Array<[string, () => Promise<string>]> = [
    ['wrong audience', () => sign({}, { aud: 'someone-else' })],
    ['wrong issuer', () => sign({}, { iss: 'https://evil.test' })],
    ['expired', () => sign({}, { exp: Math.floor(Date.now() / 1000) - 60 })],
    ['without exp', () => sign({}, { exp: null })],
    [
      'tampered payload',
      async () => {
        const [h, p, s] = (await sign()).split('.') as [string, string, string];
        const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as JWTPayload;
        const forged = Buffer.from(JSON.stringify({ ...claims, kind: 'admin' })).toString('base64url');
        return `${h}.${forged}.${s}`;
      },
    ],
    [
      'signed by a key not in the set',
      async () => sign({}, { key: (await generateKeyPair('EdDSA', { crv: 'Ed25519' })).privateKey }),
    ],
    [
      'unsigned (alg none)',
      async () => {
        const enc = (o: object): string => Buffer.from(JSON.stringify(o)).toString('base64url');
        const now = Math.floor(Date.now() / 1000);
        return `${enc({ alg: 'none' })}.${enc({ sub: 'x', scheme: 'basic', kind: 'admin', iss: ISSUER, aud: AUDIENCE, exp: now + 60 })}.`;
      },
    ],
    ['garbage', async () => 'not-a-jwt'],
    ['missing kind', () => sign({ kind: undefined })],
    ['unknown kind', () => sign({ kind: 'root' })],
    ['non-string account', () => sign({ account: 42 })],
  ];
  for (const [name, make] of invalid) {
    it(`rejects an assertion: ${name}`, async () => {
      const u = await upstream();
      const token = await make();
      const res = await get(`${u.url}/rest/v2/devices`, token);
      expect(res.status).toBe(401);
      expect(res.body).toEqual({ error: 'invalid_identity' });
      expect(res.text).not.toContain(token);
    });
  }

  it('tolerates small clock skew only', async () => {
    const u = await upstream({ clockToleranceSec: 30 });
    const now = Math.floor(Date.now() / 1000);
    expect((await get(`${u.url}/rest/v2/devices`, await sign({}, { exp: now - 10 }))).status).toBe(200);
    expect((await get(`${u.url}/rest/v2/devices`, await sign({}, { exp: now - 60 }))).status).toBe(401);
  });

  it('rejects two identity headers', async () => {
    const u = await upstream();
    const token = await sign();
    const res = await request(`${u.url}/rest/v2/devices`, { headers: { [HEADER]: [token, token] } });
    expect(res.statusCode).toBe(401);
    expect(await res.body.json()).toEqual({ error: 'invalid_identity' });
  });

  it('checks htm/htu of a request-bound assertion', async () => {
    const u = await upstream();
    const bound = await sign({ htm: 'GET', htu: '/rest/v2/devices' });
    // The query string is not part of htu.
    expect((await get(`${u.url}/rest/v2/devices?x=1`, bound)).status).toBe(200);
    expect((await get(`${u.url}/rest/v2/gateway`, bound)).body).toEqual({ error: 'identity_not_for_this_request' });

    const wrongMethod = await sign({ htm: 'POST', htu: '/rest/v2/devices' });
    const res = await get(`${u.url}/rest/v2/devices`, wrongMethod);
    expect(res.status).toBe(401);
    expect(res.body).toEqual({ error: 'identity_not_for_this_request' });

    const wrongPath = await sign({ htu: '/rest/v2/devices/trk-001' });
    expect((await get(`${u.url}/rest/v2/devices`, wrongPath)).status).toBe(401);
  });

  it('answers 503, not 401, when the key set cannot be fetched', async () => {
    const dead = createServer();
    const deadUrl = await listen(dead);
    await closeServer(dead);
    const u = await upstream({ jwksUrl: `${deadUrl}/.well-known/jwks.json` });
    const res = await get(`${u.url}/rest/v2/devices`, await sign());
    expect(res.status).toBe(503);
    expect(res.body).toEqual({ error: 'identity_keys_unavailable' });
  });
});

describe('REST routes', () => {
  it('serves the gateway object with the caller identity', async () => {
    const u = await upstream();
    const res = await get(`${u.url}/rest/v2/gateway`, await sign());
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      token_valid: true,
      token_url: 'token',
      auth_basic_url: 'auth-basic',
      auth_digest_url: 'auth-digest',
      devices_url: 'devices',
      identity: { sub: 'user-42', scheme: 'basic', kind: 'user', account: 'acme', instance: 'eu-1' },
    });
  });

  it('leaves optional identity claims out when absent', async () => {
    const u = await upstream();
    const token = await sign({ kind: 'anonymous', scheme: 'anonymous', account: undefined, instance: undefined });
    const res = await get(`${u.url}/rest/v2/gateway`, token);
    expect((res.body as { identity: unknown }).identity).toEqual({ sub: 'user-42', scheme: 'anonymous', kind: 'anonymous' });
  });

  it('lists devices and serves one device', async () => {
    const u = await upstream();
    const token = await sign();
    const { body } = await get(`${u.url}/rest/v2/devices`, token);
    const { devices } = body as { devices: Array<{ id: string; name: string; imei: string; last_position: object }> };
    for (const d of devices) {
      expect(d).toMatchObject({ id: expect.any(String), name: expect.any(String), imei: expect.stringMatching(/^\d{15}$/) });
      expect(d.last_position).toEqual({ lat: expect.any(Number), lon: expect.any(Number), ts: expect.any(String) });
    }
    const first = devices[0]!;
    const one = await get(`${u.url}/rest/v2/devices/${first.id}`, token);
    expect(one.status).toBe(200);
    expect(one.body).toEqual(first);
    const missing = await get(`${u.url}/rest/v2/devices/nope`, token);
    expect(missing.status).toBe(404);
    expect(missing.body).toEqual({ error: 'not_found' });
  });

  it('returns the verified claims on whoami, never the token', async () => {
    const u = await upstream();
    const token = await sign();
    const res = await get(`${u.url}/rest/v2/whoami`, token);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ sub: 'user-42', iss: ISSUER, aud: AUDIENCE, kind: 'user', scheme: 'basic' });
    expect(res.text).not.toContain(token);
  });

  it('answers 404 for unknown routes and methods', async () => {
    const u = await upstream();
    const token = await sign();
    expect((await get(`${u.url}/rest/v2/nothing`, token)).body).toEqual({ error: 'not_found' });
    expect((await get(`${u.url}/rest/v2/live`, token)).status).toBe(404);
    const res = await request(`${u.url}/rest/v2/devices`, { method: 'DELETE', headers: { [HEADER]: token } });
    expect(res.statusCode).toBe(404);
    expect(await res.body.json()).toEqual({ error: 'not_found' });
  });

  it('generates deterministic positions with a validated limit', async () => {
    const u = await upstream();
    const token = await sign();
    const base = `${u.url}/rest/v2/devices/trk-001/positions`;

    const def = await get(base, token);
    expect(def.status).toBe(200);
    const { device_id, positions } = def.body as { device_id: string; positions: unknown[] };
    expect(device_id).toBe('trk-001');
    expect(positions).toHaveLength(50);
    expect(positions[0]).toEqual({ lat: expect.any(Number), lon: expect.any(Number), ts: expect.any(String), speed: expect.any(Number) });

    const three = await get(`${base}?limit=3`, token);
    expect((three.body as { positions: unknown[] }).positions).toEqual(positions.slice(0, 3));
    expect(((await get(`${base}?limit=1000`, token)).body as { positions: unknown[] }).positions).toHaveLength(1000);

    for (const bad of ['0', '-1', '1001', 'abc', '1.5', '', '1e3']) {
      const res = await get(`${base}?limit=${bad}`, token);
      expect(res.status, `limit=${bad}`).toBe(400);
      expect(res.body).toEqual({ error: 'bad_limit' });
    }
    expect((await get(`${base}?limit=1&limit=2`, token)).status).toBe(400);
    expect((await get(`${u.url}/rest/v2/devices/nope/positions`, token)).status).toBe(404);
  });
});

describe('track.csv export', () => {
  /** How long the back-pressure case's client reads nothing. */
  const STALL_MS = 1_000;
  // The demo upstream runs in this process: the sockets of its exports are seen as their requests start.
  const exportSockets: Socket[] = [];
  const onRequest = (message: unknown): void => {
    const { request, socket } = message as { request: IncomingMessage; socket: Socket };
    if (request.url?.includes('/track.csv') === true) exportSockets.push(socket);
  };
  beforeAll(() => subscribe('http.server.request.start', onRequest));
  afterAll(() => unsubscribe('http.server.request.start', onRequest));

  it('streams a header and one fixed-width line per point', async () => {
    const u = await upstream();
    const token = await sign();
    const res = await request(`${u.url}/rest/v2/devices/trk-002/track.csv?points=1000`, { headers: { [HEADER]: token } });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/csv/);
    expect(res.headers['transfer-encoding']).toBe('chunked');
    const text = await res.body.text();
    const lines = text.split('\n');
    expect(lines.pop()).toBe(''); // trailing newline
    expect(lines[0]).toBe('ts,lat,lon,speed_kmh');
    expect(lines).toHaveLength(1001);
    for (const line of lines.slice(1)) expect(line).toMatch(CSV_LINE);
    expect(text.length).toBe(CSV_HEADER_BYTES + 1000 * CSV_LINE_BYTES);

    const again = await request(`${u.url}/rest/v2/devices/trk-002/track.csv?points=1000`, { headers: { [HEADER]: token } });
    expect(await again.body.text()).toBe(text);
  });

  it('validates points', async () => {
    const u = await upstream();
    const token = await sign();
    for (const bad of ['0', '50000001', 'x']) {
      const res = await get(`${u.url}/rest/v2/devices/trk-001/track.csv?points=${bad}`, token);
      expect(res.status).toBe(400);
      expect(res.body).toEqual({ error: 'bad_points' });
    }
    expect((await get(`${u.url}/rest/v2/devices/nope/track.csv`, token)).status).toBe(404);
  });

  it('streams 2,000,000 points (100 MB) chunked, byte for byte', { timeout: 60_000 }, async () => {
    const u = await upstream();
    const points = 2_000_000;
    const res = await request(`${u.url}/rest/v2/devices/trk-003/track.csv?points=${points}`, {
      headers: { [HEADER]: await sign() },
    });
    expect(res.statusCode).toBe(200);
    expect(res.headers['transfer-encoding']).toBe('chunked');
    expect(res.headers['content-length']).toBeUndefined();
    let bytes = 0;
    let newlines = 0;
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      bytes += chunk.length;
      for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) newlines++;
    }
    expect(newlines).toBe(points + 1);
    expect(bytes).toBe(CSV_HEADER_BYTES + points * CSV_LINE_BYTES);
  });

  it('stops generating while the client does not read (back-pressure)', { timeout: 30_000 }, async () => {
    const u = await upstream();
    // 2.5 GB if it were generated eagerly.
    const res = await request(`${u.url}/rest/v2/devices/trk-001/track.csv?points=50000000`, {
      headers: { [HEADER]: await sign() },
    });
    const reader = (res.body as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
    expect((await reader.next()).done).toBe(false);
    // The client now reads nothing for STALL_MS (the scenario). An export ignoring back-pressure goes on
    // queueing (tens of MB a second); a lazy one stops once the socket buffers are full. The server's socket
    // counts what the export handed it, sent or still queued.
    const served = exportSockets.at(-1)!;
    await sleep(STALL_MS);
    expect(served.bytesWritten).toBeLessThan(16 * 1024 * 1024);
    res.body.destroy();
    // Closing with the export half-sent must not hang.
    await u.close();
  });
});

describe('echo', () => {
  it('hashes a 5 MiB streamed body without altering it', { timeout: 30_000 }, async () => {
    const u = await upstream();
    const chunkSize = 64 * 1024;
    const chunks = (5 * 1024 * 1024) / chunkSize;
    const expected = createHash('sha256');
    // Deterministic, non-uniform content: chunk i repeats the 32-byte sha256 of its index.
    const chunkAt = (i: number): Buffer => Buffer.alloc(chunkSize, createHash('sha256').update(String(i)).digest());
    for (let i = 0; i < chunks; i++) expected.update(chunkAt(i));
    async function* body(): AsyncGenerator<Buffer> {
      for (let i = 0; i < chunks; i++) yield chunkAt(i);
    }
    const res = await request(`${u.url}/rest/v2/echo`, {
      method: 'POST',
      headers: { [HEADER]: await sign() },
      body: Readable.from(body(), { objectMode: false }),
    });
    expect(res.statusCode).toBe(200);
    expect(await res.body.json()).toEqual({ bytes: 5 * 1024 * 1024, sha256: expected.digest('hex') });
  });

  it('requires an identity too', async () => {
    const u = await upstream();
    const res = await request(`${u.url}/rest/v2/echo`, { method: 'POST', body: 'hello' });
    expect(res.statusCode).toBe(401);
    await res.body.dump();
  });
});

describe('WebSocket live feed', () => {
  /** Cleanup for a client in any state: terminating one still connecting reports an error, ignore it. */
  function track(ws: WebSocket): void {
    cleanups.push(() => {
      ws.on('error', () => {});
      if (ws.readyState !== WebSocket.CLOSED) ws.terminate();
    });
  }

  interface Opened {
    ws: WebSocket;
    next(): Promise<Record<string, unknown>>;
  }

  /** Connects and queues every message, so none is missed between awaits. */
  async function connect(url: string, token: string): Promise<Opened> {
    const ws = new WebSocket(url, { headers: { [HEADER]: token } });
    track(ws);
    const queue: Array<Record<string, unknown>> = [];
    const waiting: Array<(m: Record<string, unknown>) => void> = [];
    ws.on('message', (data) => {
      const msg = JSON.parse(String(data)) as Record<string, unknown>;
      const w = waiting.shift();
      if (w) w(msg);
      else queue.push(msg);
    });
    await once(ws, 'open');
    return {
      ws,
      next: () => {
        const m = queue.shift();
        return m !== undefined ? Promise.resolve(m) : new Promise((resolve) => waiting.push(resolve));
      },
    };
  }

  /** Status and body of a refused upgrade. */
  async function refused(url: string, headers: Record<string, string>): Promise<{ status: number; body: unknown }> {
    const ws = new WebSocket(url, { headers });
    track(ws);
    const [, res] = (await once(ws, 'unexpected-response')) as [unknown, import('node:http').IncomingMessage];
    let text = '';
    for await (const chunk of res) text += String(chunk);
    return { status: res.statusCode ?? 0, body: JSON.parse(text) };
  }

  const wsUrl = (u: DemoUpstream, path: string): string => `${u.url.replace(/^http/, 'ws')}${path}`;

  it('streams positions and echoes text', async () => {
    const u = await upstream();
    const { ws, next } = await connect(wsUrl(u, '/rest/v2/live'), await sign());
    const position = await next();
    expect(position).toEqual({ device_id: expect.any(String), lat: expect.any(Number), lon: expect.any(Number), ts: expect.any(String) });
    ws.send('hello trackgate');
    let msg = await next();
    while (!('echo' in msg)) msg = await next();
    expect(msg).toEqual({ echo: 'hello trackgate' });
  });

  it('streams one device on /devices/:id/live, every livePeriodMs', async () => {
    const u = await upstream({ livePeriodMs: 20 });
    const { next } = await connect(wsUrl(u, '/rest/v2/devices/trk-004/live'), await sign());
    const seen = [await next(), await next(), await next()];
    for (const m of seen) expect(m.device_id).toBe('trk-004');
  });

  it('refuses an upgrade without identity, with a bad one, or to an unknown feed', async () => {
    const u = await upstream();
    expect(await refused(wsUrl(u, '/rest/v2/live'), {})).toEqual({ status: 401, body: { error: 'missing_identity' } });
    expect(await refused(wsUrl(u, '/rest/v2/live'), { [HEADER]: await sign({}, { aud: 'other' }) })).toEqual({
      status: 401,
      body: { error: 'invalid_identity' },
    });
    const boundElsewhere = await sign({ htm: 'GET', htu: '/rest/v2/devices/trk-001/live' });
    expect(await refused(wsUrl(u, '/rest/v2/live'), { [HEADER]: boundElsewhere })).toEqual({
      status: 401,
      body: { error: 'identity_not_for_this_request' },
    });
    expect(await refused(wsUrl(u, '/rest/v2/devices/nope/live'), { [HEADER]: await sign() })).toEqual({
      status: 404,
      body: { error: 'not_found' },
    });
  });

  it('fails the connection with 401 when the header is missing', async () => {
    const u = await upstream();
    const ws = new WebSocket(wsUrl(u, '/rest/v2/live'));
    track(ws);
    const [err] = (await once(ws, 'error')) as [Error];
    expect(err.message).toContain('401');
  });

  it('close() ends open sockets and resolves', async () => {
    const u = await upstream();
    const { ws, next } = await connect(wsUrl(u, '/rest/v2/live'), await sign({ htm: 'GET', htu: '/rest/v2/live' }));
    await next();
    const closed = once(ws, 'close');
    await u.close();
    await closed;
    await u.close(); // idempotent
  });
});
