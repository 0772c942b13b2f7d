/**
 * `workers` > 1: the primary's /metrics merges the workers' registries (src/cluster/metrics.ts). Two real
 * Metrics registries answer over real IpcChannels wired back to back, as a worker answers the primary:
 * counters and histograms sum, the state gauges take the worst worker, build info is listed once, and the
 * primary's own process metrics join under their standard names.
 */
import { describe, expect, it } from 'vitest';
import { IpcChannel } from '../../src/cluster/ipc.js';
import { PrimaryMetrics } from '../../src/cluster/metrics.js';
import { METHOD } from '../../src/cluster/protocol.js';
import { Metrics } from '../../src/observability/metrics.js';
import { metricIn } from '../helpers/metrics.js';

/** A primary-side channel to a worker whose registry is `m`'s (messages cloned, as IPC serialises them). */
function workerChannel(m: Metrics): IpcChannel {
  let primary: IpcChannel | undefined;
  const worker: IpcChannel = new IpcChannel((msg) => { queueMicrotask(() => primary!.receive(structuredClone(msg))); });
  worker.handle(METHOD.metrics, () => m.registry.getMetricsAsJSON());
  primary = new IpcChannel((msg) => { queueMicrotask(() => worker.receive(structuredClone(msg))); });
  return primary;
}

describe('cluster primary /metrics', () => {
  it('sums counters and histograms, takes the worst worker\'s state and lists build info once', async () => {
    const now = Date.parse('2026-06-01T00:00:00Z');
    const a = new Metrics({ defaultMetrics: false, now: () => now });
    const b = new Metrics({ defaultMetrics: false, now: () => now + 5000 });
    for (const m of [a, b]) {
      m.request('basic', 'forwarded', 200);
      m.storeTime('get_token', 0.002);
      m.observeCache({ size: 10, negativeSize: 1, bytes: 100, evictions: 3 });
    }
    a.request('basic', 'forwarded', 200);
    a.readiness(true, true);
    b.readiness(false, false); // b's store is down
    b.configReload('error');
    a.observeSigningKey(() => ({ kid: 'k1', publishedAt: now - 10_000 }));
    b.observeSigningKey(() => ({ kid: 'k1', publishedAt: now - 10_000 }));

    const primary = new PrimaryMetrics(() => [workerChannel(a), workerChannel(b)]);
    const text = await primary.metrics();
    const v = (name: string, labels: Record<string, string> = {}): number => metricIn(text, name, labels);
    expect(v('trackgate_requests_total', { scheme: 'basic', outcome: 'forwarded', status_class: '2xx' })).toBe(3);
    expect(v('trackgate_store_duration_seconds_count', { op: 'get_token' })).toBe(2);
    expect(v('trackgate_validation_cache_evictions_total')).toBe(6);
    expect(v('trackgate_validation_cache_entries')).toBe(20);
    expect(v('trackgate_store_up')).toBe(0);
    expect(v('trackgate_ready')).toBe(0);
    expect(v('trackgate_config_last_reload_successful')).toBe(0);
    expect(v('trackgate_config_last_reload_success_timestamp_seconds')).toBe(now / 1000);
    // b's clock runs 5 s ahead: the older key age wins.
    expect(v('trackgate_identity_signing_key_age_seconds', { kid: 'k1' })).toBe(15);
    expect(text.match(/^trackgate_build_info\{/gm)).toHaveLength(1);
    expect(v('trackgate_build_info')).toBe(1);
    expect(v('trackgate_memory_limit_bytes')).toBe(metricIn(await a.registry.metrics(), 'trackgate_memory_limit_bytes'));
    expect(v('trackgate_workers')).toBe(2);
    // The primary's own process, under the standard names.
    expect(text).toMatch(/^# TYPE process_resident_memory_bytes gauge$/m);
    expect(text).toMatch(/^# TYPE nodejs_heap_size_used_bytes gauge$/m);
    expect(text).not.toMatch(/^# TYPE trackgate_(process|nodejs)_/m);
  });
});
