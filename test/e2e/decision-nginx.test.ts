/**
 * trackgate in decision mode behind real nginx, with deploy/edge/nginx/trackgate-auth.conf as it is in the repo
 * (only its placeholders filled): each credential form through nginx, the upstream sees the identity header and
 * no credential, challenges reach the client, decisions are cached by nginx (trackgate is not asked again; Digest
 * is), a revoked token stops within the decision max-age, token endpoints work through nginx.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { lookupDigest } from '../../src/accounts/digest-token.js';
import { startGate, type Gate } from '../helpers/gate.js';
import { basicAuth, DEMO } from '../helpers/trackgate.js';
import { verifyAssertion } from '../helpers/identity-assertion.js';
import { challengesFor, digestAuthorization, send } from '../helpers/digest-client.js';
import { metric } from '../helpers/metrics.js';
import { waitFor } from '../helpers/wait.js';
import { issueSessionToken } from '../helpers/session-tokens.js';
import { startNginxEdge, type NginxEdge } from '../helpers/nginx-edge.js';
import type { Recorded } from '../helpers/recording-upstream.js';

const run = promisify(execFile);
const MAX_AGE = 2;

let gate: Gate;
let nginx: NginxEdge;
const address = (u: string): string => u.replace(/^http:\/\//, '');
const decisions = (labels: Record<string, string> = {}): Promise<number> => metric(gate.adminUrl, 'trackgate_decisions_total', labels);

beforeAll(async () => {
  gate = await startGate({
    config: {
      decision: { listen: '127.0.0.1:0', maxAgeSeconds: MAX_AGE },
      authn: { session_token: { enabled: true }, instance: { enabled: true }, basic: { realm: 'GPS Data Web Service' }, digest: { realm: 'GPS Data Web Service' } },
      routes: [{ path: '/public', access: 'public' }],
    },
  });
  const d = gate.app.decisionServer!.address() as { port: number };
  nginx = await startNginxEdge({ upstream: address(gate.up.url), decision: `127.0.0.1:${d.port}`, proxy: address(gate.url) });
});
afterAll(async () => {
  if (process.env.NGINX_DEBUG) console.log(nginx?.stderr(), gate.logs.filter((l) => l.includes("decision")).join("\n"));
  await nginx?.close();
  await gate?.close();
});
beforeEach(() => { gate.up.received.length = 0; });

/** No credential of any carrier in what the upstream received. */
function expectNoCredential(rec: Recorded, secrets: string[]): void {
  for (const h of ['authorization', 'authentication', 'x-token', 'instanceid', 'instancekey', 'devicetoken']) expect(rec.headers[h]).toBeUndefined();
  expect(rec.url).not.toMatch(/[?&](_token|access_token)=/);
  expect(rec.headers.cookie ?? '').not.toMatch(/(^|;\s*)token=/);
  const all = JSON.stringify(rec);
  for (const s of secrets) expect(all).not.toContain(s);
}

describe('nginx + trackgate decisions: every credential form', () => {
  it.each([
    ['Basic', async () => ({ path: '/api/a', headers: { authorization: basicAuth(DEMO.user, DEMO.password) }, secrets: [DEMO.password] })],
    ['X-Token', async () => { const t = await issueSessionToken(gate); return { path: '/api/b', headers: { 'x-token': t }, secrets: [t] }; }],
    ['token cookie', async () => { const t = await issueSessionToken(gate); return { path: '/api/c', headers: { cookie: `theme=dark; token=${t}` }, secrets: [t] }; }],
    ['_token query', async () => { const t = await issueSessionToken(gate); return { path: `/api/d?x=1&_token=${t}`, headers: {}, secrets: [t] }; }],
    ['InstanceId + InstanceKey + DeviceToken', async () => ({ path: '/api/e', headers: { instanceid: DEMO.instanceId, instancekey: DEMO.instanceKey, devicetoken: DEMO.deviceToken }, secrets: [DEMO.instanceKey, DEMO.deviceToken] })],
  ])('%s: the upstream gets a valid identity header and no credential', async (_name, make) => {
    const { path, headers, secrets } = await make();
    const r = await send(nginx.url, { path, headers });
    expect(r.status, r.body).toBe(200);
    expect(gate.up.received).toHaveLength(1);
    const rec = gate.up.received[0]!;
    const { payload } = await verifyAssertion(gate.adminUrl, rec.headers['x-identity-assertion'] as string);
    expect(payload.sub).toBeTruthy();
    expectNoCredential(rec, secrets);
    if (path.includes('cookie')) expect(rec.headers.cookie).toBe('theme=dark');
    if (path.startsWith('/api/d')) expect(rec.url).toBe('/api/d?x=1');
  });

  it('nothing a client sends can set the identity header', async () => {
    const forged = await send(nginx.url, { path: '/public/p', headers: { 'x-identity-assertion': 'forged', 'x_identity_assertion': 'forged' } });
    expect(forged.status).toBe(200);
    expect(gate.up.received.at(-1)!.headers['x-identity-assertion']).toBeUndefined();
    expect(JSON.stringify(gate.up.received.at(-1)!.headers)).not.toContain('forged');
    await send(nginx.url, { path: '/api/f', headers: { authorization: basicAuth(DEMO.user, DEMO.password), 'x-identity-assertion': 'forged' } });
    const real = gate.up.received.at(-1)!.headers['x-identity-assertion'] as string;
    expect(real).not.toBe('forged');
    await verifyAssertion(gate.adminUrl, real);
  });
});

