/**
 * Migration policies per credential form (src/authn/form-policies.ts) and report-only route rules, through a
 * real trackgate (proxy port and decision listener) and a recording upstream: each policy's effect on the
 * status, the headers, the challenges, the metrics and the access line; narrowing by account and path prefix.
 */
import { describe, expect, it } from 'vitest';
import { useGate } from '../helpers/gate.js';
import { basicAuth, DEMO, logsSince } from '../helpers/trackgate.js';
import { challengesFor, digestAuthorization, send, type Reply } from '../helpers/digest-client.js';
import { metric } from '../helpers/metrics.js';
import { asNginx, decisionUrl } from '../proxy/decision/decision-helpers.js';
import { operatorAuth, operatorsFileText } from '../helpers/operators.js';

const REALM = 'GPS Data Web Service';
const SUNSET = '2027-06-30';
const LINK = 'https://gps.example/docs/migration';

const gate = useGate(async () => ({
  files: { 'operators.htpasswd': await operatorsFileText() },
  config: {
    admin: { operatorsFile: 'operators.htpasswd' },
    decision: { listen: '127.0.0.1:0' },
    authn: { digest: { realm: REALM } },
    migration: {
      policies: [
        { name: 'digest-sunset', forms: ['digest'], policy: 'deprecated', deprecation: '2026-11-01', sunset: SUNSET, link: LINK },
        { name: 'basic-other-fleet', forms: ['basic'], policy: 'deny', accounts: ['another-account'] },
        { name: 'basic-api2', forms: ['basic'], policy: 'deny', pathPrefix: '/api2' },
        { name: 'basic-fleet', forms: ['basic'], policy: 'deny', accounts: ['demo-account'], pathPrefix: '/fleet' },
        { name: 'basic-rehearsal', forms: ['basic'], policy: 'report-only', accounts: ['demo-account'], pathPrefix: '/rehearse' },
        { name: 'basic-kept', forms: ['basic'], policy: 'allow', pathPrefix: '/kept' },
      ],
    },
    routes: [
      { path: '/reports', name: 'reports-admins', mode: 'report-only', access: { kinds: ['admin'] } },
      { path: '/open', name: 'open-locked', mode: 'report-only', access: 'deny' },
      { path: '/open', access: 'public' },
    ],
  },
}));

const basic = { authorization: basicAuth(DEMO.user, DEMO.password) };

async function withDigest(path: string, via: (headers: Record<string, string>) => Promise<Reply> = (headers) => send(gate.url, { path, headers })): Promise<Reply> {
  const [challenge] = await challengesFor(gate.url, { path });
  const authorization = digestAuthorization({ challenge: challenge!, username: DEMO.user, password: DEMO.password, method: 'GET', uri: path });
  return via({ authorization });
}

/** The access line of the last request to `path` logged since `from`. */
function accessLine(from: number, path: string): Record<string, unknown> {
  const line = logsSince(gate.logs, from).filter((r) => r.path === path).at(-1);
  expect(line, `no access line for ${path}`).toBeDefined();
  return line!;
}

describe('deprecated', () => {
  it('forwards with Deprecation, Sunset and Link, counts it and names the policy on the access line', async () => {
    const before = await metric(gate.adminUrl, 'trackgate_legacy_requests_total', { scheme: 'digest', policy: 'deprecated' });
    const from = gate.logs.length;
    const r = await withDigest('/rest/v2/devices');
    expect(r.status).toBe(200);
    expect(r.headers.deprecation).toBe(`@${Date.parse('2026-11-01') / 1000}`);
    expect(r.headers.sunset).toBe('Wed, 30 Jun 2027 00:00:00 GMT');
    expect(r.headers.link).toBe(`<${LINK}>; rel="deprecation"`);
    expect(await metric(gate.adminUrl, 'trackgate_legacy_requests_total', { scheme: 'digest', policy: 'deprecated' })).toBe(before + 1);
    expect(accessLine(from, '/rest/v2/devices')).toMatchObject({ scheme: 'digest', status: 200, policy: 'digest-sunset' });
  });

  it("keeps the upstream's own Link header beside the deprecation link", async () => {
    const previous = gate.up.respond;
    gate.up.respond = (_req, res) => { res.writeHead(200, { link: '</rest/v2/devices?page=2>; rel="next"', 'content-length': 2 }); res.end('{}'); };
    try {
      const r = await withDigest('/rest/v2/devices');
      expect(r.status).toBe(200);
      expect(r.headers.link).toBe(`</rest/v2/devices?page=2>; rel="next", <${LINK}>; rel="deprecation"`);
    } finally {
      gate.up.respond = previous;
    }
  });

  it('leaves other forms alone: Basic gets no deprecation headers', async () => {
    const r = await send(gate.url, { path: '/rest/v2/devices', headers: basic });
    expect(r.status).toBe(200);
    expect(r.headers.deprecation).toBeUndefined();
    expect(r.headers.sunset).toBeUndefined();
  });

  it('exports the sunset date as a gauge per policy and form', async () => {
    expect(await metric(gate.adminUrl, 'trackgate_policy_sunset_timestamp_seconds', { policy: 'digest-sunset', scheme: 'digest' })).toBe(Date.parse(SUNSET) / 1000);
  });
});

