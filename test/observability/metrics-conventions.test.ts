/**
 * The metrics follow Prometheus's naming conventions and report what issue 15 asks for: Node's process
 * metrics under their standard names, trackgate_build_info, counters as counters, the reload state and time,
 * store health and latency, readiness and its changes, the signing key's age and the memory limit — read
 * from a real trackgate's admin port (injected clock where time matters).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { totalmem } from 'node:os';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Metrics } from '../../src/observability/metrics.js';
import { generateJwks } from '../../src/identity/keys.js';
import { lookupDigest } from '../../src/accounts/digest-token.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { basicAuth, DEMO, startTrackgate, type TestGate } from '../helpers/trackgate.js';
import { metricIn } from '../helpers/metrics.js';
import { waitFor } from '../helpers/wait.js';

const scrape = async (g: TestGate): Promise<string> => (await fetch(`${g.adminUrl}/metrics`)).text();
const typeOf = (text: string, name: string): string | undefined => new RegExp(`^# TYPE ${name} (\\w+)$`, 'm').exec(text)?.[1];

let up: RecordingUpstream;
beforeAll(async () => { up = await startRecordingUpstream(); });
afterAll(async () => { await up.close(); });

describe('names and types', () => {
  it('Node\'s process metrics carry their standard names, without a trackgate_ prefix', async () => {
    const text = await new Metrics().registry.metrics();
    for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'process_start_time_seconds',
      'nodejs_heap_size_used_bytes', 'nodejs_eventloop_lag_p99_seconds', 'nodejs_gc_duration_seconds', 'nodejs_version_info']) {
      expect(typeOf(text, name), name).toBeDefined();
    }
    expect(text).not.toMatch(/^# TYPE trackgate_(process|nodejs)_/m);
  });

  it('every trackgate counter ends in _total and nothing else does; durations are histograms in seconds', async () => {
    const families = (await new Metrics({ defaultMetrics: false }).registry.getMetricsAsJSON()).map((m) => ({ name: m.name, type: String(m.type) }));
    expect(families.length).toBeGreaterThan(25);
    for (const { name, type } of families) {
      expect(name, name).toMatch(/^trackgate_[a-z_]+$/);
      expect(name.endsWith('_total'), `${name} is a ${type}`).toBe(type === 'counter');
      if (name.includes('duration')) expect([name, type]).toEqual([expect.stringMatching(/_seconds$/), 'histogram']);
    }
    expect(families).toContainEqual({ name: 'trackgate_validation_cache_evictions_total', type: 'counter' });
    expect(families.map((f) => f.name)).not.toContain('trackgate_validation_cache_evictions');
  });
});

describe('through a running trackgate', () => {
  const started = Date.parse('2026-06-01T00:00:00Z');
  let now = started;
  let gate: TestGate;
  const published = Date.parse('2026-02-01T00:00:00Z');
  beforeAll(async () => {
    const jwks = generateJwks('EdDSA');
    jwks.keys[0]!.published_at = new Date(published).toISOString();
    gate = await startTrackgate({
      upstreamUrl: up.url, now: () => now,
      config: { identity: { keysFile: 'keys.json' }, cache: { maxEntries: 2, maxNegativeEntries: 1 } },
      files: { 'keys.json': JSON.stringify(jwks) },
    });
  });
  afterAll(async () => { await gate.close(); });

  it('trackgate_build_info names the package version and Node\'s', async () => {
    const version = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
    const text = await scrape(gate);
    expect(text).toContain(`trackgate_build_info{version="${version}",node="${process.versions.node}"} 1`);
  });

  it('the signing key\'s age counts from its published_at stamp, on the app\'s clock', async () => {
    const kid = gate.app.minter.signingKid;
    expect(metricIn(await scrape(gate), 'trackgate_identity_signing_key_age_seconds', { kid })).toBe((now - published) / 1000);
    now += 86_400_000;
    expect(metricIn(await scrape(gate), 'trackgate_identity_signing_key_age_seconds', { kid })).toBe((now - published) / 1000);
  });

  it('the reload gauges: 1 and the start time; a rejected reload turns 0 and keeps the time; a good one sets both', async () => {
    let text = await scrape(gate);
    expect(metricIn(text, 'trackgate_config_last_reload_successful')).toBe(1);
    expect(metricIn(text, 'trackgate_config_last_reload_success_timestamp_seconds')).toBe(started / 1000);
    const good = readFileSync(gate.configFile, 'utf8');
    now += 60_000;
    writeFileSync(gate.configFile, 'listen: [not a host:port\n');
    expect(gate.app.reload()).toBe(false);
    text = await scrape(gate);
    expect(metricIn(text, 'trackgate_config_last_reload_successful')).toBe(0);
    expect(metricIn(text, 'trackgate_config_last_reload_success_timestamp_seconds')).toBe(started / 1000);
    expect(metricIn(text, 'trackgate_config_reloads_total', { result: 'error' })).toBe(1);
    now += 60_000;
    writeFileSync(gate.configFile, good);
    expect(gate.app.reload()).toBe(true);
    text = await scrape(gate);
    expect(metricIn(text, 'trackgate_config_last_reload_successful')).toBe(1);
    expect(metricIn(text, 'trackgate_config_last_reload_success_timestamp_seconds')).toBe(now / 1000);
  });

  it('evictions are a counter equal to the cache\'s eviction events', async () => {
    // One rejection kept (cache.maxNegativeEntries 1): each further unknown user evicts the one before.
    for (const user of ['a', 'b', 'c', 'd', 'e']) {
      const r = await fetch(`${gate.url}/evict`, { headers: { authorization: basicAuth(`nobody-${user}`, 'wrong') } });
      await r.arrayBuffer();
    }
    const text = await scrape(gate);
    expect(typeOf(text, 'trackgate_validation_cache_evictions_total')).toBe('counter');
    const evictions = metricIn(text, 'trackgate_validation_cache_evictions_total');
    expect(evictions).toBeGreaterThan(0);
    expect(evictions).toBe(metricIn(text, 'trackgate_validation_cache_events_total', { event: 'evict' })
      + metricIn(text, 'trackgate_validation_cache_events_total', { event: 'negative_evict' }));
  });

  it('store operations are timed by op, and the store is up', async () => {
    await gate.app.store.getToken('no-such-digest');
    const text = await scrape(gate);
    expect(metricIn(text, 'trackgate_store_up')).toBe(1);
    expect(metricIn(text, 'trackgate_store_duration_seconds_count', { op: 'get_token' })).toBeGreaterThanOrEqual(1);
    // Each scrape pings the store: the ping is timed too.
    expect(metricIn(text, 'trackgate_store_duration_seconds_count', { op: 'ping' })).toBeGreaterThanOrEqual(1);
    expect(typeOf(text, 'trackgate_store_duration_seconds')).toBe('histogram');
  });

  it('stored tokens are counted by issuing dialect: issued, refreshed, revoked', async () => {
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    const login = await fetch(`${gate.url}/auth/password`, { method: 'POST', headers: form, body: new URLSearchParams({ username: DEMO.user, password: DEMO.password }).toString() });
    expect(login.status).toBe(200);
    const pair = await login.json() as { access_token: string; refresh_token: string };
    const refreshed = await fetch(`${gate.url}/auth/refresh`, { method: 'POST', headers: form, body: new URLSearchParams({ refresh_token: pair.refresh_token }).toString() });
    expect(refreshed.status).toBe(200);
    await refreshed.arrayBuffer();
    expect(await gate.app.store.revokeTokens([lookupDigest(pair.access_token)], now)).toBe(1);
    const count = async (event: string): Promise<number> => metricIn(await scrape(gate), 'trackgate_tokens_total', { dialect: 'oauth2_password', event });
    // Refreshes and revocations are attributed after the fact, from the records: wait for them.
    expect(await waitFor(async () => (await count('revoked')) === 1 && (await count('refreshed')) === 1, 3000)).toBe(true);
    expect(await count('issued')).toBe(4); // two pairs
  });

  it('the memory limit is positive and at most the machine\'s memory', async () => {
    const limit = metricIn(await scrape(gate), 'trackgate_memory_limit_bytes');
    expect(limit).toBeGreaterThan(0);
    expect(limit).toBeLessThanOrEqual(totalmem());
  });
});

describe('store down and readiness', () => {
  it('trackgate_store_up turns 0 when the store stops answering; trackgate_ready follows /readyz and counts its changes', async () => {
    const own = createServer((_req, res) => res.end('ok'));
    await new Promise<void>((r) => own.listen(0, '127.0.0.1', () => r()));
    const g = await startTrackgate({ upstreamUrl: `http://127.0.0.1:${(own.address() as AddressInfo).port}` });
    try {
      let text = await scrape(g);
      expect(metricIn(text, 'trackgate_ready')).toBe(0); // no readiness check yet
      expect((await fetch(`${g.adminUrl}/readyz`)).status).toBe(200);
      text = await scrape(g);
      expect(metricIn(text, 'trackgate_ready')).toBe(1);
      expect(metricIn(text, 'trackgate_readiness_changes_total')).toBe(0);
      own.closeAllConnections();
      await new Promise<void>((r) => own.close(() => r()));
      // The upstream probe's answer is cached briefly: poll /readyz as the kubelet would.
      expect(await waitFor(async () => (await fetch(`${g.adminUrl}/readyz`)).status === 503, 4000, 100)).toBe(true);
      text = await scrape(g);
      expect(metricIn(text, 'trackgate_ready')).toBe(0);
      expect(metricIn(text, 'trackgate_readiness_changes_total')).toBe(1);
      expect(metricIn(text, 'trackgate_store_up')).toBe(1);
      // The SQLite file closed under the app: the store no longer answers its ping.
      await (g.app.store as unknown as { inner: { close(): Promise<void> } }).inner.close();
      text = await scrape(g);
      expect(metricIn(text, 'trackgate_store_up')).toBe(0);
    } finally {
      await g.close();
      if (own.listening) await new Promise<void>((r) => own.close(() => r()));
    }
  });
});

