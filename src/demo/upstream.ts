/**
 * The demo GPS data service that `trackgate demo` starts behind the proxy. It is a real service (JSON REST,
 * a large streamed CSV export, a streamed body echo, a WebSocket live feed and the "Try it out" page that
 * browses them, src/demo/site.ts), and it is the reference for
 * upstream teams on how to trust trackgate's identity header.
 *
 * Verifying the header takes five lines with jose:
 *
 *   import { createRemoteJWKSet, jwtVerify } from 'jose';
 *   const jwks = createRemoteJWKSet(new URL(process.env.TRACKGATE_JWKS_URL!)); // once, at startup
 *   const token = req.headers['x-identity-assertion'];                       // missing → 401
 *   const { payload } = await jwtVerify(token, jwks, { issuer, audience,     // throws → 401
 *     algorithms: ['EdDSA', 'ES256'], requiredClaims: ['exp'], clockTolerance: 5 });
 *
 * and then, as {@link createIdentityVerifier} below does:
 * - if the assertion carries `htm`/`htu` (request-bound mode), check them against the request's method and
 *   path, so an assertion lifted from one request cannot be replayed on another;
 * - create the key set once: it caches keys, and refetches them when a token names an unknown `kid`
 *   (that is how trackgate's key rotation reaches you, with no restart);
 * - never log or echo the token, and tell "the token is bad" (401) from "I cannot fetch the keys" (503);
 * - only accept traffic that comes through trackgate (network policy): the header proves who the caller is,
 *   not that nobody else can reach you.
 */
import { createHash } from 'node:crypto';
import { createServer, STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable, type Duplex } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createRemoteJWKSet, errors, jwtVerify, type JWTPayload } from 'jose';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { CSV_HEADER, csvLines, findDevice, listDevices, listZones, positionAt, positions } from './data.js';
import { loadSite } from './site.js';

export interface DemoUpstreamOptions {
  /** Default `127.0.0.1`. */
  host?: string;
  /** Default 0 (ephemeral). */
  port?: number;
  /** Where trackgate serves its public keys (`http://<admin>/.well-known/jwks.json`). */
  jwksUrl: string;
  /** Expected `iss`. */
  issuer: string;
  /** Expected `aud`. */
  audience: string;
  /** Identity header name. Default `x-identity-assertion`. */
  headerName?: string;
  /** Allowed clock skew for `exp`/`nbf`/`iat`, in seconds. Default 5. */
  clockToleranceSec?: number;
  /** Period of the WebSocket live feed, in milliseconds. Default 1000. */
  livePeriodMs?: number;
}

export interface DemoUpstream {
  /** Base URL, e.g. `http://127.0.0.1:40123`. */
  url: string;
  port: number;
  /** Stops listening, drops every connection and WebSocket, and resolves once the server is closed. */
  close(): Promise<void>;
}

// ---- Limits -----------------------------------------------------------------------------------------

const POSITIONS_DEFAULT = 50;
const POSITIONS_MAX = 1_000;
const TRACK_POINTS_DEFAULT = 100_000;
const TRACK_POINTS_MAX = 50_000_000;
/** Lines per generated CSV slice: ~100 KB, the most of an export that is ever in memory at once. */
const CSV_SLICE_LINES = 2_048;
/** WebSocket messages are small; anything bigger is a client bug or abuse. */
const LIVE_MAX_PAYLOAD = 64 * 1024;
/** A live client that has this much unsent data is too slow: skip ticks rather than queue them. */
const LIVE_MAX_BUFFERED = 1024 * 1024;

// ---- Identity verification --------------------------------------------------------------------------

/**
 * The `kind` claim. Declared here rather than imported from trackgate's internals on purpose: an upstream
 * only knows the wire contract.
 */
export type IdentityKind = 'user' | 'device' | 'app' | 'admin' | 'anonymous';
const KINDS: ReadonlySet<string> = new Set<IdentityKind>(['user', 'device', 'app', 'admin', 'anonymous']);
const isKind = (value: unknown): value is IdentityKind => typeof value === 'string' && KINDS.has(value);

/** Who the caller is, as the identity header says. */
export interface DemoIdentity {
  sub: string;
  scheme: string;
  kind: IdentityKind;
  account?: string;
  instance?: string;
}

type VerifyFailure = 'missing_identity' | 'invalid_identity' | 'identity_not_for_this_request' | 'identity_keys_unavailable';

type Verdict =
  | { ok: true; identity: DemoIdentity; claims: JWTPayload }
  | { ok: false; status: 401 | 503; error: VerifyFailure };

