/**
 * A response to a request whose URL carried a credential (`?_token=`, `?access_token=`) is never stored: it
 * gets `Cache-Control: private, no-store` (merged with what the upstream sent, less the directives that allow
 * storing), no CDN-targeted cache field, and the same on trackgate's own 401/403 to such a request.
 */
import { randomBytes } from 'node:crypto';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { lookupDigest } from '../../src/accounts/digest-token.js';
import { privateCacheControl } from '../../src/proxy/cache-control.js';
import { useGate } from '../helpers/gate.js';
import { basicAuth, DEMO } from '../helpers/trackgate.js';

let upstreamHeaders: Record<string, string> = {};
const gate = useGate({
  config: {
    authn: { session_token: { enabled: true }, oauth: { enabled: true } },
    routes: [{ path: '/pub', access: 'public' }, { path: '/deny', access: 'deny' }],
  },
});
beforeAll(async () => {
  gate.up.respond = (_req, res) => { res.writeHead(200, { 'content-type': 'text/plain', ...upstreamHeaders }); res.end('ok'); };
});
beforeEach(() => { upstreamHeaders = {}; });

async function token(): Promise<string> {
  const t = randomBytes(24).toString('base64url');
  const now = Date.now();
  await gate.app.store.putToken({
    digest: lookupDigest(t), type: 'session', issuer: 'gps-rest-v2', subject: DEMO.user, kind: 'user', account: 'demo-account',
    issuedAt: now, expiresAt: now + 3_600_000,
  });
  return t;
}

describe('responses to a credential URL', () => {
  it('get private, no-store when the upstream sends no Cache-Control', async () => {
    const res = await fetch(`${gate.url}/rest/v2/devices?_token=${await token()}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('private, no-store');
  });

  it('merge the upstream\'s Cache-Control, dropping what allows storing, and drop CDN-targeted fields', async () => {
    upstreamHeaders = {
      'cache-control': 'public, max-age=3600, s-maxage=600, no-transform, stale-while-revalidate=30, must-understand, immutable',
      'cdn-cache-control': 'max-age=600', 'cloudflare-cdn-cache-control': 'max-age=60', 'surrogate-control': 'max-age=60', etag: '"v1"',
    };
    const res = await fetch(`${gate.url}/rest/v2/devices?a=1&_token=${await token()}`);
    expect(res.headers.get('cache-control')).toBe('private, no-store, no-transform');
    for (const h of ['cdn-cache-control', 'cloudflare-cdn-cache-control', 'surrogate-control']) expect(res.headers.get(h), h).toBeNull();
    expect(res.headers.get('etag')).toBe('"v1"');
  });

  it('apply to a public path and to access_token too', async () => {
    upstreamHeaders = { 'cache-control': 'public, max-age=60' };
    expect((await fetch(`${gate.url}/pub?_token=whatever`)).headers.get('cache-control')).toBe('private, no-store');
    expect((await fetch(`${gate.url}/pub?access%5Ftoken=whatever`)).headers.get('cache-control')).toBe('private, no-store');
  });

  it('leave the upstream\'s caching alone when the URL carries no credential', async () => {
    upstreamHeaders = { 'cache-control': 'public, max-age=60', 'cdn-cache-control': 'max-age=600' };
    const res = await fetch(`${gate.url}/rest/v2/devices?x=_token`, { headers: { authorization: basicAuth(DEMO.user, DEMO.password) } });
    expect(res.headers.get('cache-control')).toBe('public, max-age=60');
    expect(res.headers.get('cdn-cache-control')).toBe('max-age=600');
  });

  it('leave it alone too when the path was re-spelt (canonicalised) but holds no credential', async () => {
    upstreamHeaders = { 'cache-control': 'public, max-age=60' };
    const res = await fetch(`${gate.url}/rest/v2/dev%69ces/%7euser?x=1`, { headers: { authorization: basicAuth(DEMO.user, DEMO.password) } });
    expect(res.status).toBe(200);
    expect(gate.up.received.at(-1)?.url).toBe('/rest/v2/devices/~user?x=1');
    expect(res.headers.get('cache-control')).toBe('public, max-age=60');
  });

  it.each([
    ['401 for a wrong token', '/rest/v2/devices?_token=not-a-real-token', 401],
    ['403 on a deny rule', '/deny?_token=x', 403],
  ])('%s: private, no-store', async (_name, path, status) => {
    const res = await fetch(`${gate.url}${path}`);
    expect(res.status).toBe(status);
    expect(res.headers.get('cache-control')).toBe('private, no-store');
  });
});

describe('token-endpoint responses (RFC 6749 §5.1)', () => {
  it.each([
    ['gps_rest_v2 (the token in the redirect URL)', '/rest/v2/token', 'application/json', JSON.stringify({ username: DEMO.user, password: DEMO.password }), 303],
    ['oauth2_password', '/auth/password', 'application/x-www-form-urlencoded', `username=${DEMO.user}&password=${DEMO.password}`, 200],
    ['fleet_login', '/auth/login', 'application/json', JSON.stringify({ username: DEMO.user, password: DEMO.password }), 200],
    ['an error', '/auth/password', 'application/x-www-form-urlencoded', 'username=x', 400],
  ])('%s: no-store and Pragma: no-cache', async (_name, path, type, body, status) => {
    const res = await fetch(`${gate.url}${path}`, { method: 'POST', redirect: 'manual', headers: { 'content-type': type }, body });
    expect(res.status).toBe(status);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('pragma')).toBe('no-cache');
  });
});

describe('privateCacheControl', () => {
  it.each([
    [undefined, 'private, no-store'],
    ['', 'private, no-store'],
    ['no-store', 'private, no-store'],
    ['Public, MAX-AGE=5', 'private, no-store'],
    ['no-cache, must-revalidate', 'private, no-store, no-cache, must-revalidate'],
    [['max-age=5', 'no-transform'], 'private, no-store, no-transform'],
    ['private="set-cookie", x-ext=1', 'private, no-store, x-ext=1'],
  ])('%j → %j', (upstream, expected) => {
    expect(privateCacheControl(upstream)).toBe(expected);
  });
});
