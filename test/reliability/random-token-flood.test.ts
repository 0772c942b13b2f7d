/**
 * Reliability, floods: random tokens against a real trackgate process with a small validation cache
 * (issue 13, item 4). Legitimate clients loop over cached credentials (one Basic user, session tokens as
 * cookie and `_token`) while a flood of distinct random tokens (cookie, `_token`, Bearer), 80× `cache.maxEntries`,
 * runs alongside. Asserted: every flood request is a 401; no legitimate request misses the cache (the
 * rejections have their own bound and never evict a validated credential, so nobody pays a password hash again);
 * legitimate p99 during the flood ≤ 3× the p99 without it + 20 ms (a Basic user pushed out costs a ~50 ms scrypt
 * on each return, which a p99 over 31 credentials would show); trackgate's RSS grows by at most 48 MiB. The p99
 * without the flood is the higher of the loop's p99 just before and just after it: on a shared machine the load
 * of other work changes over a run, and bracketing the flood in time keeps that out of the ratio.
 *
 * Second case, the same loop while valid tokens anyone can mint (Geoloqi `create_anon`: an anonymous user and a
 * token per request, 10× `cache.maxEntries`) are each used once: no legitimate request misses the cache
 * (frequency admission keeps one-off credentials from taking a regular's place).
 */
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lookupDigest } from '../../src/accounts/digest-token.js';
import { openStore } from '../../src/store/open.js';
import { startCluster, type ClusterProc } from '../helpers/cluster-process.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { basicAuth, DEMO, DEMO_ACCOUNTS } from '../helpers/trackgate.js';
import { metric } from '../helpers/metrics.js';
import { recordRow } from './record.js';

const MAX_ENTRIES = 100;
const MAX_NEGATIVE = 50;
const FLOOD = 8000;
// As many connections as the legitimate clients: one event loop serves both in turn, so the flood's queueing
// alone stays within the stated p99 bound (about 2× when trackgate is the bottleneck); what the bound is there
// to catch is a legitimate request paying a verification (a ~50 ms scrypt for the Basic user).
const FLOOD_CONNECTIONS = 4;
const LEGIT_CLIENTS = 4;
const BASELINE_PER_CLIENT = 150;
const SESSION_TOKENS = 30;
const MINTED = 1000;
const MINT_BATCH = 125;
const MINT_CONNECTIONS = 4;
const RSS_GROWTH_MIB = 48;
const PATH = '/rest/v2/devices';

let up: RecordingUpstream;
let tg: ClusterProc;
let dir: string;
const tokens: string[] = [];

beforeAll(async () => {
  up = await startRecordingUpstream();
  dir = mkdtempSync(join(tmpdir(), 'trackgate-flood-'));
  copyFileSync(DEMO_ACCOUNTS, join(dir, 'accounts.yaml'));
  const storeUrl = `sqlite:${join(dir, 'store.sqlite')}`;
  // Session tokens go into the store before trackgate opens it, as the token endpoint would have put them.
  const store = await openStore({ url: storeUrl });
  const now = Date.now();
  for (let i = 0; i < SESSION_TOKENS; i++) {
    const token = randomBytes(24).toString('base64url');
    await store.putToken({
      digest: lookupDigest(token), type: 'session', issuer: 'gps-rest-v2', subject: DEMO.user, kind: 'user',
      account: 'demo-account', issuedAt: now, expiresAt: now + 3_600_000,
    });
    tokens.push(token);
  }
  await store.close();
  tg = await startCluster({
    dir, name: 'flood',
    config: {
      listen: '127.0.0.1:0', admin: { listen: '127.0.0.1:0' }, upstream: { url: up.url }, store: { url: storeUrl },
      accountsFile: 'accounts.yaml', identity: { issuer: 'trackgate-test', audience: 'upstream-test' },
      logging: { level: 'info', access: false }, watch: false,
      cache: { maxEntries: MAX_ENTRIES, maxNegativeEntries: MAX_NEGATIVE },
      authn: { session_token: { enabled: true }, bearer: { enabled: true } },
    },
  });
});
afterAll(async () => {
  tg?.kill();
  await tg?.exited;
  await up?.close();
  rmSync(dir, { recursive: true, force: true });
});

const rssMiB = (pid: number): number => Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
const hits = (): Promise<number> => metric(tg.admin, 'trackgate_validation_cache_events_total', { event: 'hit' });

function p99(ms: number[]): number {
  const sorted = [...ms].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.99) - 1)]!;
}

type Req = { path: string; headers: Record<string, string> };