type IdentityVerifier = (req: IncomingMessage, path: string) => Promise<Verdict>;

const optionalString = (value: unknown): value is string | undefined => value === undefined || typeof value === 'string';

/** The identity claims, or undefined if any is missing or of the wrong type. */
function readIdentity(claims: JWTPayload): DemoIdentity | undefined {
  const { sub, scheme, kind, account, instance } = claims;
  if (typeof sub !== 'string' || typeof scheme !== 'string' || !isKind(kind)) return undefined;
  if (!optionalString(account) || !optionalString(instance)) return undefined;
  const identity: DemoIdentity = { sub, scheme, kind };
  if (account !== undefined) identity.account = account;
  if (instance !== undefined) identity.instance = instance;
  return identity;
}

/**
 * Request-bound mode: an assertion carrying `htm`/`htu` is only good for that method and path (no query).
 * Each claim is checked when present.
 */
function boundToRequest(claims: JWTPayload, method: string, path: string): boolean {
  const { htm, htu } = claims;
  if (htm !== undefined && htm !== method) return false;
  if (htu !== undefined && htu !== path) return false;
  return true;
}

/**
 * Errors that say nothing about the token: the key set could not be fetched or parsed. jose raises a plain
 * `JOSEError` for a non-200 or non-JSON key set response, and lets network errors through as they are.
 */
function isKeySetUnavailable(err: unknown): boolean {
  if (!(err instanceof errors.JOSEError)) return true;
  return err instanceof errors.JWKSTimeout || err instanceof errors.JWKSInvalid || err.code === errors.JOSEError.code;
}

function createIdentityVerifier(opts: DemoUpstreamOptions): IdentityVerifier {
  // One key set for the life of the service: it caches keys and refetches on an unknown `kid`.
  const jwks = createRemoteJWKSet(new URL(opts.jwksUrl));
  const headerName = (opts.headerName ?? 'x-identity-assertion').toLowerCase();
  const verifyOptions = {
    issuer: opts.issuer,
    audience: opts.audience,
    algorithms: ['EdDSA', 'ES256'],
    // An assertion without an expiry would be a bearer credential for life.
    requiredClaims: ['exp'],
    clockTolerance: opts.clockToleranceSec ?? 5,
  };

  return async (req, path) => {
    const values = req.headersDistinct[headerName];
    const token = values?.[0];
    if (values === undefined || token === undefined || token === '') {
      return { ok: false, status: 401, error: 'missing_identity' };
    }
    // Two assertions: which one did trackgate write? Refuse to guess.
    if (values.length > 1) return { ok: false, status: 401, error: 'invalid_identity' };

    let claims: JWTPayload;
    try {
      ({ payload: claims } = await jwtVerify(token, jwks, verifyOptions));
    } catch (err) {
      if (isKeySetUnavailable(err)) return { ok: false, status: 503, error: 'identity_keys_unavailable' };
      return { ok: false, status: 401, error: 'invalid_identity' };
    }

    const identity = readIdentity(claims);
    if (identity === undefined) return { ok: false, status: 401, error: 'invalid_identity' };
    if (!boundToRequest(claims, req.method ?? '', path)) {
      return { ok: false, status: 401, error: 'identity_not_for_this_request' };
    }
    return { ok: true, identity, claims };
  };
}

// ---- HTTP plumbing ----------------------------------------------------------------------------------

/** Splits a request target without `new URL()`, which would read `//host/path` as a host. */
function splitTarget(target: string | undefined): { path: string; query: URLSearchParams } {
  const url = target ?? '/';
  const q = url.indexOf('?');
  if (q === -1) return { path: url, query: new URLSearchParams() };
  return { path: url.slice(0, q), query: new URLSearchParams(url.slice(q + 1)) };
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    // Every answer depends on who asked.
    'cache-control': 'no-store',
  });
  res.end(text);
}

const notFound = (res: ServerResponse): void => sendJson(res, 404, { error: 'not_found' });

/** A positive integer query parameter: `fallback` if absent, undefined if malformed, repeated or too big. */
function parseCount(query: URLSearchParams, name: string, fallback: number, max: number): number | undefined {
  const values = query.getAll(name);
  if (values.length === 0) return fallback;
  const [raw] = values;
  if (values.length > 1 || raw === undefined || !/^[1-9][0-9]{0,9}$/.test(raw)) return undefined;
  const n = Number(raw);
  return n <= max ? n : undefined;
}

