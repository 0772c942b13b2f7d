/**
 * Bearer form, opaque tokens through an RFC 7662 introspection endpoint: a real endpoint (node:http) that
 * checks the client's HTTP Basic authentication and the form body, a real trackgate and a recording upstream.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import { startGate, useGate } from '../helpers/gate.js';

const CLIENT_ID = 'trackgate';
const CLIENT_SECRET = 'intro secret/with:odd chars';

type Mode = 'up' | 'error' | 'hang';
interface Introspection { url: string; calls: { token: string | null; hint: string | null; auth: string | undefined }[]; mode: Mode; server: Server; close(): Promise<void> }

const nowS = () => Math.floor(Date.now() / 1000);
const ANSWERS: Record<string, Record<string, unknown>> = {
  'opaque-active': { active: true, sub: 'intro-user', scope: 'read positions', client_id: 'fleet-app', exp: nowS() + 600, acct: 'acct-7' },
  'opaque-app': { active: true, client_id: 'fleet-app', scope: 'read', exp: nowS() + 600 },
  'opaque-inactive': { active: false },
  'opaque-expired': { active: true, sub: 'intro-user', exp: nowS() - 10 },
  'opaque-refresh': { active: true, sub: 'intro-user', token_type: 'refresh_token' },
  'opaque-noscope': { active: true, sub: 'intro-user', scope: 'write', exp: nowS() + 600 },
  'opaque-recovers': { active: true, sub: 'intro-user', scope: 'read', exp: nowS() + 600 },
};

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => { let s = ''; req.on('data', (c: Buffer) => { s += c.toString('utf8'); }); req.on('end', () => resolve(s)); });
}

async function startIntrospection(): Promise<Introspection> {
  const expectedAuth = `Basic ${Buffer.from(`${encodeForm(CLIENT_ID)}:${encodeForm(CLIENT_SECRET)}`).toString('base64')}`;
  const it: Introspection = {
    url: '', calls: [], mode: 'up', server: undefined as unknown as Server,
    close: async () => { it.server.closeAllConnections(); await new Promise<void>((r) => it.server.close(() => r())); },
  };
  it.server = createServer(async (req, res) => {
    const form = new URLSearchParams(await readBody(req));
    it.calls.push({ token: form.get('token'), hint: form.get('token_type_hint'), auth: req.headers.authorization });
    if (it.mode === 'hang') return; // never answers
    const send = (status: number, body: unknown) => { const t = JSON.stringify(body); res.writeHead(status, { 'content-type': 'application/json' }); res.end(t); };
    if (it.mode === 'error') return send(500, { error: 'server_error' });
    if (req.method !== 'POST' || req.headers['content-type'] !== 'application/x-www-form-urlencoded') return send(400, { error: 'invalid_request' });
    if (req.headers.authorization !== expectedAuth) return send(401, { error: 'invalid_client' });
    send(200, ANSWERS[form.get('token') ?? ''] ?? { active: false });
  });
  await new Promise<void>((r) => it.server.listen(0, '127.0.0.1', () => r()));
  it.url = `http://127.0.0.1:${(it.server.address() as AddressInfo).port}/oauth2/introspect`;
  return it;
}

function encodeForm(s: string): string {
  return new URLSearchParams([['v', s]]).toString().slice(2);
}

let intro: Introspection;
let secretDir: string;

beforeAll(async () => {
  intro = await startIntrospection();
  secretDir = mkdtempSync(join(tmpdir(), 'trackgate-intro-'));
  writeFileSync(join(secretDir, 'client-secret'), `${CLIENT_SECRET}\n`);
});
afterAll(async () => { await intro.close(); rmSync(secretDir, { recursive: true, force: true }); });
const gate = useGate(() => ({
  config: {
    authn: { basic: { enabled: false }, bearer: { enabled: true, introspection: {
      url: intro.url, clientId: CLIENT_ID, clientSecretFile: join(secretDir, 'client-secret'), timeoutMs: 500, accountField: 'acct', requiredScopes: ['read'],
    } } },
  },
}));

function call(token: string): Promise<Response> {
  return fetch(`${gate.url}/api/positions`, { headers: { authorization: `Bearer ${token}` } });
}

describe('Bearer: RFC 7662 introspection', () => {
  it('accepts an active token: form POST with client authentication, claims mapped, credential stripped', async () => {
    const res = await call('opaque-active');
    expect(res.status).toBe(200);
    expect(intro.calls.at(-1)).toMatchObject({ token: 'opaque-active', hint: 'access_token' });
    const rec = gate.up.received.at(-1)!;
    expect(rec.headers.authorization).toBeUndefined();
    const jwks = createLocalJWKSet(await (await fetch(`${gate.adminUrl}/.well-known/jwks.json`)).json() as JSONWebKeySet);
    const { payload } = await jwtVerify(rec.headers['x-identity-assertion'] as string, jwks, { issuer: 'trackgate-test', audience: 'upstream-test' });
    expect(payload).toMatchObject({ sub: 'intro-user', scheme: 'bearer', kind: 'user', account: 'acct-7' });
    expect(payload.exp!).toBeLessThanOrEqual(ANSWERS['opaque-active']!.exp as number);
  });

  it('serves a repeat from the validation cache', async () => {
    const before = intro.calls.length;
    expect((await call('opaque-active')).status).toBe(200);
    expect(intro.calls.length).toBe(before);
  });

  it('maps a client-credentials token (client_id, no sub) to an app identity', async () => {
    expect((await call('opaque-app')).status).toBe(200);
    const jwks = createLocalJWKSet(await (await fetch(`${gate.adminUrl}/.well-known/jwks.json`)).json() as JSONWebKeySet);
    const { payload } = await jwtVerify(gate.up.received.at(-1)!.headers['x-identity-assertion'] as string, jwks, { issuer: 'trackgate-test', audience: 'upstream-test' });
    expect(payload).toMatchObject({ sub: 'fleet-app', kind: 'app' });
  });

  it.each([
    ['opaque-inactive', 'TG_ERR_INVALID_CREDENTIALS', 'The access token is invalid'],
    ['opaque-refresh', 'TG_ERR_INVALID_CREDENTIALS', 'The access token is invalid'],
    ['opaque-expired', 'TG_ERR_EXPIRED_CREDENTIALS', 'The access token expired'],
  ])('answers %s 401 invalid_token', async (token, code, description) => {
    const res = await call(token);
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ error: code });
    expect(res.headers.get('www-authenticate')).toBe(`Bearer realm="trackgate", error="invalid_token", error_description="${description}"`);
  });

  it('answers a token without a required scope 403 insufficient_scope', async () => {
    const res = await call('opaque-noscope');
    expect(res.status).toBe(403);
    expect(res.headers.get('www-authenticate')).toBe('Bearer realm="trackgate", error="insufficient_scope", error_description="The access token lacks a required scope", scope="read"');
  });

  it('answers 503 while the endpoint fails, without caching it', async () => {
    intro.mode = 'error';
    const res = await call('opaque-recovers');
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ error: 'TG_ERR_SOURCE_UNAVAILABLE' });
    expect(res.headers.get('www-authenticate')).toBeNull();
    intro.mode = 'up';
    expect((await call('opaque-recovers')).status).toBe(200);
  });

  it('answers 503 when the endpoint does not answer in time', async () => {
    intro.mode = 'hang';
    const t0 = Date.now();
    const res = await call('opaque-hangs');
    expect(res.status).toBe(503);
    expect(Date.now() - t0).toBeLessThan(3000);
    intro.mode = 'up';
  });

  it('answers 503 when the endpoint is down', async () => {
    const closed = await startIntrospection();
    await closed.close();
    const g = await startGate({
      up: gate.up,
      config: { authn: { bearer: { enabled: true, introspection: { url: closed.url, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET } } } },
    });
    try {
      const res = await fetch(`${g.url}/x`, { headers: { authorization: 'Bearer opaque-active' } });
      expect(res.status).toBe(503);
      expect(g.logRecords().some((l) => l.reason === 'unavailable' && String(l.detail).startsWith('introspection:'))).toBe(true);
    } finally {
      await g.close();
    }
  });

  it('takes the client secret from the environment', async () => {
    const g = await startGate({
      up: gate.up,
      config: { authn: { bearer: { enabled: true, introspection: { url: intro.url, clientId: CLIENT_ID } } } },
      env: { TRACKGATE_AUTHN_BEARER_INTROSPECTION_CLIENT_SECRET: CLIENT_SECRET },
    });
    try {
      expect((await fetch(`${g.url}/x`, { headers: { authorization: 'Bearer opaque-active' } })).status).toBe(200);
    } finally {
      await g.close();
    }
  });

  it('refuses a config with neither or both client secret sources', async () => {
    await expect(startGate({ up: gate.up, config: { authn: { bearer: { introspection: { url: intro.url, clientId: CLIENT_ID } } } } }))
      .rejects.toThrow(/authn\.bearer\.introspection: set exactly one of clientSecret/);
  });
});
