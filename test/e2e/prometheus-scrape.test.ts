/**
 * The shipped PromQL against real data: a real Prometheus (Debian's `prometheus`, installed by .ci/run) scrapes a
 * real trackgate process (bin/trackgate.js, Node's process metrics included; its store a Sentinel-managed Redis, so
 * the Redis topology series exist too) every second while every credential
 * form is used, good and bad, tokens are issued, refreshed and revoked, a password guesser is throttled, the
 * upstream fails three ways, a body stalls and a config file changes. Then every query of the Grafana dashboard
 * and every series the alert rules compare must return data through Prometheus's HTTP API, and every metric they
 * name must be on trackgate's /metrics.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type ClusterProc } from '../helpers/cluster-process.js';
import { startPrometheus, type PrometheusServer, type QueryResult } from '../helpers/prometheus-server.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { startSentinelSetup, type SentinelSetup } from '../helpers/redis-sentinel.js';
import { slowBody } from '../helpers/slow-client.js';
import { basicAuth, DEMO, DEMO_ACCOUNTS } from '../helpers/trackgate.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { comparedSeries, dashboard, dashboardExpressions, familyOf, metricNames, rules, substitute } from '../monitoring/expressions.js';

const run = promisify(execFile);
const JOB = 'trackgate';
/** The dashboard's variables as "All" selects them, and an interval wide enough to hold the whole run. */
const VARIABLES = { job: '.+', instance: '.+', datasource: 'prometheus' };
const RATE_INTERVAL = '5m';
const INTERVAL = '1s';

let dir: string;
let up: RecordingUpstream;
let tg: ClusterProc;
let prom: PrometheusServer;
let redis: SentinelSetup;

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
const ADMIN = { instanceid: DEMO.apiInstanceId, authorization: basicAuth(DEMO.adminEmail, DEMO.adminPassword) };

async function call(path: string, init: RequestInit = {}): Promise<Response> {
  const res = await fetch(`${tg.proxy}${path}`, { redirect: 'manual', ...init });
  await res.arrayBuffer().catch(() => undefined);
  return res;
}
async function post(path: string, fields: Record<string, string>, headers: Record<string, string> = {}): Promise<Record<string, string>> {
  const res = await fetch(`${tg.proxy}${path}`, { method: 'POST', headers: { ...FORM, ...headers }, body: new URLSearchParams(fields).toString() });
  expect(res.status, path).toBe(200);
  const text = await res.text();
  return text === '' ? {} : JSON.parse(text) as Record<string, string>;
}