// ---- Routes -----------------------------------------------------------------------------------------

interface RequestContext {
  req: IncomingMessage;
  res: ServerResponse;
  path: string;
  query: URLSearchParams;
  identity: DemoIdentity;
  claims: JWTPayload;
}

const DEVICE_PATH = /^\/rest\/v2\/devices\/([A-Za-z0-9_-]+)(\/positions|\/track\.csv)?$/;

async function route(ctx: RequestContext): Promise<void> {
  const { req, res, path } = ctx;
  const method = req.method === 'HEAD' ? 'GET' : req.method;

  if (method === 'POST' && path === '/rest/v2/echo') return echo(ctx);
  if (method !== 'GET') return notFound(res);

  switch (path) {
    case '/rest/v2/gateway':
      return sendJson(res, 200, {
        token_valid: true,
        token_url: 'token',
        auth_basic_url: 'auth-basic',
        auth_digest_url: 'auth-digest',
        devices_url: 'devices',
        identity: ctx.identity,
      });
    case '/rest/v2/devices':
      return sendJson(res, 200, { devices: listDevices() });
    case '/rest/v2/zones':
      return sendJson(res, 200, { zones: listZones() });
    case '/rest/v2/whoami':
      return sendJson(res, 200, ctx.claims);
  }

  const match = DEVICE_PATH.exec(path);
  const device = match?.[1] === undefined ? undefined : findDevice(match[1]);
  if (device === undefined) return notFound(res);
  switch (match?.[2]) {
    case undefined:
      return sendJson(res, 200, device);
    case '/positions': {
      const limit = parseCount(ctx.query, 'limit', POSITIONS_DEFAULT, POSITIONS_MAX);
      if (limit === undefined) return sendJson(res, 400, { error: 'bad_limit' });
      return sendJson(res, 200, { device_id: device.id, positions: positions(device.id, limit) });
    }
    default: {
      const points = parseCount(ctx.query, 'points', TRACK_POINTS_DEFAULT, TRACK_POINTS_MAX);
      if (points === undefined) return sendJson(res, 400, { error: 'bad_points' });
      return trackCsv(ctx, device.id, points);
    }
  }
}

/**
 * A track export of up to 50 million lines (2.5 GB), in constant memory: the Readable produces one slice
 * only when the socket has taken the previous one (`pipeline` waits for `drain`), and no Content-Length is
 * set, so Node sends it chunked.
 */
async function trackCsv({ req, res }: RequestContext, deviceId: string, points: number): Promise<void> {
  res.writeHead(200, {
    'content-type': 'text/csv; charset=utf-8',
    'content-disposition': `attachment; filename="${deviceId}-track.csv"`,
    'cache-control': 'no-store',
  });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  let next = 0;
  const csv = new Readable({
    read() {
      if (next >= points) {
        this.push(null);
        return;
      }
      const to = Math.min(points, next + CSV_SLICE_LINES);
      const lines = csvLines(deviceId, next, to);
      this.push(next === 0 ? CSV_HEADER + lines : lines);
      next = to;
    },
  });
  try {
    await pipeline(csv, res);
  } catch {
    // The client went away mid-export; pipeline has already destroyed both streams.
  }
}

/** Hashes the body as it arrives, so a body of any size passes through in constant memory. */
async function echo({ req, res }: RequestContext): Promise<void> {
  const hash = createHash('sha256');
  let bytes = 0;
  try {
    for await (const chunk of req as AsyncIterable<Buffer>) {
      hash.update(chunk);
      bytes += chunk.length;
    }
  } catch {
    return; // The client aborted the upload: nobody is left to answer.
  }
  sendJson(res, 200, { bytes, sha256: hash.digest('hex') });
}

// ---- WebSocket live feed ----------------------------------------------------------------------------

const LIVE_PATH = /^\/rest\/v2\/(?:devices\/([A-Za-z0-9_-]+)\/)?live$/;

/** The devices a live path streams, or undefined if the path is not a live feed. */
function liveDevices(path: string): readonly string[] | undefined {
  const match = LIVE_PATH.exec(path);
  if (match === null) return undefined;
  if (match[1] === undefined) return listDevices().map((d) => d.id);
  const device = findDevice(match[1]);
  return device === undefined ? undefined : [device.id];
}

