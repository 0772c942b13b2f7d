/**
 * Redis taken away from a real trackgate process under load, and given back: stopped and restarted (its data
 * saved first, as a persistent Redis keeps it), and hung (SIGSTOP: connected, answering nothing). Meanwhile
 * eight lanes send requests with cached credentials (GPS REST v2 session tokens issued through Redis, and
 * Basic) and two lanes ask for new tokens. Cached credentials never fail, before, during or after; issuance
 * answers 503 TG_ERR_STORE_UNAVAILABLE while Redis is away (quickly: a hung Redis costs a request at most the
 * command timeout) and works again once `/readyz` says 200; `/readyz` says 503 while Redis is away; afterwards
 * the process is alive and its open file descriptors are back to their baseline (reconnects leak no socket).
 */
import { Agent, fetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { basicAuth, DEMO } from '../helpers/trackgate.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { gateFolder, type GateFolder, type GateProc } from './faults-lib/gate-process.js';
import { outcomeOf, startLoad, tally, type Sample } from './faults-lib/load.js';
import { recordRow } from './record.js';

const TOKENS = 20;
const CACHED_LANES = 8;
const ISSUE_LANES = 2;
/** How long each phase (before, away, after) lasts under load. */
const PHASE_MS = 2000;
const UNAVAILABLE = '503 TG_ERR_STORE_UNAVAILABLE';

let redis: RedisServer;
let up: RecordingUpstream;
let folder: GateFolder;
let gate: GateProc;
let baseline: number;
let tokens: string[];
/** The clients' connections to trackgate, closed before the fds are counted for the last time. */
let clients: Agent;

beforeAll(async () => {
  clients = new Agent();
  redis = await startRedisServer();
  up = await startRecordingUpstream();
  up.respond = (_req, res) => { res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '2' }); res.end('ok'); };
  folder = await gateFolder({
    upstream: { url: up.url, keepAliveTimeoutMs: 500 },
    store: { url: redis.url },
    authn: { session_token: { enabled: true } },
  });
  gate = await folder.start();
  tokens = [];
  for (let i = 0; i < TOKENS; i++) tokens.push(await issue());
  // Cache them, and Basic.
  for (const t of tokens) expect(await cachedRequest(t)).toBe('200');
  expect(await cachedRequest(undefined)).toBe('200');
  // Baseline: the warm-up's client connections closed, its upstream connection idled out.
  const warm = gate.fds();
  await clients.close();
  clients = new Agent();
  await waitFor(() => gate.fds() < warm, 5000);
  baseline = gate.fds();
});
// Processes first (a rejected close below must not leave trackgate or Redis running).
afterAll(async () => {
  folder?.close();
  await redis?.close();
  await clients?.close().catch(() => undefined);
  await up?.close();
});

/** Asks for a GPS REST v2 session token; resolves with its value. */
async function issue(): Promise<string> {
  const res = await issueRequest();
  expect(res.status).toBe(303);
  return new URLSearchParams(res.headers.get('location')!.split('?')[1]).get('_token')!;
}

function issueRequest(): ReturnType<typeof fetch> {
  return fetch(`${gate.proxy}/rest/v2/token`, {
    method: 'POST', redirect: 'manual', dispatcher: clients, body: new URLSearchParams({ key: DEMO.webServiceKey }).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded' }, signal: AbortSignal.timeout(10_000),
  });
}

/** One proxied request with a session token (or Basic, for `undefined`). */
async function cachedRequest(token: string | undefined): Promise<string> {
  const res = token === undefined
    ? await fetch(`${gate.proxy}/data`, { headers: { authorization: basicAuth(DEMO.user, DEMO.password) }, dispatcher: clients, signal: AbortSignal.timeout(10_000) })
    : await fetch(`${gate.proxy}/data?_token=${encodeURIComponent(token)}`, { dispatcher: clients, signal: AbortSignal.timeout(10_000) });
  return outcomeOf(res);
}

const ready = async (): Promise<number> => {
  const res = await fetch(`${gate.admin}/readyz`, { dispatcher: clients });
  await res.body?.cancel();
  return res.status;
};

interface Outage {
  cached: readonly Sample[];
  issued: readonly Sample[];
  /** When Redis was gone (stop resolved / SIGSTOP sent) and when it was given back. */
  away: number;
  back: number;
  /** When `/readyz` said 503, and 200 again. */
  notReady: number;
  readyAgain: number;
}

/**
 * Runs the load over a phase before, `takeAway()`, `awayMs` once `/readyz` said 503, `giveBack()`, and a phase
 * after readiness returned.
 */
