/**
 * Decision (forward-auth) mode against a real trackgate: each answer the decision listener gives, with
 * requests shaped as nginx's auth_request (with deploy/edge/nginx/trackgate-auth.conf) sends them.
 */
import { describe, expect, it } from 'vitest';
import { useGate } from '../../helpers/gate.js';
import { basicAuth, DEMO } from '../../helpers/trackgate.js';
import { verifyAssertion } from '../../helpers/identity-assertion.js';
import { challengesFor, digestAuthorization, send } from '../../helpers/digest-client.js';
import { metric } from '../../helpers/metrics.js';
import { asNginx, DECISION_CONFIG, decisionUrl, issueSession, maxAge } from './decision-helpers.js';
import { issueGeoloqiToken } from '../../helpers/geoloqi-token.js';

const gate = useGate({
  config: {
    ...DECISION_CONFIG,
    routes: [
      { path: '/public', access: 'public' },
      { path: '/admin', access: { kinds: ['admin'] } },
    ],
    throttle: { user: { limit: 2, windowSeconds: 3600 } },
    cache: { negativeTtlSeconds: 0 },
  },
});

describe('decision: allowed', () => {
  it('Basic: 200 with the identity header (valid against the JWKS), the URI and max-age within decision.maxAgeSeconds', async () => {
    const r = await asNginx(decisionUrl(gate), { uri: '/api/positions?device=7', headers: { authorization: basicAuth(DEMO.user, DEMO.password) } });
    expect(r.status).toBe(200);
    const { payload } = await verifyAssertion(gate.adminUrl, r.headers['x-identity-assertion'] as string);
    expect(payload.sub).toBe(DEMO.user);
    expect(payload.scheme).toBe('basic');
    expect(r.headers['x-trackgate-uri']).toBe('/api/positions?device=7');
    expect(r.headers['x-trackgate-clear']).toBe('authorization');
    expect(r.headers['cache-control']).toBe('max-age=5');
    expect(r.body).toBe('');
    expect(gate.up.received).toHaveLength(0);
  });

  it('session token in the query and a cookie: the URI without _token, the Cookie without token', async () => {
    const t = await issueSession(gate);
    const r = await asNginx(decisionUrl(gate), { uri: `/rest/v2/gateway?a=1&_token=${t}&b=2`, headers: { cookie: `theme=dark; token=${t}; lang=fr` } });
    expect(r.status).toBe(200);
    expect(r.headers['x-trackgate-uri']).toBe('/rest/v2/gateway?a=1&b=2');
    expect(r.headers.cookie).toBe('theme=dark; lang=fr');
    expect(JSON.stringify(r.headers)).not.toContain(t);
  });

  it('a cookie holding only the token is cleared, and a client-sent identity header is listed to clear on a public path', async () => {
    const t = await issueSession(gate);
    const r = await asNginx(decisionUrl(gate), { uri: '/x', headers: { cookie: `token=${t}` } });
    expect(r.status).toBe(200);
    expect(r.headers.cookie).toBeUndefined();
    expect(r.headers['x-trackgate-clear']).toBe('cookie');
    const pub = await asNginx(decisionUrl(gate), { uri: '/public/status', headers: { 'x-identity-assertion': 'forged', 'x-token': 'whatever' } });
    expect(pub.status).toBe(200);
    expect(pub.headers['x-identity-assertion']).toBeUndefined();
    expect(pub.headers['x-trackgate-clear']).toBe('x-identity-assertion, x-token');
  });

  it('max-age never exceeds the credential\'s remaining life; under a second is no-store', async () => {
    const soon = await issueSession(gate, { expiresAt: Date.now() + 3_500 });
    const r = await asNginx(decisionUrl(gate), { uri: '/x', headers: { 'x-token': soon } });
    expect(r.status).toBe(200);
    expect(maxAge(r.headers['cache-control'])).toBeLessThanOrEqual(3);
    const gone = await issueSession(gate, { expiresAt: Date.now() + 900 });
    const r2 = await asNginx(decisionUrl(gate), { uri: '/y', headers: { 'x-token': gone } });
    expect(r2.status).toBe(200);
    expect(r2.headers['cache-control']).toBe('no-store');
  });

  it('Digest: verified at every decision, answered no-store', async () => {
    const base = decisionUrl(gate);
    const [challenge] = (await challengesFor(base, { path: '/nginx', headers: { 'x-original-method': 'GET', 'x-original-uri': '/d' } }))
      .filter((c) => c.algorithm === 'SHA-256');
    const authorization = digestAuthorization({ challenge: challenge!, username: DEMO.user, password: DEMO.password, method: 'GET', uri: '/d' });
    const ok = await asNginx(base, { uri: '/d', headers: { authorization } });
    expect(ok.status).toBe(200);
    expect(ok.headers['cache-control']).toBe('no-store');
    // The same nc again is a replay, refused: nothing about a Digest answer may be reused.
    const replay = await asNginx(base, { uri: '/d', headers: { authorization } });
    expect(replay.status).toBe(401);
  });

  it('counts each decision in trackgate_decisions_total by edge, form and status class', async () => {
    const before = await metric(gate.adminUrl, 'trackgate_decisions_total', { edge: 'nginx', scheme: 'basic', status_class: '2xx' });
    await asNginx(decisionUrl(gate), { uri: '/m', headers: { authorization: basicAuth(DEMO.user, DEMO.password) } });
    expect(await metric(gate.adminUrl, 'trackgate_decisions_total', { edge: 'nginx', scheme: 'basic', status_class: '2xx' })).toBe(before + 1);
    const line = gate.logRecords().filter((l) => l.msg === 'decision').at(-1)!;
    expect(line).toMatchObject({ edge: 'nginx', path: '/m', sub: DEMO.user, ip: '203.0.113.7', status: 200 });
  });
});