/** Answers an upgrade request with a plain HTTP error, then drops the socket. */
function rejectUpgrade(socket: Duplex, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  socket.once('finish', () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n` +
      'Connection: close\r\n' +
      'Content-Type: application/json\r\n' +
      `Content-Length: ${Buffer.byteLength(text)}\r\n` +
      '\r\n' +
      text,
  );
}

function rawDataToString(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}

/**
 * Sends a position now and then every `periodMs` (cycling through `deviceIds`), and echoes text messages.
 *
 * The identity was checked once, at the upgrade. A socket can outlive the assertion's `exp`; whether to
 * cut it off then is a policy choice for each upstream: this demo does not.
 */
function startLiveFeed(ws: WebSocket, deviceIds: readonly string[], periodMs: number): void {
  let tick = 0;
  const sendPosition = (): void => {
    if (ws.readyState !== WebSocket.OPEN || ws.bufferedAmount > LIVE_MAX_BUFFERED) return;
    const deviceId = deviceIds[tick % deviceIds.length];
    if (deviceId === undefined) return;
    const { lat, lon } = positionAt(deviceId, Math.floor(tick / deviceIds.length));
    tick++;
    ws.send(JSON.stringify({ device_id: deviceId, lat, lon, ts: new Date().toISOString() }));
  };
  const timer = setInterval(sendPosition, periodMs);
  ws.on('close', () => clearInterval(timer));
  // 'close' follows every 'error'; terminate so it does not wait for a closing handshake.
  ws.on('error', () => ws.terminate());
  ws.on('message', (data, isBinary) => {
    if (isBinary) {
      ws.close(1003, 'text only');
      return;
    }
    ws.send(JSON.stringify({ echo: rawDataToString(data) }));
  });
  sendPosition();
}

// ---- Server -----------------------------------------------------------------------------------------

export async function startDemoUpstream(opts: DemoUpstreamOptions): Promise<DemoUpstream> {
  const host = opts.host ?? '127.0.0.1';
  const livePeriodMs = opts.livePeriodMs ?? 1_000;
  if (!Number.isInteger(livePeriodMs) || livePeriodMs <= 0) {
    throw new RangeError('livePeriodMs must be a positive integer');
  }
  const verify = createIdentityVerifier(opts);
  const site = loadSite();

  const handleRequest = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const { path, query } = splitTarget(req.url);
    // The login page and its assets are public; they hold no data (src/demo/site.ts).
    if (site(req, res, path)) return;
    // Identity before routing: callers without one learn nothing, not even which paths exist.
    const verdict = await verify(req, path);
    if (!verdict.ok) return sendJson(res, verdict.status, { error: verdict.error });
    return route({ req, res, path, query, identity: verdict.identity, claims: verdict.claims });
  };

  const server = createServer((req, res) => {
    handleRequest(req, res).catch(() => {
      if (!res.headersSent) sendJson(res, 500, { error: 'internal' });
      else res.destroy();
    });
  });

  const wss = new WebSocketServer({ noServer: true, maxPayload: LIVE_MAX_PAYLOAD });
  // Sockets whose upgrade is being verified: neither the HTTP server nor ws tracks them meanwhile.
  const pendingUpgrades = new Set<Duplex>();

  const handleUpgrade = async (req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> => {
    const onSocketError = (): void => {
      socket.destroy();
    };
    socket.on('error', onSocketError);
    pendingUpgrades.add(socket);
    try {
      const { path } = splitTarget(req.url);
      const verdict = await verify(req, path);
      if (socket.destroyed) return;
      // A rejected socket keeps `onSocketError`: writing the refusal can still fail (EPIPE).
      if (!verdict.ok) return rejectUpgrade(socket, verdict.status, { error: verdict.error });
      const deviceIds = liveDevices(path);
      if (deviceIds === undefined) return rejectUpgrade(socket, 404, { error: 'not_found' });
      // From here on ws owns the socket, error handling included.
      socket.off('error', onSocketError);
      wss.handleUpgrade(req, socket, head, (ws) => startLiveFeed(ws, deviceIds, livePeriodMs));
    } catch {
      socket.destroy();
    } finally {
      pendingUpgrades.delete(socket);
    }
  };
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    void handleUpgrade(req, socket, head);
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= new Promise<void>((resolve, reject) => {
      server.close((err) => (err ? reject(err) : resolve()));
      // Upgraded sockets still hold the server open until they are gone.
      for (const ws of wss.clients) ws.terminate();
      for (const socket of pendingUpgrades) socket.destroy();
      wss.close();
      server.closeAllConnections();
    });
    return closing;
  };

  const urlHost = host.includes(':') ? `[${host}]` : host;
  return { url: `http://${urlHost}:${port}`, port, close };
}
