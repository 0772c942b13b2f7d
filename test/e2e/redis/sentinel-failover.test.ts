/**
 * A Sentinel failover under load: one master, one replica, three sentinels (real processes), two trackgate
 * replicas on them, once with `waitReplicas: 1` and once with 0. The master is killed (SIGKILL) while both replicas issue tokens and
 * serve cached ones; the sentinels promote the replica and trackgate follows by itself. Every token a client
 * received, before, during and after the switch, works on both replicas afterwards; requests with cached
 * credentials never fail; what failed during the switch is counted (reported, bounded) and was 503 with
 * Retry-After and the typed error. The killed master is started again (empty) and rejoins as a replica, which
 * is what lets `waitReplicas: 1` writes through again; with 0 issuance is back once the replica is promoted,
 * and the writes it had not yet received are lost (counted).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRecordingUpstream, type RecordingUpstream } from '../../helpers/recording-upstream.js';
import { startSentinelSetup, type SentinelSetup } from '../../helpers/redis-sentinel.js';
import { DEMO, startTrackgate, type TestGate } from '../../helpers/trackgate.js';
import { sleep, waitFor } from '../../helpers/wait.js';

type Outcome = { ok: true; token: string } | { ok: false; status: number; retryAfter: string | null; error: string | undefined };

async function issue(g: TestGate): Promise<Outcome> {
  const res = await fetch(`${g.url}/rest/v2/token`, {
    method: 'POST', redirect: 'manual', body: new URLSearchParams({ key: DEMO.webServiceKey }).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded' }, signal: AbortSignal.timeout(5000),
  });
  if (res.status === 303) return { ok: true, token: new URLSearchParams(res.headers.get('location')!.split('?')[1]).get('_token')! };
  const body = await res.json().catch(() => ({})) as { error?: string };
  return { ok: false, status: res.status, retryAfter: res.headers.get('retry-after'), error: body.error };
}

async function gateway(g: TestGate, token: string): Promise<number> {
  return (await fetch(`${g.url}/rest/v2/gateway?_token=${encodeURIComponent(token)}`, { signal: AbortSignal.timeout(5000) })).status;
}

describe.each([1, 0])('Sentinel failover, waitReplicas %i', (waitReplicas) => {
  let setup: SentinelSetup;
  let up: RecordingUpstream;
  let gates: TestGate[];

  beforeAll(async () => {
    setup = await startSentinelSetup();
    up = await startRecordingUpstream();
    const config = {
      store: { url: setup.url, redis: { waitReplicas, waitTimeoutMs: 300 } },
      authn: { 'session_token': { enabled: true } },
      logging: { level: process.env.TG_TEST_LOG ?? 'warn' },
    };
    gates = [await startTrackgate({ upstreamUrl: up.url, config }), await startTrackgate({ upstreamUrl: up.url, config })];
    for (const g of gates) expect(await waitFor(async () => (await fetch(`${g.adminUrl}/readyz`)).status === 200, 10_000)).toBe(true);
  }, 60_000);
  afterAll(async () => {
    await Promise.all((gates ?? []).map((g) => g.close()));
    await up?.close();
    await setup?.close();
  });

  it('the master is killed under load: the replica is promoted, trackgate follows, issuance recovers by itself', async () => {
    const before: string[] = [];
    for (let i = 0; i < 20; i++) {
      const o = await issue(gates[i % 2]!);
      expect(o).toMatchObject({ ok: true });
      if (o.ok) before.push(o.token);
    }
    const cached = before[0]!;
    for (const g of gates) expect(await gateway(g, cached)).toBe(200);

    const oldMaster = setup.servers[0]!;
    expect(await setup.masterPort()).toBe(oldMaster.port);
    const readyBefore = await (await fetch(`${gates[0]!.adminUrl}/readyz`)).json() as { checks: { store: { redis: Record<string, unknown> } } };
    expect(readyBefore.checks.store.redis).toEqual({ mode: 'sentinel', masterReachable: true, master: `127.0.0.1:${oldMaster.port}`, replicas: 1, failovers: 0 });
    const issued: string[] = [];
    const failed: Outcome[] = [];
    let cachedFailures = 0;
    let requests = 0;
    let stop = false;
    let firstAfterPromotion: number | undefined;
    let promotedAt: number | undefined;
    // Bounded load: two issuers (one per replica) and a reader of the cached token, each one request at a time.
    const load = [0, 1].map(async (i) => {
      while (!stop) {
        requests++;
        const o = await issue(gates[i]!).catch((): Outcome => ({ ok: false, status: 0, retryAfter: null, error: 'network' }));
        if (o.ok) {
          issued.push(o.token);
          if (promotedAt !== undefined) firstAfterPromotion ??= Date.now();
        } else {
          failed.push(o);
          await sleep(50);
        }
      }
    });
    const reader = (async () => {
      while (!stop) {
        for (const g of gates) if (await gateway(g, cached).catch(() => 0) !== 200) cachedFailures++;
        await sleep(20);
      }
    })();
    await sleep(300);
    const killedAt = Date.now();
    await oldMaster.kill();
    const promoted = await waitFor(async () => (await setup.masterPort()) === setup.servers[1]!.port, 20_000, 100);
    expect(promoted).toBe(true);
    promotedAt = Date.now();
    // The old master comes back (empty, no persistence) once every sentinel names the new master: a sentinel
    // that still named the old one would send clients to an empty master (docs/configuration.md).
    expect(await waitFor(async () => (await setup.masterPorts()).every((p) => p === setup.servers[1]!.port), 20_000, 100)).toBe(true);
    await oldMaster.start();
    const issuedAtRecovery = issued.length;
    const recovered = await waitFor(() => issued.length >= issuedAtRecovery + 20, 40_000, 50);
    stop = true;
    await Promise.all([...load, reader]);
    // Not recovered: what the replicas last said about their store, to tell why.
    const why = recovered ? '' : gates.map((g) => g.logs.filter((l) => l.includes('"detail"')).slice(-1)).join(' | ');
    expect(why).toBe('');
    const recoveredAfterMs = (firstAfterPromotion ?? Date.now()) - killedAt;

    // Every token a client was given, read from the new master on both replicas (caches dropped).
    for (const g of gates) g.app.cache.clear();
    const lost: string[] = [];
    for (const [i, token] of [...before, ...issued].entries()) {
      if (await gateway(gates[i % 2]!, token) !== 200) lost.push(token);
    }

    // eslint-disable-next-line no-console
    console.log(`sentinel failover (waitReplicas ${waitReplicas}): promoted after ${promotedAt - killedAt} ms, `
      + `first token after ${recoveredAfterMs} ms; ${requests} issuance requests, ${issued.length} tokens issued, `
      + `${failed.length} failed (${JSON.stringify(countBy(failed))}), ${lost.length} issued tokens lost; cached-token failures: ${cachedFailures}`);

    expect(cachedFailures).toBe(0);
    // Every failure was the typed, retryable 503.
    for (const f of failed) expect(f).toMatchObject({ ok: false, status: 503, retryAfter: '1', error: 'TG_ERR_STORE_UNAVAILABLE' });
    // Failures are bounded by the switch: the two issuers back off 50 ms after each one.
    expect(failed.length).toBeLessThan(2 * (recoveredAfterMs / 50 + 10));
    if (waitReplicas === 1) {
      // Acknowledged by a replica before the client got it: the promoted replica has every token.
      expect(lost).toEqual([]);
      expect(recoveredAfterMs).toBeLessThan(40_000);
    } else {
      // Issuance is back as soon as the sentinels name the new master (no replica needed); the writes the old
      // master had not yet sent to its replica when it died are lost (reported above; on one host, usually none).
      expect(recoveredAfterMs - (promotedAt - killedAt)).toBeLessThan(5_000);
      expect(lost.length).toBeLessThanOrEqual(5);
    }
    // /readyz and the metrics tell of the new master and the switch.
    const newMaster = `127.0.0.1:${setup.servers[1]!.port}`;
    for (const g of gates) {
      const ready = await fetch(`${g.adminUrl}/readyz`);
      expect(ready.status).toBe(200);
      const { checks } = await ready.json() as { checks: { store: { redis: { master: string; failovers: number; masterReachable: boolean } } } };
      expect(checks.store.redis).toMatchObject({ mode: 'sentinel', masterReachable: true, master: newMaster });
      expect(checks.store.redis.failovers).toBeGreaterThanOrEqual(1);
      const metrics = await (await fetch(`${g.adminUrl}/metrics`)).text();
      expect(metrics).toMatch(/^trackgate_store_redis_master_up\{mode="sentinel"\} 1$/m);
      expect(Number(/^trackgate_store_redis_failovers_total\{mode="sentinel"\} (\d+)$/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(1);
    }
  }, 120_000);
});

function countBy(failed: Outcome[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const f of failed) {
    const k = f.ok ? 'ok' : `${f.status} ${f.error ?? ''}`.trim();
    out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}
