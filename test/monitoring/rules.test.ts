/**
 * The alert rules, checked by the real promtool (installed by .ci/run with Debian's `prometheus`): the rule file
 * parses, its unit tests pass, every alert is unit-tested both ways, names only metrics trackgate exports, links
 * a runbook section that exists, and the PrometheusRule carries the same groups.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { documentedMetrics, familyOf, metricNames, read, rules as readRules, type Rule } from './expressions.js';

const ROOT = new URL('../../', import.meta.url);

interface AlertTest { alertname: string; exp_alerts?: unknown[] }

const rules = readRules();
const unitTests = (parse(read('monitoring/tests/trackgate-rules.test.yaml')) as { tests: { alert_rule_test?: AlertTest[] }[] })
  .tests.flatMap((t) => t.alert_rule_test ?? []);

/** Runs promtool; resolves with its combined output, or throws it when it exits non-zero. */
function promtool(...args: string[]): string {
  try {
    return execFileSync('promtool', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`promtool ${args.join(' ')} failed:\n${e.stdout ?? ''}${e.stderr ?? e.message}`);
  }
}

/** GitHub's anchor of a Markdown heading: lower case, punctuation dropped (letters, digits, `_`, `-` kept), spaces to `-`. */
const anchorOf = (heading: string): string => heading.trim().toLowerCase().replace(/[^\p{L}\p{N}_\- ]/gu, '').replace(/ /g, '-');

interface Renderer { RUNBOOK_BASE: string; renderPrometheusRule(rulesYaml: string, runbookBase?: string): string }
const renderer = (await import(pathToFileURL(fileURLToPath(new URL('monitoring/render-k8s.mjs', ROOT))).href)) as Renderer;

describe('monitoring/trackgate-rules.yaml', () => {
  it('passes `promtool check rules`', () => {
    expect(promtool('check', 'rules', 'monitoring/trackgate-rules.yaml')).toContain(`SUCCESS: ${rules.length} rules found`);
  });

  it('passes its promtool unit tests', () => {
    expect(promtool('test', 'rules', 'monitoring/tests/trackgate-rules.test.yaml')).toContain('SUCCESS');
  });

  it('unit-tests every alert firing and staying silent', () => {
    for (const { alert } of rules) {
      const cases = unitTests.filter((t) => t.alertname === alert);
      expect(cases.some((t) => (t.exp_alerts ?? []).length > 0), `${alert} fires in a test`).toBe(true);
      expect(cases.some((t) => (t.exp_alerts ?? []).length === 0), `${alert} stays silent in a test`).toBe(true);
    }
  });

  it('names only metrics in the metrics reference (docs/metrics.md)', () => {
    const documented = documentedMetrics();
    expect(documented.size).toBeGreaterThan(20);
    for (const { alert, expr } of rules) {
      for (const name of metricNames(expr)) expect(documented.has(name) || documented.has(familyOf(name)), `${alert}: ${name}`).toBe(true);
    }
  });

  it('links each alert to its own runbook section of docs/operations.md, at the renderer\'s runbook base', () => {
    const anchors = new Set([...read('docs/operations.md').matchAll(/^#{2,4} (.+)$/gm)].map((m) => anchorOf(m[1]!)));
    for (const { alert, annotations } of rules) {
      expect(annotations.runbook_url, alert).toBe(`${renderer.RUNBOOK_BASE}#${anchorOf(alert)}`);
      expect(anchors, alert).toContain(anchorOf(alert));
    }
  });

  it('reads headings as GitHub anchors them, digits and punctuation included', () => {
    expect(anchorOf('4. Scale out')).toBe('4-scale-out');
    expect(anchorOf('TrackgateStoreP99Over100ms')).toBe('trackgatestorep99over100ms');
    expect(anchorOf('Alerts and runbooks (v2)')).toBe('alerts-and-runbooks-v2');
    expect(anchorOf('SQLite `store.url`')).toBe('sqlite-storeurl');
  });

  it('moves every runbook link to another base with --runbook-base, and nothing else', () => {
    const base = 'https://runbooks.example.net/trackgate/operations';
    const moved = (parse(renderer.renderPrometheusRule(read('monitoring/trackgate-rules.yaml'), base)) as { spec: { groups: { rules: Rule[] }[] } })
      .spec.groups.flatMap((g) => g.rules);
    expect(moved.map((r) => r.annotations.runbook_url)).toEqual(rules.map((r) => `${base}#${anchorOf(r.alert)}`));
    expect(moved.map((r) => ({ ...r, annotations: { ...r.annotations, runbook_url: '' } })))
      .toEqual(rules.map((r) => ({ ...r, annotations: { ...r.annotations, runbook_url: '' } })));
  });

  it('is what the PrometheusRule carries (regenerate with `node monitoring/render-k8s.mjs`)', () => {
    const resource = parse(read('k8s/components/monitoring/prometheusrule.yaml')) as { kind: string; spec: { groups: unknown } };
    expect(resource.kind).toBe('PrometheusRule');
    expect(resource.spec.groups).toEqual((parse(read('monitoring/trackgate-rules.yaml')) as { groups: unknown }).groups);
  });
});
