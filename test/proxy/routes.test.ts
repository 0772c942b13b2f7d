/**
 * Route rules on the data path: a public prefix needs no credentials and forwards no identity header (while
 * still stripping credentials and spoofs), a kinds rule refuses the demo user with 403, deny refuses all,
 * and prefixes match at segment boundaries only.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { useGate } from '../helpers/gate.js';
import { basicAuth, DEMO } from '../helpers/trackgate.js';
import { metric } from '../helpers/metrics.js';
import { portOf, rawRequest } from '../helpers/raw-http.js';

const AUTH = basicAuth(DEMO.user, DEMO.password);

const gate = useGate({
  config: {
    routes: [
      { path: '/open', access: 'public' },
      { path: '/admin', access: { kinds: ['admin'] } },
      { path: '/closed', access: 'deny' },
      { path: '/ro', methods: ['GET'], access: 'public' },
      { path: '/acct', access: { accounts: ['demo-account'] } },
    ],
  },
});
beforeEach(() => { gate.up.received.length = 0; });

describe('public routes', () => {
  it.each(['/open', '/open/', '/open/sub/path?x=1'])('%s needs no credentials and gets no identity header', async (path) => {
    const res = await fetch(`${gate.url}${path}`);
    expect(res.status).toBe(200);
    const rec = gate.up.received[0]!;
    expect(rec.url).toBe(path);
    expect(rec.headers['x-identity-assertion']).toBeUndefined();
    expect(rec.headers['x-forwarded-for']).toBe('127.0.0.1');
  });

  it('strips credentials and spoofed identity headers there too, and signs nothing', async () => {
    const mintsBefore = gate.app.minter.mints;
    const r = await rawRequest(portOf(gate.url), [
      'GET /open/page?a=1&_token=s&b=2 HTTP/1.1', 'Host: x', `Authorization: ${AUTH}`, 'Cookie: a=1; token=secret; b=2',
      'InstanceKey: k', 'X-Identity-Assertion: spoof', 'x_identity_assertion: spoof2', 'Connection: close', '', '',
    ].join('\r\n'));
    expect(r.responses[0]?.status).toBe(200);
    const rec = gate.up.received[0]!;
    expect(rec.url).toBe('/open/page?a=1&b=2');
    expect(rec.headers.authorization).toBeUndefined();
    expect(rec.headers.instancekey).toBeUndefined();
    expect(rec.headers.cookie).toBe('a=1; b=2');
    const names = rec.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
    expect(names).not.toContain('x-identity-assertion');
    expect(names).not.toContain('x_identity_assertion');
    expect(gate.app.minter.mints).toBe(mintsBefore);
  });

  it('a public path ignores even wrong credentials (nothing is verified there)', async () => {
    const res = await fetch(`${gate.url}/open`, { headers: { authorization: basicAuth(DEMO.user, 'wrong') } });
    expect(res.status).toBe(200);
    expect(gate.up.received[0]!.headers.authorization).toBeUndefined();
  });

  it.each(['/openx', '/opener/x', '/OPEN', '/'])('%s is not public (segment-boundary prefix, case-sensitive)', async (path) => {
    const res = await fetch(`${gate.url}${path}`);
    expect(res.status).toBe(401);
    expect(gate.up.received).toHaveLength(0);
  });

  it('a method-limited public rule applies to its methods only', async () => {
    expect((await fetch(`${gate.url}/ro/item`)).status).toBe(200);
    expect((await fetch(`${gate.url}/ro/item`, { method: 'POST', body: 'x' })).status).toBe(401);
    expect((await fetch(`${gate.url}/ro/item`, { method: 'POST', body: 'x', headers: { authorization: AUTH } })).status).toBe(200);
    expect(gate.up.received.map((r) => [r.method, r.headers['x-identity-assertion'] === undefined])).toEqual([['GET', true], ['POST', false]]);
  });
});

describe('restricted routes', () => {
  it('a kinds rule answers 403 to the demo user (after authenticating), 401 without credentials', async () => {
    const res = await fetch(`${gate.url}/admin/users`, { headers: { authorization: AUTH } });
    expect(res.status).toBe(403);
    expect(await res.json()).toEqual({ error: 'TG_ERR_FORBIDDEN', message: 'forbidden' });
    expect((await fetch(`${gate.url}/admin/users`)).status).toBe(401);
    expect(gate.up.received).toHaveLength(0);
    expect(await metric(gate.adminUrl, 'trackgate_auth_attempts_total', { scheme: 'basic', result: 'failure', reason: 'forbidden' })).toBeGreaterThanOrEqual(1);
  });

  it('an accounts rule admits the demo user', async () => {
    expect((await fetch(`${gate.url}/acct/x`, { headers: { authorization: AUTH } })).status).toBe(200);
    expect(gate.up.received).toHaveLength(1);
  });

  it.each([['with', { authorization: AUTH }], ['without', {}]])('deny answers 403 %s credentials', async (_w, headers: Record<string, string>) => {
    const res = await fetch(`${gate.url}/closed/x`, { headers });
    expect(res.status).toBe(403);
    expect(await res.json()).toEqual({ error: 'TG_ERR_FORBIDDEN', message: 'forbidden' });
    expect(gate.up.received).toHaveLength(0);
  });

  it('a restricted prefix cannot be dodged through dot segments or empty segments (which upstreams may normalise)', async () => {
    for (const target of ['/open/../admin/users', '/open/%2e%2e/admin/users', '/open/%2E%2e/closed', '//admin/users', '//closed', '/x//closed', '/admin//users']) {
      const r = await rawRequest(portOf(gate.url), `GET ${target} HTTP/1.1\r\nHost: x\r\nAuthorization: ${AUTH}\r\nConnection: close\r\n\r\n`);
      expect(r.responses[0]?.status, target).toBe(400);
    }
    expect(gate.up.received).toHaveLength(0);
  });
});