describe('decision: refused', () => {
  it('401 carries every WWW-Authenticate challenge the sidecar sends', async () => {
    const viaProxy = await send(gate.url, { path: '/x' });
    const r = await asNginx(decisionUrl(gate), { uri: '/x' });
    expect(r.status).toBe(401);
    const schemes = (v: string[] | undefined) => (v ?? []).map((c) => c.split(' ')[0]);
    expect(schemes(r.distinct['www-authenticate'])).toEqual(schemes(viaProxy.distinct['www-authenticate']));
    expect(schemes(r.distinct['www-authenticate'])).toEqual(expect.arrayContaining(['Basic', 'Digest', 'Bearer', 'X-Token']));
    expect(r.headers['cache-control']).toContain('no-store');
    expect(JSON.parse(r.body)).toMatchObject({ error: 'TG_ERR_NO_CREDENTIALS' });
  });

  it('403 from a route rule, judged on the original URI', async () => {
    const r = await asNginx(decisionUrl(gate), { uri: '/admin/users', headers: { authorization: basicAuth(DEMO.user, DEMO.password) } });
    expect(r.status).toBe(403);
    expect(JSON.parse(r.body)).toMatchObject({ error: 'TG_ERR_FORBIDDEN' });
  });

  it('400 for an ambiguous original path, a method override, or an edge that did not describe the request', async () => {
    const auth = { authorization: basicAuth(DEMO.user, DEMO.password) };
    expect(JSON.parse((await asNginx(decisionUrl(gate), { uri: '/public/..%2fadmin/users', headers: auth })).body).error).toBe('TG_ERR_AMBIGUOUS_PATH');
    expect(JSON.parse((await asNginx(decisionUrl(gate), { uri: '/x?_method=DELETE', headers: auth })).body).error).toBe('TG_ERR_METHOD_OVERRIDE');
    const missing = await send(decisionUrl(gate), { path: '/nginx', headers: { 'x-original-method': 'GET', ...auth } });
    expect(missing.status).toBe(400);
    expect(JSON.parse(missing.body).error).toBe('TG_ERR_DECISION_REQUEST');
    expect((await send(decisionUrl(gate), { path: '/somewhere' })).status).toBe(404);
  });

  it('a token endpoint path is not decided (the edge must route it to trackgate): 421', async () => {
    const r = await asNginx(decisionUrl(gate), { method: 'POST', uri: '/rest/v2/token' });
    expect(r.status).toBe(421);
    expect(JSON.parse(r.body).error).toBe('TG_ERR_TOKEN_ENDPOINT_PATH');
  });

  it('429 with Retry-After once the throttle holds the user (keyed by the client address the edge saw)', async () => {
    for (let i = 0; i < 2; i++) {
      expect((await asNginx(decisionUrl(gate), { uri: '/t', headers: { authorization: basicAuth('throttled.user', `wrong-${i}`) } })).status).toBe(401);
    }
    const r = await asNginx(decisionUrl(gate), { uri: '/t', headers: { authorization: basicAuth('throttled.user', 'wrong-again') } });
    expect(r.status).toBe(429);
    expect(Number(r.headers['retry-after'])).toBeGreaterThan(0);
  });
});