describe('nginx + trackgate decisions: refusals reach the client', () => {
  it('401 with the Basic and Digest challenges; curl and python-requests answer them through nginx', async () => {
    const r = await send(nginx.url, { path: '/api/x' });
    expect(r.status).toBe(401);
    const challenges = (r.distinct['www-authenticate'] ?? []).join('\n');
    expect(challenges).toMatch(/Basic realm=/);
    expect(challenges).toMatch(/Digest realm=/);
    // Every challenge the sidecar sends, in its order (nginx 1.22 alone would pass on the first).
    const schemes = (v: string[] | undefined): string[] => (v ?? []).map((c) => c.split(' ')[0]!);
    const viaSidecar = await send(gate.url, { path: '/api/x' });
    expect(schemes(r.distinct['www-authenticate'])).toEqual(schemes(viaSidecar.distinct['www-authenticate']));
    expect(schemes(r.distinct['www-authenticate']).length).toBeGreaterThan(2);
    expect(gate.up.received).toHaveLength(0);
    const basic = await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '--basic', '-u', `${DEMO.user}:${DEMO.password}`, `${nginx.url}/api/curl-basic`]);
    expect(basic.stdout).toBe('200');
    const digest = await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '--digest', '-u', `${DEMO.user}:${DEMO.password}`, `${nginx.url}/api/curl-digest`]);
    expect(digest.stdout).toBe('200');
    const py = await run('/usr/bin/python3', ['-c', [
      'import requests, sys',
      'from requests.auth import HTTPDigestAuth',
      's = requests.Session()',
      `r = [s.get(sys.argv[1] + "/api/py/" + str(i), auth=HTTPDigestAuth(${JSON.stringify(DEMO.user)}, ${JSON.stringify(DEMO.password)})).status_code for i in range(3)]`,
      'print(r)',
    ].join('\n'), nginx.url]);
    expect(py.stdout.trim()).toBe('[200, 200, 200]');
  });

  it('429 with Retry-After is restored from nginx\'s 500', async () => {
    for (let i = 0; i < 12; i++) await send(nginx.url, { path: '/api/t', headers: { authorization: basicAuth('nginx.throttled', `wrong-${i}`) } });
    const r = await send(nginx.url, { path: '/api/t', headers: { authorization: basicAuth('nginx.throttled', 'again') } });
    expect(r.status).toBe(429);
    expect(Number(r.headers['retry-after'])).toBeGreaterThan(0);
    expect(JSON.parse(r.body).error).toBe('TG_ERR_THROTTLED');
  });
});

describe('nginx + trackgate decisions: caching', () => {
  it('a repeated request is let through on nginx\'s cached decision: trackgate is not asked again', async () => {
    const headers = { authorization: basicAuth(DEMO.user, DEMO.password) };
    const before = await decisions({ edge: 'nginx' });
    expect((await send(nginx.url, { path: '/api/cached', headers })).status).toBe(200);
    expect((await send(nginx.url, { path: '/api/cached', headers })).status).toBe(200);
    expect((await send(nginx.url, { path: '/api/cached', headers })).status).toBe(200);
    expect(await decisions({ edge: 'nginx' })).toBe(before + 1);
    expect(gate.up.received).toHaveLength(3);
    for (const rec of gate.up.received) await verifyAssertion(gate.adminUrl, rec.headers['x-identity-assertion'] as string);
  });

  it('Digest is decided at every request (nothing cached)', async () => {
    const before = await decisions({ edge: 'nginx', scheme: 'digest' });
    const [challenge] = (await challengesFor(nginx.url, { path: '/api/dg' })).filter((c) => c.algorithm === 'MD5');
    for (let nc = 1; nc <= 3; nc++) {
      const authorization = digestAuthorization({ challenge: challenge!, username: DEMO.user, password: DEMO.password, method: 'GET', uri: '/api/dg', nc, cnonce: 'fixed-cnonce' });
      expect((await send(nginx.url, { path: '/api/dg', headers: { authorization } })).status).toBe(200);
    }
    expect(await decisions({ edge: 'nginx', scheme: 'digest' })).toBe(before + 3);
    // A replayed nc is refused, not served from a cache.
    const replay = digestAuthorization({ challenge: challenge!, username: DEMO.user, password: DEMO.password, method: 'GET', uri: '/api/dg', nc: 2, cnonce: 'fixed-cnonce' });
    expect((await send(nginx.url, { path: '/api/dg', headers: { authorization: replay } })).status).toBe(401);
  });

  it(`a revoked token stops working within decision.maxAgeSeconds (${MAX_AGE} s)`, async () => {
    const t = await issueSessionToken(gate);
    expect((await send(nginx.url, { path: '/api/rev', headers: { 'x-token': t } })).status).toBe(200);
    await gate.app.store.revokeTokens([lookupDigest(t)], Date.now());
    const revokedAt = Date.now();
    const stopped = await waitFor(async () => (await send(nginx.url, { path: '/api/rev', headers: { 'x-token': t } })).status === 401, (MAX_AGE + 2) * 1000, 100);
    expect(stopped).toBe(true);
    expect(Date.now() - revokedAt).toBeLessThanOrEqual((MAX_AGE + 1) * 1000);
  });
});

describe('nginx + trackgate: token endpoints', () => {
  it('POST /rest/v2/token goes to trackgate through nginx, and its token then works through nginx', async () => {
    const r = await send(nginx.url, {
      method: 'POST', path: '/rest/v2/token', headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `username=${encodeURIComponent(DEMO.user)}&password=${encodeURIComponent(DEMO.password)}`,
    });
    expect(r.status).toBeLessThan(400);
    const token = /token=([^;]+)/.exec(String(r.headers['set-cookie']))?.[1];
    expect(token).toBeTruthy();
    expect(gate.up.received).toHaveLength(0);
    expect((await send(nginx.url, { path: '/api/with-issued', headers: { 'x-token': token! } })).status).toBe(200);
    expectNoCredential(gate.up.received.at(-1)!, [token!]);
  });
});
