/**
 * `workers: 2`: the real CLI (`node bin/trackgate.js --config FILE`) as a cluster primary with two worker
 * processes, on real 127.0.0.1 ports, a real SQLite file and a recording upstream. Every request is sent on a
 * fresh connection (connections are handed to the workers round-robin) with a unique `probe` query parameter,
 * so the worker that served it is read from its access line (`path`, `pid`). Asserted: both workers serve; the admin port's
 * /metrics sums both workers' counters; identity headers minted by either worker verify against the primary's
 * JWKS; a Digest (nonce, nc) is accepted once whichever worker sees it; the brute-force throttle counts across
 * workers; revocations (CLI and operator endpoint) reach both workers' caches within ~2 s; with the primary
 * stopped (SIGSTOP) an uncached password check fails closed with 503 while a cached one passes; a killed worker is
 * restarted and counted; SIGTERM drains an in-flight request and exits 0 with every worker gone. A worker that
 * cannot listen stops the start with exit code 1.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { runCli } from '../helpers/cli.js';
import { startCluster, type ClusterProc } from '../helpers/cluster-process.js';
import { challengesFor, digestAuthorization, send, type Reply } from '../helpers/digest-client.js';
import { freePort } from '../helpers/ports.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { basicAuth, DEMO, DEMO_ACCOUNTS } from '../helpers/trackgate.js';
import { waitFor } from '../helpers/wait.js';

const REALM = 'GPS Data Web Service';
const ISSUER = 'trackgate-cluster-test';
const AUDIENCE = 'upstream-cluster-test';
const THROTTLE_LIMIT = 4;

let dir: string;
let up: RecordingUpstream;
let tg: ClusterProc;

async function config(extra: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
  return {
    listen: `127.0.0.1:${await freePort()}`,
    admin: { listen: `127.0.0.1:${await freePort()}` },
    upstream: { url: up.url },
    store: { url: `sqlite:${join(dir, 'store.sqlite')}` },
    accountsFile: 'accounts.yaml',
    identity: { issuer: ISSUER, audience: AUDIENCE },
    authn: { digest: { realm: REALM }, session_token: { enabled: true }, instance: { enabled: true } },
    throttle: { user: { limit: THROTTLE_LIMIT } },
    shutdown: { graceMs: 3000 },
    logging: { level: 'info' },
    watch: false,
    workers: 2,
    ...extra,
  };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'trackgate-cluster-'));
  copyFileSync(DEMO_ACCOUNTS, join(dir, 'accounts.yaml'));
  up = await startRecordingUpstream();
  const slow = up.respond;
  up.respond = (req, res, rec) => {
    if (!rec.url.startsWith('/slow?')) { slow(req, res, rec); return; }
    const t = setTimeout(() => { res.writeHead(200, { 'content-type': 'text/plain' }); res.end('slow ok'); }, 800);
    res.on('close', () => clearTimeout(t));
  };
  tg = await startCluster({ dir, name: 'main', config: await config() });
}, 30000);

afterAll(async () => {
  tg?.kill();
  await up?.close();
  rmSync(dir, { recursive: true, force: true });
});

/**
 * One request on a fresh connection. A `probe` query parameter makes its target unique, so the access line
 * of the worker that served it (every line carries `pid`) is found by its `path`, also for rejected requests.
 */
async function req(path: string, headers: Record<string, string> = {}, opts: { method?: string; body?: string } = {}): Promise<Reply & { probe: string }> {
  const probe = randomUUID();
  const r = await send(tg.proxy, { path: `${path}${path.includes('?') ? '&' : '?'}probe=${probe}`, headers, ...opts });
  return { ...r, probe };
}

/** The pid of the worker that served the request with this probe. */
async function workerOf(probe: string): Promise<number> {
  const line = await tg.waitFor((r) => typeof r.path === 'string' && r.path.includes(`probe=${probe}`) && (r.msg === 'request' || r.msg === 'request rejected'));
  return line.pid!;
}