describe('deny', () => {
  it('answers 401 naming the forms still accepted, with only their challenges, and forwards nothing', async () => {
    const sent = gate.up.received.length;
    const before = await metric(gate.adminUrl, 'trackgate_legacy_requests_total', { scheme: 'basic', policy: 'deny' });
    const from = gate.logs.length;
    const r = await send(gate.url, { path: '/api2/positions', headers: basic });
    expect(r.status).toBe(401);
    expect(JSON.parse(r.body)).toEqual({ error: 'TG_ERR_FORM_DENIED', message: 'basic credentials are no longer accepted here', accepted: ['digest'] });
    const challenges = r.distinct['www-authenticate'] ?? [];
    expect(challenges.length).toBeGreaterThan(0);
    expect(challenges.every((c) => c.startsWith('Digest '))).toBe(true);
    expect(gate.up.received.length).toBe(sent);
    expect(await metric(gate.adminUrl, 'trackgate_legacy_requests_total', { scheme: 'basic', policy: 'deny' })).toBe(before + 1);
    expect(await metric(gate.adminUrl, 'trackgate_auth_attempts_total', { scheme: 'basic', reason: 'denied' })).toBeGreaterThan(0);
    expect(accessLine(from, '/api2/positions')).toMatchObject({ status: 401, err: 'TG_ERR_FORM_DENIED', reason: 'denied', detail: 'migration policy basic-api2 denies basic' });
  });

  it('a request without credentials under the prefix is challenged for the accepted forms only', async () => {
    const r = await send(gate.url, { path: '/api2/positions' });
    expect(r.status).toBe(401);
    const challenges = r.distinct['www-authenticate'] ?? [];
    expect(challenges.some((c) => c.startsWith('Basic '))).toBe(false);
    expect(challenges.some((c) => c.startsWith('Digest '))).toBe(true);
    // Outside the prefix (and at a mere string prefix, not a segment) Basic is still challenged and accepted.
    const elsewhere = await send(gate.url, { path: '/api2x' });
    expect(elsewhere.distinct['www-authenticate']!.some((c) => c.startsWith('Basic '))).toBe(true);
    expect((await send(gate.url, { path: '/api2x', headers: basic })).status).toBe(200);
  });

  it('the accepted form still passes where the other is denied', async () => {
    expect((await withDigest('/api2/positions')).status).toBe(200);
  });

  it('narrowed to an account: denies that account\'s identities, not another\'s', async () => {
    // basic-fleet names demo-account (the demo user's account); basic-other-fleet another one.
    const r = await send(gate.url, { path: '/fleet/7', headers: basic });
    expect(r.status).toBe(401);
    expect(JSON.parse(r.body)).toMatchObject({ error: 'TG_ERR_FORM_DENIED', accepted: ['digest'] });
    expect((await send(gate.url, { path: '/rest/v2/devices', headers: basic })).status).toBe(200);
    // A policy narrowed to accounts does not hide the form's challenge: other accounts may still use it.
    expect((await send(gate.url, { path: '/fleet/7' })).distinct['www-authenticate']!.some((c) => c.startsWith('Basic '))).toBe(true);
  });
});

