import { describe, expect, it } from 'vitest';
import client from 'prom-client';
import { FastHistogram } from '../../src/observability/histogram.js';

function make(registry = new client.Registry()) {
  const h = new FastHistogram({ name: 'x_seconds', help: 'help text', labelNames: ['a', 'b'] as const, buckets: [0.1, 1], registers: [registry] });
  return { registry, h };
}

describe('FastHistogram', () => {
  it('exposes cumulative buckets, +Inf, sum and count per label set in the Prometheus text format', async () => {
    const { registry, h } = make();
    const s = h.series('p', 'q');
    for (const v of [0.05, 0.1, 0.5, 2]) s.observe(v);
    h.series('r', 's').observe(1);
    const text = await registry.metrics();
    expect(text).toContain('# TYPE x_seconds histogram');
    expect(text).toContain('# HELP x_seconds help text');
    expect(text).toContain('x_seconds_bucket{le="0.1",a="p",b="q"} 2'); // 0.1 falls in its own bucket (le)
    expect(text).toContain('x_seconds_bucket{le="1",a="p",b="q"} 3');
    expect(text).toContain('x_seconds_bucket{le="+Inf",a="p",b="q"} 4');
    expect(text).toContain('x_seconds_sum{a="p",b="q"} 2.65');
    expect(text).toContain('x_seconds_count{a="p",b="q"} 4');
    expect(text).toContain('x_seconds_bucket{le="0.1",a="r",b="s"} 0');
    expect(text).toContain('x_seconds_count{a="r",b="s"} 1');
  });

  it('binds one series per label set, and reset zeroes in place (bound series keep counting)', async () => {
    const { registry, h } = make();
    const s = h.series('p', 'q');
    expect(h.series('p', 'q')).toBe(s);
    s.observe(0.2);
    registry.resetMetrics();
    expect(await registry.metrics()).toContain('x_seconds_count{a="p",b="q"} 0');
    s.observe(0.2);
    expect(await registry.metrics()).toContain('x_seconds_count{a="p",b="q"} 1');
  });

  it('sums across registries the way the cluster primary aggregates workers', async () => {
    const one = make();
    const two = make();
    one.h.series('p', 'q').observe(0.05);
    two.h.series('p', 'q').observe(0.5);
    two.h.series('p', 'q').observe(5);
    const merged = client.AggregatorRegistry.aggregate([await one.registry.getMetricsAsJSON(), await two.registry.getMetricsAsJSON()] as never);
    const text = await merged.metrics();
    expect(text).toContain('x_seconds_bucket{le="0.1",a="p",b="q"} 1');
    expect(text).toContain('x_seconds_bucket{le="1",a="p",b="q"} 2');
    expect(text).toContain('x_seconds_count{a="p",b="q"} 3');
  });

  it('refuses unsorted buckets and a wrong number of label values', () => {
    expect(() => new FastHistogram({ name: 'y', help: 'h', labelNames: [], buckets: [1, 0.5], registers: [] })).toThrow(/ascending/);
    expect(() => make().h.series('only-one')).toThrow(/2 label values/);
  });
});
