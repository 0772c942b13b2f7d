/**
 * The PromQL that monitoring/ ships, read as Prometheus would be asked it: every target of the Grafana dashboard
 * (with Grafana's variables given values) and every alert's expression, and the metric names each one reads.
 */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';

const ROOT = new URL('../../', import.meta.url);
export const read = (p: string): string => readFileSync(new URL(p, ROOT), 'utf8');

export interface DashboardTarget { refId: string; expr: string; legendFormat?: string; datasource?: { type: string; uid: string } }
export interface DashboardPanel { id: number; type: string; title: string; datasource?: { type: string; uid: string }; targets?: DashboardTarget[] }
export interface DashboardVariable { name: string; type: string; query: string | { query: string }; allValue?: string }
export interface Dashboard { uid: string; title: string; schemaVersion: number; panels: DashboardPanel[]; templating: { list: DashboardVariable[] } }

export const DASHBOARD_FILE = 'monitoring/trackgate-dashboard.json';
export const dashboard = (): Dashboard => JSON.parse(read(DASHBOARD_FILE)) as Dashboard;

export interface Rule { alert: string; expr: string; annotations: Record<string, string> }
export const rules = (): Rule[] =>
  (parse(read('monitoring/trackgate-rules.yaml')) as { groups: { rules: Rule[] }[] }).groups.flatMap((g) => g.rules);

/** Each panel target's expression, named `panel title / refId`. */
export function dashboardExpressions(d: Dashboard = dashboard()): { name: string; expr: string }[] {
  return d.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ name: `${p.title} / ${t.refId}`, expr: t.expr })));
}

/**
 * What Grafana sends for `expr`: the template variables replaced by `values` (the dashboard's own variables,
 * e.g. `job: '.+'`), and its interval variables by `rateInterval` and `interval`.
 */
export function substitute(expr: string, values: Record<string, string>, rateInterval: string, interval: string): string {
  return expr
    .replaceAll('$__rate_interval', rateInterval)
    .replaceAll('$__interval', interval)
    .replace(/\$\{?(\w+)\}?/g, (all, name: string) => values[name] ?? all);
}

/** The metric names an expression reads (histogram series as their family's `_bucket`/`_sum`/`_count`). */
export const metricNames = (expr: string): string[] => [...new Set([...expr.matchAll(/\b(?:trackgate|process|nodejs)_[a-z0-9_]+/g)].map((m) => m[0]))];

/** A metric family's name for a series name: `x_bucket`, `x_sum`, `x_count` → `x`. */
export const familyOf = (name: string): string => name.replace(/_(bucket|sum|count)$/, '');

/** The metric names docs/metrics.md lists (the generated reference of every registry). */
export const documentedMetrics = (): Set<string> => new Set([...read('docs/metrics.md').matchAll(/^\| `([a-z0-9_:]+)` \|/gm)].map((m) => m[1]!));

const COMPARISON = /^(==|!=|>=|<=|>|<)/;

/**
 * The series an alert's condition compares: `a > 0.5 and b > 0.2` → [`a`, `b`]. A healthy system rightly makes
 * the condition itself empty; the series it compares must still exist. Splits on `and`/`or`/`unless` and cuts
 * each part at its comparison, both outside any parentheses, braces or brackets.
 */
export function comparedSeries(expr: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  let cut: number | undefined;
  const end = (i: number): void => { parts.push(expr.slice(start, cut ?? i).trim()); cut = undefined; };
  for (let i = 0; i < expr.length; i++) {
    const c = expr[i]!;
    if ('([{'.includes(c)) depth++;
    else if (')]}'.includes(c)) depth--;
    else if (depth === 0) {
      const set = /^\s(and|or|unless)\s/.exec(expr.slice(i));
      if (set !== null) { end(i); start = i + set[0].length; i = start - 1; continue; }
      if (cut === undefined && COMPARISON.test(expr.slice(i))) cut = i;
    }
  }
  end(expr.length);
  return parts.filter((p) => p !== '');
}