/** Sends one request; its status and how long the answer took (ms). */
async function send(pool: Pool, req: Req): Promise<{ status: number; ms: number }> {
  const t0 = performance.now();
  const res = await pool.request({ method: 'GET', ...req });
  await res.body.dump();
  return { status: res.statusCode, ms: performance.now() - t0 };
}

/**
 * The legitimate clients: one Basic user and the session tokens (cookie, `_token`), LEGIT_CLIENTS at a time,
 * each request's status and latency kept.
 */
class LegitimateClients {
  readonly requests: Req[];
  readonly statuses: number[] = [];
  readonly #pool: Pool;

  constructor(pool: Pool) {
    this.#pool = pool;
    this.requests = [
      { path: PATH, headers: { authorization: basicAuth(DEMO.user, DEMO.password) } },
      ...tokens.map((t, i): Req => (i % 2 === 0 ? { path: PATH, headers: { cookie: `token=${t}` } } : { path: `${PATH}?_token=${t}`, headers: {} })),
    ];
  }

  /** Loops until `keepGoing(n)` is false for each client; the latencies (ms). */
  async run(keepGoing: (n: number) => boolean): Promise<number[]> {
    const ms: number[] = [];
    await Promise.all(Array.from({ length: LEGIT_CLIENTS }, async (_, client) => {
      for (let n = 0; keepGoing(n); n++) {
        const r = await send(this.#pool, this.requests[(client + n * LEGIT_CLIENTS) % this.requests.length]!);
        this.statuses.push(r.status);
        ms.push(r.ms);
      }
    }));
    return ms;
  }

  baseline(): Promise<number[]> { return this.run((n) => n < BASELINE_PER_CLIENT); }

  get failed(): number { return this.statuses.filter((s) => s !== 200).length; }
}

/** Runs `attack` while the legitimate clients loop; their latencies, and how many of them missed the cache. */
async function alongside(legit: LegitimateClients, attack: () => Promise<void>): Promise<{ during: number[]; missed: number; seconds: number }> {
  const hitsBefore = await hits();
  let attacking = true;
  const t0 = performance.now();
  const attacked = attack().finally(() => { attacking = false; });
  const during = legit.run(() => attacking);
  await attacked;
  const seconds = (performance.now() - t0) / 1000;
  const ms = await during;
  // Attack requests never hit (each token is new), so every hit since is a legitimate request's.
  return { during: ms, missed: ms.length - (await hits() - hitsBefore), seconds };
}

describe('floods: random tokens', () => {
  let legitPool: Pool;
  let legit: LegitimateClients;
  beforeAll(async () => {
    legitPool = new Pool(tg.proxy, { connections: LEGIT_CLIENTS });
    legit = new LegitimateClients(legitPool);
    // Warm: one verification per credential, and a second use (a regular, not a one-off).
    for (let n = 0; n < 2; n++) for (const r of legit.requests) expect((await send(legitPool, r)).status).toBe(200);
  });
  afterAll(async () => { await legitPool?.close(); });

  it(`${FLOOD} random cookie/_token/Bearer tokens (${FLOOD / MAX_ENTRIES}× cache.maxEntries): legitimate cached users keep hitting the cache`, async () => {
    const floodPool = new Pool(tg.proxy, { connections: FLOOD_CONNECTIONS });
    try {
      const before = await legit.baseline();
      const pid = tg.child.pid!;
      const rssBefore = rssMiB(pid);
      let rssPeak = rssBefore;
      const sampler = setInterval(() => { rssPeak = Math.max(rssPeak, rssMiB(pid)); }, 100);

      const carriers = [
        (t: string): Req => ({ path: PATH, headers: { cookie: `token=${t}` } }),
        (t: string): Req => ({ path: `${PATH}?_token=${t}`, headers: {} }),
        (t: string): Req => ({ path: PATH, headers: { authorization: `Bearer ${t}` } }),
      ];
      let sent = 0;
      let notRejected = 0;
      const { during, missed, seconds } = await alongside(legit, async () => {
        await Promise.all(Array.from({ length: FLOOD_CONNECTIONS }, async () => {
          while (sent < FLOOD) {
            const i = sent++;
            if ((await send(floodPool, carriers[i % 3]!(randomBytes(24).toString('base64url')))).status !== 401) notRejected++;
          }
        }));
      });
      clearInterval(sampler);
      rssPeak = Math.max(rssPeak, rssMiB(pid));
      const after = await legit.baseline();

      const evicted = await metric(tg.admin, 'trackgate_validation_cache_events_total', { event: 'evict' });
      const negatives = await metric(tg.admin, 'trackgate_validation_cache_negative_entries');
      const basicVerified = await metric(tg.admin, 'trackgate_auth_duration_seconds_count', { scheme: 'basic', cache: 'miss' });
      const [p99Before, p99After, p99During] = [p99(before), p99(after), p99(during)];
      const p99Bound = 3 * Math.max(p99Before, p99After) + 20;
      const rssGrowth = rssPeak - rssBefore;

      recordRow({ cls: 'floods: random tokens, flood rejected', tried: sent, failures: notRejected,
        figure: `${sent} random cookie/_token/Bearer tokens at ${(sent / seconds).toFixed(0)} req/s; ${negatives} rejections cached (bound ${MAX_NEGATIVE})` });
      recordRow({ cls: 'floods: random tokens, legitimate cache misses', tried: during.length, failures: missed + legit.failed,
        figure: `${missed} of ${during.length} legitimate requests missed the cache; ${evicted} credentials evicted` });
      recordRow({ cls: 'floods: random tokens, legitimate p99', tried: during.length, failures: p99During <= p99Bound ? 0 : 1,
        figure: `p99 ${p99During.toFixed(1)} ms during vs ${p99Before.toFixed(1)} before, ${p99After.toFixed(1)} after (bound 3× + 20 ms = ${p99Bound.toFixed(1)} ms)` });
      recordRow({ cls: 'floods: random tokens, RSS', tried: 1, failures: rssGrowth <= RSS_GROWTH_MIB ? 0 : 1,
        figure: `RSS ${rssBefore.toFixed(0)} → peak ${rssPeak.toFixed(0)} MiB (+${rssGrowth.toFixed(0)}, bound +${RSS_GROWTH_MIB})` });

      expect(sent).toBe(FLOOD);
      expect(notRejected).toBe(0);
      expect(legit.failed).toBe(0);
      expect(during.length).toBeGreaterThan(100);
      expect(missed).toBe(0);
      expect(evicted).toBe(0);
      expect(basicVerified).toBe(1); // the warm-up's, and never again
      expect(negatives).toBeLessThanOrEqual(MAX_NEGATIVE);
      expect(p99During).toBeLessThanOrEqual(p99Bound);
      expect(rssGrowth).toBeLessThanOrEqual(RSS_GROWTH_MIB);
    } finally {
      await floodPool.close();
    }
  });

  it(`${MINTED} anonymous users minted in a loop, each token used once (${MINTED / MAX_ENTRIES}× cache.maxEntries): legitimate users keep hitting the cache`, async () => {
    const mintPool = new Pool(tg.proxy, { connections: MINT_CONNECTIONS });
    const basicMisses = (): Promise<number> => metric(tg.admin, 'trackgate_auth_duration_seconds_count', { scheme: 'basic', cache: 'miss' });
    try {
      const [hitsBefore, basicBefore] = [await hits(), await basicMisses()];
      const t0 = performance.now();
      let minted = 0;
      let failed = 0;
      let legitSent = 0;
      // The legitimate users come back after every MINT_BATCH minted tokens: more than the cache has room for
      // besides them, so under plain LRU every one of them would have been pushed out by then.
      while (minted < MINTED) {
        const batchEnd = minted + MINT_BATCH;
        await Promise.all(Array.from({ length: MINT_CONNECTIONS }, async () => {
          while (minted < batchEnd) {
            minted++;
            const res = await mintPool.request({ method: 'POST', path: '/1/user/create_anon', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ client_id: DEMO.clientId }) });
            const { access_token: token } = await res.body.json() as { access_token: string };
            if ((await send(mintPool, { path: PATH, headers: { authorization: `Bearer ${token}` } })).status !== 200) failed++;
          }
        }));
        legitSent += (await legit.run((n) => n < Math.ceil(legit.requests.length / LEGIT_CLIENTS))).length;
      }
      const seconds = (performance.now() - t0) / 1000;
      // Minted tokens are used once and never hit: every hit since is a legitimate request's.
      const missed = legitSent - (await hits() - hitsBefore);
      const basicVerified = await basicMisses() - basicBefore;
      const refused = await metric(tg.admin, 'trackgate_validation_cache_events_total', { event: 'not_admitted' });

      recordRow({ cls: 'floods: minted valid tokens, legitimate cache misses', tried: legitSent, failures: missed + legit.failed,
        figure: `${missed} of ${legitSent} legitimate requests missed the cache while ${minted} anonymous tokens were minted and used once (${(minted / seconds).toFixed(0)}/s); ${refused} not admitted` });

      expect(failed).toBe(0);
      expect(legit.failed).toBe(0);
      expect(missed).toBe(0);
      expect(basicVerified).toBe(0);
    } finally {
      await mintPool.close();
    }
  });
});