/** The set of worker pids that served these requests. */
async function servedBy(probes: readonly string[]): Promise<Set<number>> {
  return new Set(await Promise.all(probes.map(workerOf)));
}

function metricValue(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

async function scrape(): Promise<string> {
  const r = await send(tg.admin, { path: '/metrics' });
  expect(r.status).toBe(200);
  return r.body;
}

const BASIC = { authorization: basicAuth(DEMO.user, DEMO.password) };
const ADMIN = { instanceid: DEMO.apiInstanceId, authorization: basicAuth(DEMO.adminEmail, DEMO.adminPassword) };

describe('workers: 2', () => {
  it('starts a primary and two workers; /healthz and /readyz on the primary\'s admin port', async () => {
    // The workers write their own lines to the shared stdout: one may arrive after the primary's.
    await waitFor(() => tg.workerPids().length >= 2);
    expect(tg.workerPids()).toHaveLength(2);
    expect(tg.workerPids()).not.toContain(tg.child.pid);
    const listening = tg.records.find((r) => r.msg === 'trackgate listening')!;
    expect(listening).toMatchObject({ role: 'primary', pid: tg.child.pid, workers: 2 });
    expect((await send(tg.admin, { path: '/healthz' })).status).toBe(200);
    const ready = await send(tg.admin, { path: '/readyz' });
    expect(ready.status).toBe(200);
    expect(JSON.parse(ready.body)).toEqual({ status: 'ready', checks: { workers: { ok: true }, store: { ok: true }, upstream: { ok: true } } });
    // Only the primary serves the admin port: no worker logged an admin address.
    expect(tg.records.filter((r) => r.worker !== undefined && r.admin !== undefined)).toEqual([]);
  });

  it('/openapi.json and Swagger UI on the primary\'s admin port: the workers\' document, asked of one over IPC', async () => {
    const doc = await send(tg.admin, { path: '/openapi.json' });
    expect(doc.status).toBe(200);
    const body = JSON.parse(doc.body) as { openapi: string; paths: Record<string, unknown> };
    expect(body.openapi).toMatch(/^3\.1\./);
    expect(Object.keys(body.paths)).toEqual(expect.arrayContaining(['/rest/v2/token', '/v1/Auth/Login']));
    expect((await send(tg.admin, { path: '/docs/' })).status).toBe(200);
  });

  it('serves requests on many connections, from both workers', async () => {
    const replies = await Promise.all(Array.from({ length: 24 }, () => req('/rest/v2/devices', BASIC)));
    expect(replies.map((r) => r.status)).toEqual(replies.map(() => 200));
    const pids = await servedBy(replies.map((r) => r.probe));
    expect([...pids].sort()).toEqual([...tg.workerPids()].sort());
  });

  it('/metrics on the admin port sums both workers\' counters (hot-path tallies included) and adds the primary\'s', async () => {
    const before = await scrape();
    const replies: (Reply & { probe: string })[] = [];
    for (let i = 0; i < 10; i++) replies.push(await req('/rest/v2/devices', BASIC));
    expect(replies.every((r) => r.status === 200)).toBe(true);
    expect((await servedBy(replies.map((r) => r.probe))).size).toBe(2);
    const after = await scrape();
    const delta = (series: string): number => metricValue(after, series) - metricValue(before, series);
    expect(delta('trackgate_requests_total{scheme="basic",outcome="forwarded",status_class="2xx"}')).toBe(10);
    expect(delta('trackgate_auth_attempts_total{scheme="basic",result="success",reason="ok"}')).toBe(10);
    expect(metricValue(after, 'trackgate_workers')).toBe(2);
    expect(after).toMatch(/^trackgate_worker_restarts_total 0$/m);
    // One family per name: the workers' series were merged, not listed twice.
    const types = after.split('\n').filter((l) => l.startsWith('# TYPE '));
    expect(new Set(types).size).toBe(types.length);
    expect(types).toContain('# TYPE trackgate_requests_total counter');
  });

  it('identity headers minted by either worker verify against the primary\'s JWKS (one shared generated key)', async () => {
    const jwksReply = await send(tg.admin, { path: '/.well-known/jwks.json' });
    const jwks = JSON.parse(jwksReply.body) as { keys: unknown[] };
    expect(jwks.keys).toHaveLength(1);
    const keySet = createLocalJWKSet(jwks as Parameters<typeof createLocalJWKSet>[0]);
    const replies = [];
    for (let i = 0; i < 6; i++) replies.push(await req(`/jwks-check/${i}`, BASIC));
    const byWorker = new Map<number, number>();
    for (const r of replies) {
      expect(r.status).toBe(200);
      const rec = up.received.find((x) => x.url.includes(`probe=${r.probe}`))!;
      const { payload } = await jwtVerify(rec.headers['x-identity-assertion'] as string, keySet, {
        issuer: ISSUER, audience: AUDIENCE, algorithms: ['EdDSA'], requiredClaims: ['exp'],
      });
      expect(payload.sub).toBe(DEMO.user);
      const pid = await workerOf(r.probe);
      byWorker.set(pid, (byWorker.get(pid) ?? 0) + 1);
    }
    expect(byWorker.size).toBe(2);
  });

  it('a Digest (nonce, nc) is accepted once, whichever worker gets it; the nonce itself works on both', async () => {
    const [challenge] = await challengesFor(tg.proxy, { path: '/rest/v2/whoami' });
    // Each count on its own target (`uri`), so its access lines are told apart by path.
    const uses = [1, 2, 3, 4].map((nc) => {
      const uri = `/rest/v2/whoami?probe=${randomUUID()}`;
      return { uri, authorization: digestAuthorization({ challenge: challenge!, username: DEMO.user, password: DEMO.password, method: 'GET', uri, nc }) };
    });
    const fresh = [];
    for (const u of uses) fresh.push(await send(tg.proxy, { path: u.uri, headers: { authorization: u.authorization } }));
    expect(fresh.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    const firstServed = await Promise.all(uses.map((u) => tg.waitFor((r) => r.path === u.uri && r.msg === 'request')));
    expect(new Set(firstServed.map((r) => r.pid)).size).toBe(2);
    // Replays, each on a new connection, in an order that sends some to the worker that did not see them first.
    const replays = [];
    for (const u of [...uses, ...[...uses].reverse()]) replays.push(await send(tg.proxy, { path: u.uri, headers: { authorization: u.authorization } }));
    expect(replays.map((r) => r.status)).toEqual(replays.map(() => 401));
    const refusedBy = async (): Promise<number[]> => tg.records
      .filter((r) => r.msg === 'request rejected' && uses.some((u) => u.uri === r.path)).map((r) => { expect(r.detail).toBe('digest: nc replayed'); return r.pid!; });
    await tg.waitFor(() => tg.records.filter((r) => r.msg === 'request rejected' && uses.some((u) => u.uri === r.path)).length === replays.length);
    const pids = await refusedBy();
    expect(pids).toHaveLength(8);
    // Both workers refused replays, and some replay went to a worker other than the one that accepted the count.
    expect(new Set(pids).size).toBe(2);
    const crossed = uses.filter((u, i) => tg.records.some((r) => r.msg === 'request rejected' && r.path === u.uri && r.pid !== firstServed[i]!.pid));
    expect(crossed.length).toBeGreaterThan(0);
  });

  it('the brute-force throttle counts failures across workers (N workers do not give N× the attempts)', async () => {
    const user = `mallory-${randomUUID().slice(0, 8)}`;
    const failures = [];
    for (let i = 0; i < THROTTLE_LIMIT; i++) failures.push(await req('/rest/v2/devices', { authorization: basicAuth(user, `guess-${i}`) }));
    expect(failures.map((r) => r.status)).toEqual(failures.map(() => 401));
    // Spread over both workers, so neither saw the limit alone.
    expect((await servedBy(failures.map((r) => r.probe))).size).toBe(2);
    const after = [];
    for (let i = 0; i < 4; i++) after.push(await req('/rest/v2/devices', { authorization: basicAuth(user, `later-guess-${i}`) }));
    expect(after.map((r) => r.status)).toEqual([429, 429, 429, 429]);
    expect(after.every((r) => Number(r.headers['retry-after']) >= 1)).toBe(true);
    expect((await servedBy(after.map((r) => r.probe))).size).toBe(2);
  });

  /** Polls (fresh connections, both workers) until `token` is refused everywhere; returns the time it took. */
  async function untilRefusedEverywhere(token: string, since: number): Promise<number> {
    let statuses: number[] = [];
    const refused = await waitFor(async () => {
      const round = await Promise.all([1, 2, 3, 4].map(() => req(`/rest/v2/devices?_token=${encodeURIComponent(token)}`)));
      statuses = round.map((r) => r.status);
      return round.every((r) => r.status === 401) && (await servedBy(round.map((r) => r.probe))).size === 2;
    }, 5000, 100);
    if (!refused) throw new Error(`still accepted after 5 s: ${statuses.join(',')}`);
    return Date.now() - since;
  }

  async function issueAndWarm(): Promise<string> {
    const r = await send(tg.proxy, { method: 'POST', path: '/rest/v2/token', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: DEMO.user, password: DEMO.password }) });
    expect(r.status).toBe(303);
    const token = decodeURIComponent(/_token=([^&]+)/.exec(String(r.headers.location))![1]!);
    // Used on both workers, so both hold it in their validation cache.
    const warm = [];
    for (let i = 0; i < 6; i++) warm.push(await req(`/rest/v2/devices?_token=${encodeURIComponent(token)}`));
    expect(warm.map((x) => x.status)).toEqual(warm.map(() => 200));
    expect((await servedBy(warm.map((x) => x.probe))).size).toBe(2);
    return token;
  }

  it('a token revoked with `trackgate tokens revoke` is refused by every worker within ~2 s', async () => {
    const token = await issueAndWarm();
    const r = await runCli(['tokens', 'revoke', '--config', tg.configFile, '-'], { input: token, cwd: dir });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(await untilRefusedEverywhere(token, Date.now())).toBeLessThan(2500);
  }, 30000);

  it('a token revoked through the operator endpoint (served by one worker) is refused by the other within ~2 s', async () => {
    const token = await issueAndWarm();
    const revoked = await req('/oauth/revoke', { ...ADMIN, 'content-type': 'application/x-www-form-urlencoded' }, { method: 'POST', body: `token=${encodeURIComponent(token)}` });
    expect(revoked.status).toBe(200);
    expect(await untilRefusedEverywhere(token, Date.now())).toBeLessThan(2500);
  }, 30000);

  it('fails closed: while the primary does not answer, a password check is refused with 503 (cached validations still pass)', async () => {
    // One kept-alive connection, owned by one worker: with the primary stopped, no new connection is handed out.
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const get = (headers: Record<string, string>): Promise<{ status: number; body: string; port: number; ms: number }> => new Promise((resolve, reject) => {
      const t0 = Date.now();
      const r = httpRequest(`${tg.proxy}/rest/v2/devices`, { agent, headers }, (res) => {
        const port = res.socket.localPort ?? 0;
        let body = '';
        res.setEncoding('utf8').on('data', (c: string) => { body += c; });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, port, ms: Date.now() - t0 }));
      });
      r.on('error', reject);
      r.setTimeout(10000, () => r.destroy(new Error('no answer within 10 s')));
      r.end();
    });
    try {
      const warm = await get(BASIC);
      expect(warm.status).toBe(200);
      tg.child.kill('SIGSTOP');
      const cached = await get(BASIC);
      expect(cached).toMatchObject({ status: 200, port: warm.port });
      // Not in the cache: Basic asks the shared throttle first, over IPC, and gets no answer.
      const fresh = await get({ authorization: basicAuth(DEMO.user, DEMO.webServiceKey) });
      expect(fresh).toMatchObject({ status: 503, port: warm.port });
      expect(JSON.parse(fresh.body)).toMatchObject({ error: 'TG_ERR_SOURCE_UNAVAILABLE' });
      expect(fresh.ms).toBeGreaterThanOrEqual(1900);
      tg.child.kill('SIGCONT');
      // The 503 was not cached: the same credential works once the primary answers again.
      expect(await get({ authorization: basicAuth(DEMO.user, DEMO.webServiceKey) })).toMatchObject({ status: 200, port: warm.port });
    } finally {
      tg.child.kill('SIGCONT');
      agent.destroy();
    }
  }, 20000);

  it('a worker that dies is restarted (logged, counted); the proxy keeps serving', async () => {
    const [victim] = tg.workerPids();
    const survivors = tg.workerPids().filter((p) => p !== victim);
    process.kill(victim!, 'SIGKILL');
    if (!(await waitFor(() => tg.workerPids().length >= 3, 15000, 50))) throw new Error('no replacement worker within 15 s');
    expect(tg.records.find((r) => r.msg === 'worker exited unexpectedly; restarting it')).toMatchObject({ role: 'primary', workerPid: victim, signal: 'SIGKILL' });
    const replacement = tg.workerPids().find((p) => p !== victim && !survivors.includes(p))!;
    expect(metricValue(await scrape(), 'trackgate_worker_restarts_total')).toBe(1);
    expect((await send(tg.admin, { path: '/readyz' })).status).toBe(200);
    const replies = [];
    for (let i = 0; i < 6; i++) replies.push(await req('/rest/v2/devices', BASIC));
    expect(replies.map((r) => r.status)).toEqual(replies.map(() => 200));
    expect([...(await servedBy(replies.map((r) => r.probe)))].sort()).toEqual([...survivors, replacement].sort());
  }, 30000);

  it('SIGTERM: an in-flight request completes, readiness turns 503, every worker exits, the primary exits 0', async () => {
    const before = up.received.length;
    const inflight = req('/slow', BASIC);
    // Forwarded: now in flight.
    if (!(await waitFor(() => up.received.slice(before).some((r) => r.url.startsWith('/slow?')), 5000, 5))) throw new Error('/slow was not forwarded');
    const workers = tg.workerPids().filter((p) => { try { process.kill(p, 0); return true; } catch { return false; } });
    expect(workers).toHaveLength(2);
    tg.child.kill('SIGTERM');
    // Logged as the primary starts draining: from then on its readiness says no.
    await tg.waitFor((r) => r.role === 'primary' && r.msg === 'shutting down: workers drain in-flight requests', 5000);
    const ready = await send(tg.admin, { path: '/readyz' }).catch(() => undefined);
    if (ready !== undefined) expect(ready.status).toBe(503);
    const done = await inflight;
    expect(done.status).toBe(200);
    expect(done.body).toBe('slow ok');
    const exit = await Promise.race([tg.exited, new Promise<never>((_r, reject) => setTimeout(() => reject(new Error('no exit within 10 s')), 10000))]);
    expect(exit).toEqual({ code: 0, signal: null });
    for (const p of workers) expect(() => process.kill(p, 0)).toThrow();
    expect(tg.records.filter((r) => r.msg === 'worker stopped').map((r) => r.pid).sort()).toEqual([...workers].sort());
  }, 20000);
});

describe('start-up', () => {
  let blocker: Server;
  afterAll(() => new Promise<void>((r) => (blocker ? blocker.close(() => r()) : r())));

  it('a worker that cannot listen stops the start: exit code 1, the reason on stderr (TRACKGATE_WORKERS=2)', async () => {
    blocker = createServer();
    const port = await freePort();
    await new Promise<void>((r) => blocker.listen(port, '127.0.0.1', () => r()));
    const cfg = await config({ listen: `127.0.0.1:${port}` });
    delete cfg.workers;
    const started = startCluster({ dir, name: 'busy-port', config: cfg, env: { TRACKGATE_WORKERS: '2' } });
    await expect(started).rejects.toThrow(/exited \(1\) before listening: [\s\S]*EADDRINUSE[\s\S]*exited during start-up/);
  }, 30000);
});