/** One round of every credential form and every failure the dashboard shows; `round` keeps guesses distinct. */
async function load(round: number): Promise<void> {
  const basic = basicAuth(DEMO.user, DEMO.password);
  for (let i = 0; i < 3; i++) expect((await call('/rest/v2/devices', { headers: { authorization: basic } })).status).toBe(200);
  // A wrong password, twice: the second is answered by the cached rejection (a negative hit).
  for (let i = 0; i < 2; i++) expect((await call('/rest/v2/devices', { headers: { authorization: basicAuth('nobody', `wrong-${round}`) } })).status).toBe(401);
  expect((await call('/rest/v2/devices', { headers: { authorization: 'Basic !!!' } })).status).toBe(400);
  expect((await call('/rest/v2/devices')).status).toBe(401);
  // Digest through curl (a real client): a challenge, then the answer.
  const digest = await run('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '--digest', '-u', `${DEMO.user}:${DEMO.password}`, `${tg.proxy}/rest/v2/devices`]);
  expect(digest.stdout).toBe('200');
  // Session token (GPS REST v2: web-service key → redirect carrying ?_token=).
  const issued = await fetch(`${tg.proxy}/rest/v2/token`, { method: 'POST', headers: FORM, body: `key=${DEMO.webServiceKey}`, redirect: 'manual' });
  const token = new URL(issued.headers.get('location')!, tg.proxy).searchParams.get('_token')!;
  expect((await call(`/rest/v2/gateway?_token=${token}`)).status).toBe(200);
  expect((await call('/rest/v2/gateway', { headers: { 'x-token': 'no-such-token' } })).status).toBe(401);
  // Geoloqi OAuth.
  const geo = await post('/1/oauth/token', { grant_type: 'client_credentials', client_id: DEMO.clientId, client_secret: DEMO.clientSecret });
  expect((await call('/1/account/profile', { headers: { authorization: `OAuth ${geo.access_token!}` } })).status).toBe(200);
  // Instance form (telematics devices).
  const device = { instanceid: DEMO.instanceId, instancekey: DEMO.instanceKey, devicetoken: DEMO.deviceToken };
  expect((await call('/v1/trips', { headers: device })).status).toBe(200);
  expect((await call('/v1/trips', { headers: { ...device, devicetoken: `wrong-${round}` } })).status).toBe(401);
  // Bearer: issued, refreshed, revoked by an operator, then refused.
  const pair = await post('/auth/password', { username: DEMO.user, password: DEMO.password });
  expect((await call('/data', { headers: { authorization: `Bearer ${pair.access_token!}` } })).status).toBe(200);
  const next = await post('/auth/refresh', { refresh_token: pair.refresh_token! });
  await post('/oauth/revoke', { token: next.access_token! }, ADMIN);
  expect((await call('/data', { headers: { authorization: `Bearer ${next.access_token!}` } })).status).toBe(401);
  // A password guesser: past throttle.user.limit its attempts are refused before any check.
  const statuses: number[] = [];
  for (let i = 0; i < 5; i++) statuses.push((await call('/data', { headers: { authorization: basicAuth(`guesser-${round}`, `guess-${i}`) } })).status);
  expect(statuses).toContain(429);
  // The upstream fails: its own 500, a reset (502) and no answer in time (504).
  expect((await call('/fail/500', { headers: { authorization: basic } })).status).toBe(500);
  expect((await call('/fail/reset', { headers: { authorization: basic } })).status).toBe(502);
  expect((await call('/fail/slow', { headers: { authorization: basic } })).status).toBe(504);
  // A body that stops arriving is shed (408).
  const stalled = slowBody(Number(new URL(tg.proxy).port), { path: '/upload', declared: 100, everyMs: 60_000, headers: { authorization: basic } });
  expect(await waitFor(() => stalled.closed(), 5000)).toBe(true);
  expect(stalled.received()).toMatch(/^HTTP\/1\.1 408/);
  stalled.stop();
}

/** Waits until Prometheus holds a scrape that began after now. */
async function scrapedAfterNow(): Promise<void> {
  const since = Date.now() / 1000;
  const seen = await waitFor(async () => {
    const r = await prom.query(`timestamp(up{job="${JOB}"})`);
    return r.status === 'success' && r.data.resultType === 'vector' && r.data.result.some((s) => s.value[1] !== undefined && Number(s.value[1]) > since);
  }, 15_000, 200);
  expect(seen, 'a scrape after the load').toBe(true);
}

/** The samples of an instant query, failing with Prometheus's error if it refused it. */
function samples(name: string, r: QueryResult): number[] {
  if (r.status !== 'success') throw new Error(`${name}: ${r.errorType}: ${r.error}`);
  if (r.data.resultType === 'scalar') return [Number(r.data.result[1])];
  return r.data.result.map((s) => Number(s.value[1]));
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'trackgate-prometheus-scrape-'));
  copyFileSync(DEMO_ACCOUNTS, join(dir, 'accounts.yaml'));
  up = await startRecordingUpstream();
  up.respond = (req, res, rec) => {
    if (rec.url === '/fail/500') { res.writeHead(500).end(); return; }
    if (rec.url === '/fail/reset') { req.socket.destroy(); return; }
    // Answers after trackgate's upstream.headersTimeoutMs: a deliberately late upstream.
    if (rec.url === '/fail/slow') { void sleep(1500).then(() => { if (!res.destroyed) res.end('late'); }); return; }
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
  };
  redis = await startSentinelSetup();
  tg = await startCluster({
    dir, name: 'trackgate',
    config: {
      listen: '127.0.0.1:0', admin: { listen: '127.0.0.1:0' },
      upstream: { url: up.url, headersTimeoutMs: 300 },
      store: { url: redis.url },
      accountsFile: 'accounts.yaml',
      authn: {
        basic: { enabled: true }, digest: { enabled: true, realm: 'GPS Data Web Service' }, session_token: { enabled: true }, oauth: { enabled: true },
        instance: { enabled: true }, bearer: { enabled: true },
      },
      throttle: { user: { limit: 3, windowSeconds: 3600 }, ip: { limit: 100_000 } },
      // A sunset date for trackgate_policy_sunset_timestamp_seconds (TrackgatePolicySunsetNear).
      // and report-only OAuth for trackgate_report_only_denials_total (the dashboard's migration panels).
      migration: {
        policies: [
          { name: 'digest-sunset', forms: ['digest'], policy: 'deprecated', sunset: '2099-01-01' },
          { name: 'oauth-rehearsal', forms: ['oauth'], policy: 'report-only' },
        ],
      },
      limits: { bodyIdleTimeoutMs: 300 },
      // Written every second, so the inventory's series exist well before the last scrape.
      inventory: { flushSeconds: 1 },
      logging: { level: 'info' },
      watch: true,
    },
  });
  prom = await startPrometheus({ job: JOB, targets: [new URL(tg.admin).host], scrapeIntervalSeconds: 1 });
  // Two rounds with a scrape between them, so every series has samples before and after an increase.
  await scrapedAfterNow();
  await load(1);
  // A config file change is reloaded (trackgate_config_reloads_total{result="success"}).
  writeFileSync(tg.configFile, `${readFileSync(tg.configFile, 'utf8')}# changed\n`);
  await tg.waitFor((r) => r.msg === 'configuration reloaded', 10_000);
  await scrapedAfterNow();
  await load(2);
  await scrapedAfterNow();
}, 120_000);