describe('report-only', () => {
  it('of a form: the request passes, the would-be denial is counted and logged with the policy\'s name', async () => {
    const before = await metric(gate.adminUrl, 'trackgate_report_only_denials_total', { rule: 'basic-rehearsal' });
    const legacy = await metric(gate.adminUrl, 'trackgate_legacy_requests_total', { scheme: 'basic', policy: 'report-only' });
    const from = gate.logs.length;
    const r = await send(gate.url, { path: '/rehearse/positions', headers: basic });
    expect(r.status).toBe(200);
    expect(gate.up.received.at(-1)!.url).toBe('/rehearse/positions');
    expect(await metric(gate.adminUrl, 'trackgate_report_only_denials_total', { rule: 'basic-rehearsal' })).toBe(before + 1);
    expect(await metric(gate.adminUrl, 'trackgate_legacy_requests_total', { scheme: 'basic', policy: 'report-only' })).toBe(legacy + 1);
    expect(accessLine(from, '/rehearse/positions')).toMatchObject({ status: 200, policy: 'basic-rehearsal', wouldDeny: 'basic-rehearsal' });
  });

  it('of a route rule: an identity its lists leave out passes, counted and logged with the rule\'s name', async () => {
    const before = await metric(gate.adminUrl, 'trackgate_report_only_denials_total', { rule: 'reports-admins' });
    const from = gate.logs.length;
    const r = await send(gate.url, { path: '/reports/daily', headers: basic });
    expect(r.status).toBe(200);
    expect(await metric(gate.adminUrl, 'trackgate_report_only_denials_total', { rule: 'reports-admins' })).toBe(before + 1);
    expect(accessLine(from, '/reports/daily')).toMatchObject({ status: 200, wouldDeny: 'reports-admins' });
    expect(accessLine(from, '/reports/daily').policy).toBeUndefined();
  });

  it('of a route rule ahead of a public one: the public request passes, the would-be deny is reported', async () => {
    const before = await metric(gate.adminUrl, 'trackgate_report_only_denials_total', { rule: 'open-locked' });
    const from = gate.logs.length;
    const r = await send(gate.url, { path: '/open/map' });
    expect(r.status).toBe(200);
    expect(await metric(gate.adminUrl, 'trackgate_report_only_denials_total', { rule: 'open-locked' })).toBe(before + 1);
    expect(accessLine(from, '/open/map')).toMatchObject({ scheme: 'public', wouldDeny: 'open-locked' });
  });
});

describe('allow', () => {
  it('changes nothing but is counted', async () => {
    const before = await metric(gate.adminUrl, 'trackgate_legacy_requests_total', { scheme: 'basic', policy: 'allow' });
    const r = await send(gate.url, { path: '/kept/x', headers: basic });
    expect(r.status).toBe(200);
    expect(r.headers.deprecation).toBeUndefined();
    expect(await metric(gate.adminUrl, 'trackgate_legacy_requests_total', { scheme: 'basic', policy: 'allow' })).toBe(before + 1);
  });
});

describe('decision mode', () => {
  it('gives the edge the deprecated form\'s headers with its 200', async () => {
    const r = await withDigest('/rest/v2/devices', (headers) => asNginx(decisionUrl(gate), { uri: '/rest/v2/devices', headers }));
    expect(r.status).toBe(200);
    expect(r.headers.sunset).toBe('Wed, 30 Jun 2027 00:00:00 GMT');
    expect(r.headers.link).toBe(`<${LINK}>; rel="deprecation"`);
  });

  it('refuses a denied form with the same 401 body and challenges', async () => {
    const r = await asNginx(decisionUrl(gate), { uri: '/api2/positions', headers: basic });
    expect(r.status).toBe(401);
    expect(JSON.parse(r.body)).toMatchObject({ error: 'TG_ERR_FORM_DENIED', accepted: ['digest'] });
    expect(r.headers['x-trackgate-error']).toBe('TG_ERR_FORM_DENIED');
    expect((r.distinct['www-authenticate'] ?? []).every((c) => c.startsWith('Digest '))).toBe(true);
  });
});

describe('GET /admin/policies', () => {
  it('lists every policy, one row per form, in match order, with its dates, link and narrowing', async () => {
    expect((await fetch(`${gate.adminUrl}/admin/policies`)).status).toBe(401);
    const res = await fetch(`${gate.adminUrl}/admin/policies`, { headers: operatorAuth });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const { policies } = await res.json() as { policies: Record<string, unknown>[] };
    expect(policies.map((p) => p.name)).toEqual(['digest-sunset', 'basic-other-fleet', 'basic-api2', 'basic-fleet', 'basic-rehearsal', 'basic-kept']);
    expect(policies[0]).toEqual({ name: 'digest-sunset', scheme: 'digest', policy: 'deprecated', deprecation: '2026-11-01', sunset: SUNSET, link: LINK });
    expect(policies[3]).toEqual({ name: 'basic-fleet', scheme: 'basic', policy: 'deny', accounts: ['demo-account'], pathPrefix: '/fleet' });
  });
});