describe('decision: who may ask', () => {
  const outsider = useGate({ config: { ...DECISION_CONFIG, decision: { listen: '127.0.0.1:0', allowFrom: ['10.0.0.0/8'] } } });

  it('a peer outside decision.allowFrom gets 403, whatever it says', async () => {
    const r = await asNginx(decisionUrl(outsider), { uri: '/x', headers: { authorization: basicAuth(DEMO.user, DEMO.password) } });
    expect(r.status).toBe(403);
    expect(JSON.parse(r.body).error).toBe('TG_ERR_DECISION_PEER');
  });

  it('the decision listener is off by default', async () => {
    expect(gate.app.decisionServer).toBeDefined();
    const { startGate } = await import('../../helpers/gate.js');
    const plain = await startGate();
    try { expect(plain.app.decisionServer).toBeUndefined(); } finally { await plain.close(); }
  });
});

describe('decision: a restricted token\'s body cannot be checked here', () => {
  const geoloqi = useGate({ config: { ...DECISION_CONFIG, authn: { ...DECISION_CONFIG.authn, oauth: { enabled: true } } } });

  it('a Geoloqi user token: GET passes (query user_id checked), a POST or a declared JSON/form body is refused 403', async () => {
    const token = await issueGeoloqiToken(geoloqi);
    const auth = { authorization: `OAuth ${token}` };
    expect((await asNginx(decisionUrl(geoloqi), { uri: '/1/location/last', headers: auth })).status).toBe(200);
    expect((await asNginx(decisionUrl(geoloqi), { uri: '/1/location/last?user_id=someone-else', headers: auth })).status).toBe(403);
    for (const o of <{ method: string; headers: Record<string, string> }[]>[
      { method: 'POST', headers: auth },
      { method: 'POST', headers: { ...auth, 'content-type': 'application/json' } },
      { method: 'PUT', headers: { ...auth, 'content-type': 'application/x-www-form-urlencoded' } },
      { method: 'GET', headers: { ...auth, 'content-type': 'multipart/form-data; boundary=x' } },
    ]) {
      const r = await asNginx(decisionUrl(geoloqi), { uri: '/1/location/update', ...o });
      expect(r.status, `${o.method} ${o.headers['content-type'] ?? ''}`).toBe(403);
      expect(JSON.parse(r.body).error).toBe('TG_ERR_FORBIDDEN');
    }
    // A body type no framework reads parameters from is not refused.
    expect((await asNginx(decisionUrl(geoloqi), { method: 'POST', uri: '/1/upload', headers: { ...auth, 'content-type': 'text/csv' } })).status).toBe(200);
  });

  it('an application token (unrestricted) may POST bodies', async () => {
    const token = await issueGeoloqiToken(geoloqi, { kind: 'app', subject: 'demo-app' });
    const r = await asNginx(decisionUrl(geoloqi), { method: 'POST', uri: '/1/location/update', headers: { authorization: `OAuth ${token}`, 'content-type': 'application/json' } });
    expect(r.status).toBe(200);
  });
});
