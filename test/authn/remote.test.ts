/**
 * Remote verification against a real legacy check endpoint (node:http), through a real trackgate and a
 * recording upstream: verdicts, the subject, caching (positive through an outage, negative briefly), fail-closed
 * 503s with their metric, and the config-time refusal of a scheme a local form also claims.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import { startGate, useGate } from '../helpers/gate.js';
import { testClock } from '../helpers/clock.js';
import { metric } from '../helpers/metrics.js';
import { basicAuth } from '../helpers/trackgate.js';

type Mode = 'up' | 'error' | 'hang';
interface Legacy { url: string; calls: IncomingHttpHeaders[]; mode: Mode; server: Server; close(): Promise<void> }

async function startLegacy(): Promise<Legacy> {
  const legacy: Legacy = {
    url: '', calls: [], mode: 'up', server: undefined as unknown as Server,
    close: async () => { legacy.server.closeAllConnections(); await new Promise<void>((r) => legacy.server.close(() => r())); },
  };
  legacy.server = createServer((req, res) => {
    legacy.calls.push(req.headers);
    if (legacy.mode === 'hang') return;
    if (legacy.mode === 'error') { res.writeHead(500); res.end('oops'); return; }
    const auth = req.headers.authorization;
    if (auth === basicAuth('legacy.user', 'legacy-pass')) {
      res.writeHead(200, { 'x-user-id': 'legacy-42', 'x-account': 'fleet-3', 'content-type': 'application/json' });
      res.end('{"ok":true}');
    } else if (auth === 'Bearer legacy-session-token') {
      res.writeHead(204);
      res.end();
    } else if (auth === basicAuth('redirected', 'pass')) {
      res.writeHead(303, { location: '/home', 'x-user-id': 'redirected-1' });
      res.end();
    } else {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="legacy"' });
      res.end();
    }
  });
  await new Promise<void>((r) => legacy.server.listen(0, '127.0.0.1', () => r()));
  legacy.url = `http://127.0.0.1:${(legacy.server.address() as AddressInfo).port}/api/whoami`;
  return legacy;
}

let legacy: Legacy;

beforeAll(async () => {
  legacy = await startLegacy();
});
afterAll(async () => { await legacy.close(); });
const clock = testClock();
afterEach(() => clock.unpin());
const gate = useGate(() => ({
  now: clock.now,
  config: {
    cache: { negativeTtlSeconds: 1 },
    authn: {
      basic: { enabled: false },
      remote: { enabled: true, url: legacy.url, schemes: ['Basic', 'Bearer'], timeoutMs: 400, accountHeader: 'X-Account', realm: 'Legacy' },
    },
  },
}));

function call(authorization: string): Promise<Response> {
  return fetch(`${gate.url}/api/trips`, { headers: { authorization } });
}

async function claims(): Promise<Record<string, unknown>> {
  const jwks = createLocalJWKSet(await (await fetch(`${gate.adminUrl}/.well-known/jwks.json`)).json() as JSONWebKeySet);
  return (await jwtVerify(gate.up.received.at(-1)!.headers['x-identity-assertion'] as string, jwks, { issuer: 'trackgate-test', audience: 'upstream-test' })).payload;
}

const verifications = (result: string): Promise<number> => metric(gate.adminUrl, 'trackgate_remote_verification_total', { result });

describe('remote verification', () => {
  it('forwards a credential the legacy service accepts, with the subject it names; the credential goes only to the check', async () => {
    const auth = basicAuth('legacy.user', 'legacy-pass');
    const res = await call(auth);
    expect(res.status).toBe(200);
    expect(legacy.calls.at(-1)!.authorization).toBe(auth);
    expect(gate.up.received.at(-1)!.headers.authorization).toBeUndefined();
    expect(await claims()).toMatchObject({ sub: 'legacy-42', scheme: 'remote', kind: 'user', account: 'fleet-3' });
    expect(await verifications('valid')).toBe(1);
  });

  it('uses a keyed fingerprint as the subject when the answer names none (never the credential)', async () => {
    expect((await call('Bearer legacy-session-token')).status).toBe(200);
    const sub = (await claims()).sub as string;
    expect(sub).toMatch(/^remote:[A-Za-z0-9_-]{32}$/);
    expect(sub).not.toContain('legacy-session-token');
  });

  it('treats a 3xx as valid (legacy services that redirect on success)', async () => {
    expect((await call(basicAuth('redirected', 'pass'))).status).toBe(200);
    expect(await claims()).toMatchObject({ sub: 'redirected-1' });
  });

  it('answers a credential the legacy service rejects 401, cached briefly', async () => {
    const auth = basicAuth('legacy.user', 'wrong');
    const before = legacy.calls.length;
    clock.pin();
    const res = await call(auth);
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ error: 'TG_ERR_INVALID_CREDENTIALS' });
    expect(res.headers.get('www-authenticate')).toBe('Basic realm="Legacy", Bearer realm="Legacy"');
    clock.advance(999);
    expect((await call(auth)).status).toBe(401);
    expect(legacy.calls.length).toBe(before + 1);
    clock.advance(1); // negativeTtlSeconds: 1
    expect((await call(auth)).status).toBe(401);
    expect(legacy.calls.length).toBe(before + 2);
    expect(await verifications('invalid')).toBe(2);
  });

  it('does not claim schemes it does not list', async () => {
    const before = legacy.calls.length;
    const res = await call('Digest username="x"');
    expect(res.status).not.toBe(200);
    expect(legacy.calls.length).toBe(before);
  });

  it('fails closed (503, not cached) when the endpoint errs, and counts it', async () => {
    legacy.mode = 'error';
    const auth = basicAuth('legacy.user', 'other-pass');
    const res = await call(auth);
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ error: 'TG_ERR_SOURCE_UNAVAILABLE' });
    expect(await verifications('unavailable')).toBe(1);
    const before = legacy.calls.length;
    expect((await call(auth)).status).toBe(503);
    expect(legacy.calls.length).toBe(before + 1);
    legacy.mode = 'up';
  });

  it('fails closed on a timeout, and counts it', async () => {
    legacy.mode = 'hang';
    const t0 = Date.now();
    expect((await call(basicAuth('slow', 'pass'))).status).toBe(503);
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(await verifications('timeout')).toBe(1);
    legacy.mode = 'up';
  });

  it('keeps honouring a cached positive while the endpoint is down; new credentials get 503', async () => {
    const auth = basicAuth('legacy.user', 'legacy-pass'); // validated (and cached) by the first test
    await legacy.close();
    const before = legacy.calls.length;
    const res = await call(auth);
    expect(res.status).toBe(200);
    expect(await claims()).toMatchObject({ sub: 'legacy-42' });
    expect(legacy.calls.length).toBe(before);
    const unavailable = await verifications('unavailable');
    const fresh = await call(basicAuth('legacy.user', 'never-seen'));
    expect(fresh.status).toBe(503);
    expect(await verifications('unavailable')).toBe(unavailable + 1);
  });
});

describe('remote verification: config', () => {
  it('refuses to start when a local form also claims a listed scheme', async () => {
    await expect(startGate({
      up: gate.up,
      config: { authn: { basic: { enabled: true }, remote: { enabled: true, url: 'http://127.0.0.1:9/check', schemes: ['Basic'] } } },
    })).rejects.toThrow(/authn\.remote takes over "authorization: Basic" credentials, which the enabled form authn\.basic also accepts/);
    await expect(startGate({
      up: gate.up,
      config: { authn: { basic: { enabled: false }, bearer: { enabled: true }, remote: { enabled: true, url: 'http://127.0.0.1:9/check' } } },
    })).rejects.toThrow(/authn\.bearer also accepts/);
  });

  it('starts when the remote form only lists schemes whose local forms are disabled', async () => {
    const ok = await startGate({
      up: gate.up,
      config: { authn: { basic: { enabled: false }, bearer: { enabled: true }, remote: { enabled: true, url: 'http://127.0.0.1:9/check', schemes: ['Basic'] } } },
    });
    await ok.close();
  });

  it('requires a url when enabled and a credential header to claim', async () => {
    await expect(startGate({ up: gate.up, config: { authn: { basic: { enabled: false }, remote: { enabled: true } } } }))
      .rejects.toThrow(/authn\.remote\.url: required when authn\.remote\.enabled is true/);
    await expect(startGate({ up: gate.up, config: { authn: { remote: { forwardHeaders: ['x-api-key'] } } } }))
      .rejects.toThrow(/authn\.remote\.forwardHeaders: must include authorization or authentication/);
  });
});
