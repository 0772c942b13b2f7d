/**
 * The Grafana dashboard (monitoring/trackgate-dashboard.json): importable as it is (a Prometheus data-source
 * variable, no fixed data source), a current schema, every panel asking only for metrics trackgate exports, and the
 * same JSON in the ConfigMap the monitoring component renders (the real `kubectl kustomize`). That every query
 * returns data from a real Prometheus scraping a real trackgate is test/e2e/prometheus-scrape.test.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { byKind, composed, kustomize } from '../deploy/k8s-build.js';
import { dashboard, dashboardExpressions, documentedMetrics, familyOf, metricNames, read, DASHBOARD_FILE } from './expressions.js';

const d = dashboard();

describe('monitoring/trackgate-dashboard.json', () => {
  it('has a current schema, a uid and a Prometheus data-source variable', () => {
    // Grafana 12's classic dashboard model (its migrations end at 42).
    expect(d.schemaVersion).toBeGreaterThanOrEqual(41);
    expect(d.uid).toBe('trackgate');
    const variable = d.templating.list.find((v) => v.name === 'datasource');
    expect(variable).toMatchObject({ type: 'datasource', query: 'prometheus' });
  });

  it('reads every panel and query from the ${datasource} variable, never a data source of one Grafana', () => {
    const queries = d.panels.filter((p) => p.type !== 'row');
    expect(queries.length).toBeGreaterThan(20);
    for (const p of queries) {
      expect(p.datasource, p.title).toEqual({ type: 'prometheus', uid: '${datasource}' });
      expect(p.targets?.length, p.title).toBeGreaterThan(0);
      for (const t of p.targets!) expect(t.datasource, `${p.title} ${t.refId}`).toEqual({ type: 'prometheus', uid: '${datasource}' });
    }
    expect(read(DASHBOARD_FILE)).not.toMatch(/"uid": "(?!\$\{datasource\}|trackgate|-- Grafana --)/);
  });

  it('has a unique id per panel and a refId per query', () => {
    const ids = d.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of d.panels) {
      const refs = (p.targets ?? []).map((t) => t.refId);
      expect(new Set(refs).size, p.title).toBe(refs.length);
    }
  });

  it('covers what issue 15 asks for', () => {
    const read = (title: string): string => {
      const panel = d.panels.find((p) => p.title === title);
      expect(panel, title).toBeDefined();
      return panel!.targets!.map((t) => t.expr).join('\n');
    };
    expect(read('Requests by scheme')).toMatch(/sum by \(scheme\) \(rate\(trackgate_requests_total/);
    expect(read('Authentication latency by scheme')).toMatch(/sum by \(scheme, le\).*trackgate_auth_duration_seconds_bucket/);
    expect(read('Authentication outcomes by reason')).toMatch(/by \(result, reason\).*trackgate_auth_attempts_total/);
    expect(read('Validation-cache hit ratio')).toContain('event="hit"');
    expect(read('Upstream latency')).toContain('trackgate_upstream_duration_seconds_bucket');
    expect(read('Upstream errors')).toMatch(/trackgate_upstream_errors_total[\s\S]*status_class="5xx"/);
    expect(read('Tokens by dialect')).toMatch(/by \(dialect, event\).*trackgate_tokens_total/);
    expect(read('Throttling')).toContain('reason="throttled"');
    expect(read('Store up')).toContain('trackgate_store_up');
    expect(read('Store latency by operation')).toMatch(/by \(op, le\).*trackgate_store_duration_seconds_bucket/);
    expect(read('Config reloads')).toContain('trackgate_config_reloads_total');
    expect(read('Redis master and replicas')).toMatch(/trackgate_store_redis_master_up[\s\S]*trackgate_store_redis_replicas/);
    expect(read('Redis failovers')).toContain('increase(trackgate_store_redis_failovers_total');
    expect(read('Signing key age')).toContain('trackgate_identity_signing_key_age_seconds');
    expect(read('Event-loop lag')).toContain('nodejs_eventloop_lag_p99_seconds');
    expect(read('Memory: resident vs limit')).toMatch(/process_resident_memory_bytes[\s\S]*trackgate_memory_limit_bytes/);
    expect(read('Garbage collection')).toContain('nodejs_gc_duration_seconds_sum');
  });

  it('names only metrics in the metrics reference (docs/metrics.md), filtered by the $job and $instance variables', () => {
    const documented = documentedMetrics();
    const names = new Set<string>();
    for (const { name, expr } of dashboardExpressions(d)) {
      for (const m of metricNames(expr)) {
        expect(documented.has(m) || documented.has(familyOf(m)), `${name}: ${m}`).toBe(true);
        names.add(familyOf(m));
      }
      for (const selector of expr.matchAll(/\b(?:trackgate|process|nodejs)_[a-z0-9_]+\{([^}]*)\}/g)) {
        expect(selector[1], name).toMatch(/^job=~"\$job", instance=~"\$instance"/);
      }
    }
    expect(names.size).toBeGreaterThan(25);
  });
});

describe('the dashboard ConfigMap of k8s/components/monitoring', () => {
  const parent = mkdtempSync(join(tmpdir(), 'trackgate-dashboard-'));
  afterAll(() => rmSync(parent, { recursive: true, force: true }));

  it('carries the dashboard byte for byte (regenerate with `node monitoring/render-k8s.mjs`)', () => {
    expect(read('k8s/components/monitoring/trackgate-dashboard.json')).toBe(read(DASHBOARD_FILE));
  });

  it('is generated with the label Grafana\'s dashboard sidecar looks for, and no hash suffix', () => {
    const objects = kustomize(composed(parent, 'single+monitoring', 'overlays/single', ['components/monitoring']).dir);
    const map = byKind(objects, 'ConfigMap', 'trackgate-grafana-dashboard');
    expect((map.metadata as { labels?: Record<string, string> }).labels).toMatchObject({ grafana_dashboard: '1' });
    expect(JSON.parse(map.data['trackgate.json'] as string)).toEqual(d);
  });
});