afterAll(async () => {
  await prom?.close();
  tg?.kill();
  await tg?.exited;
  await up?.close();
  await redis?.close();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

describe('Prometheus scraping a real trackgate', () => {
  it('scrapes the admin port', async () => {
    expect(samples('up', await prom.query(`up{job="${JOB}"}`))).toEqual([1]);
  });

  it.each(dashboardExpressions().map((e) => [e.name, e.expr]))('dashboard: %s returns data', async (name, expr) => {
    const values = samples(name, await prom.query(substitute(expr, VARIABLES, RATE_INTERVAL, INTERVAL)));
    expect(values.length, `${name}: ${expr}`).toBeGreaterThan(0);
    expect(values.some((v) => Number.isFinite(v)), `${name}: ${values.join(', ')}`).toBe(true);
  });

  it('dashboard: the $job and $instance variables list the scraped trackgate', async () => {
    for (const v of dashboard().templating.list.filter((x) => x.type === 'query')) {
      const q = typeof v.query === 'string' ? v.query : v.query.query;
      const [, selector, label] = /^label_values\((.+), (\w+)\)$/.exec(q)!;
      const params = new URLSearchParams({ 'match[]': substitute(selector!, VARIABLES, RATE_INTERVAL, INTERVAL) });
      const res = await (await fetch(`${prom.url}/api/v1/label/${label!}/values?${params}`)).json() as { data: string[] };
      expect(res.data, v.name).toEqual([label === 'job' ? JOB : new URL(tg.admin).host]);
    }
  });

  // An alert's condition is (rightly) false on a healthy system, so the test asks for the series it compares
  // (`a / b > 0.5 and c > 1` → `a / b`, `c`); the whole expression must still be accepted.
  it.each(rules().map((r) => [r.alert, r.expr]))('alert %s: the series it compares return data', async (alert, expr) => {
    samples(alert, await prom.query(expr));
    for (const part of comparedSeries(expr)) {
      const values = samples(alert, await prom.query(part));
      expect(values.length, `${alert}: ${part}`).toBeGreaterThan(0);
      expect(values.some((v) => Number.isFinite(v)), `${alert}: ${part} = ${values.join(', ')}`).toBe(true);
    }
  });

  it('every metric the dashboard and the alerts name is on trackgate\'s /metrics', async () => {
    const text = await (await fetch(`${tg.admin}/metrics`)).text();
    const exposed = new Set([...text.matchAll(/^([a-z_:][a-z0-9_:]*)(?:\{| )/gm)].map((m) => m[1]!));
    const named = [...dashboardExpressions().map((e) => e.expr), ...rules().map((r) => r.expr)].flatMap(metricNames);
    expect(named.length).toBeGreaterThan(40);
    for (const name of new Set(named)) expect(exposed.has(name) || exposed.has(`${familyOf(name)}_bucket`), name).toBe(true);
  });
});