async function outage(takeAway: () => Promise<void>, giveBack: () => Promise<void>, awayMs = PHASE_MS): Promise<Outage> {
  const cached = startLoad(CACHED_LANES, (lane, n) => cachedRequest(lane === 0 ? undefined : tokens[(lane * 7 + n) % TOKENS]));
  const issued = startLoad(ISSUE_LANES, async () => {
    const res = await issueRequest();
    // A token issued while the load runs must work at once.
    if (res.status !== 303) return outcomeOf(res);
    const token = new URLSearchParams(res.headers.get('location')!.split('?')[1]).get('_token')!;
    const use = await cachedRequest(token);
    return use === '200' ? '303' : `303, then ${use}`;
  });
  try {
    await sleep(PHASE_MS);
    await takeAway();
    const away = Date.now();
    expect(await waitFor(async () => (await ready()) === 503, 5000), '/readyz turns 503').toBe(true);
    const notReady = Date.now();
    await sleep(awayMs);
    const back = Date.now();
    await giveBack();
    expect(await waitFor(async () => (await ready()) === 200, 15_000), '/readyz turns 200 again').toBe(true);
    const readyAgain = Date.now();
    await sleep(PHASE_MS);
    return { cached: await cached.stop(), issued: await issued.stop(), away, back, notReady, readyAgain };
  } finally {
    await Promise.all([cached.stop(), issued.stop()]);
  }
}

/** 99th percentile of the samples' latencies, in ms. */
function p99(samples: readonly Sample[]): number {
  const sorted = samples.map((s) => s.at - s.sent).sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))] ?? 0;
}

/** Records the class's rows, then asserts. */
function judge(cls: string, o: Outage): void {
  const cachedFailures = o.cached.filter((s) => s.outcome !== '200');
  const cachedBefore = o.cached.filter((s) => s.at < o.away);
  const cachedAway = o.cached.filter((s) => s.sent >= o.away && s.sent <= o.back);
  // Issuance: 303 (and the new token works) before the fault and after readiness returned; 503 while away.
  const before = o.issued.filter((s) => s.at < o.away - 1000);
  const away = o.issued.filter((s) => s.sent >= o.notReady && s.at <= o.back);
  const after = o.issued.filter((s) => s.sent >= o.readyAgain);
  const issueFailures = before.filter((s) => s.outcome !== '303').length + away.filter((s) => s.outcome !== UNAVAILABLE).length
    + after.filter((s) => s.outcome !== '303').length;
  const slowest = Math.max(0, ...away.map((s) => s.at - s.sent));
  recordRow({
    cls: `faults: Redis ${cls}, cached credentials`,
    tried: o.cached.length,
    failures: cachedFailures.length,
    figure: `${cachedFailures.length} failures of ${o.cached.length} cached requests (${cachedAway.length} while Redis was away); p99 ${p99(cachedBefore)} ms before, ${p99(cachedAway)} ms away`,
  });
  recordRow({
    cls: `faults: Redis ${cls}, issuance`,
    tried: before.length + away.length + after.length,
    failures: issueFailures,
    figure: `away: ${JSON.stringify(tally(away))}, slowest ${slowest} ms; /readyz 503 after ${o.notReady - o.away} ms, 200 again ${o.readyAgain - o.back} ms after Redis was back; after: ${JSON.stringify(tally(after))}`,
  });
  expect(tally(cachedFailures)).toEqual({});
  expect(tally(before)).toEqual({ 303: before.length });
  expect(away.length).toBeGreaterThan(0);
  expect(tally(away)).toEqual({ [UNAVAILABLE]: away.length });
  expect(after.length).toBeGreaterThan(0);
  expect(tally(after)).toEqual({ 303: after.length });
  expect(slowest, 'a request meeting an absent Redis is answered within about the command timeout').toBeLessThan(3000);
  expect(gate.alive()).toBe(true);
}

describe('Redis faults under load', () => {
  it('stopped and restarted: cached credentials never fail, issuance 503 while it is down and 303 after, /readyz follows', async () => {
    // A persistent Redis restarts with its data: save it, as its own persistence would.
    expect(await redis.command('SAVE')).toMatch(/^\+OK/);
    judge('stopped and restarted', await outage(() => redis.stop(), () => redis.start()));
    // The tokens issued before the outage still work (the restarted Redis has them).
    for (const t of tokens.slice(0, 3)) expect(await cachedRequest(t)).toBe('200');
  });

  it('hung (SIGSTOP): cached credentials never fail, issuance 503 within the command timeout, /readyz follows', async () => {
    // Longer away: a request meeting a hung Redis waits for command timeouts before its 503.
    judge('hung', await outage(async () => { redis.pause(); }, async () => { redis.resume(); }, 2 * PHASE_MS));
  });

  it('afterwards: alive, nothing on stderr, fds back to baseline', async () => {
    await clients.close();
    clients = new Agent();
    const settled = await waitFor(() => gate.fds() <= baseline, 10_000, 100);
    const after = gate.fds();
    recordRow({
      cls: 'faults: Redis, after both outages',
      tried: 1,
      failures: settled && gate.alive() && gate.stderr() === '' ? 0 : 1,
      figure: `trackgate fds ${baseline} before → ${after} after`,
    });
    expect(gate.alive()).toBe(true);
    expect(gate.stderr()).toBe('');
    expect(after, `trackgate fds back to baseline (open now: ${JSON.stringify(gate.fdKinds())})`).toBeLessThanOrEqual(baseline);
  });
});
