/**
 * The bench report (bench/lib/report.js): the paced rows (a fixed offered load) carry the p99 target and never
 * get throughput ratios; the saturation rows keep the ratios and report their p99 without a target. The decision
 * mode targets judge every cached row against nginx, and an uncached row against the sidecar's of its credential.
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

interface Row {
  id: string; label: string; short?: string; group: string; kind?: string; server?: string;
  rps: number; p50: number; p99: number; errors: number; cpuUs: number; peakRss?: number; runs: unknown[];
}
type Ratioed = Row & { xDirect?: number; xNginx?: number; addedP50?: number; addedP99?: number };
interface Target { name: string; pass: boolean | undefined; detail: string }
interface Report {
  withRatios(rows: Row[]): Ratioed[];
  targets(rows: Ratioed[], extra: Record<string, unknown>): Target[];
  markdownTable(rows: Ratioed[]): string;
  pacedMarkdownTable(rows: Ratioed[]): string;
}
// A path import: bench/ is plain JavaScript, outside the typed build.
const report = (await import(pathToFileURL(join(import.meta.dirname, '..', '..', 'bench', 'lib', 'report.js')).href)) as Report;

const row = (id: string, group: string, rps: number, p99: number, more: Partial<Row> = {}): Row => ({
  id, label: id, group, rps, p50: p99 / 4, p99, errors: 0, cpuUs: 100, runs: [], ...more,
});

function sample(pacedBasicP99: number): Ratioed[] {
  return report.withRatios([
    row('direct-small', 'small', 20_000, 5),
    row('nginx-noauth-small', 'small', 16_000, 6),
    row('tg-basic', 'small', 10_000, 12, { kind: 'form', short: 'Basic' }),
    row('direct-small@paced', 'paced', 1990, 1.2),
    row('tg-basic@paced', 'paced', 1980, pacedBasicP99, { kind: 'form', short: 'Basic' }),
  ]);
}

const target = (list: Target[], prefix: string) => list.find((t) => t.name.startsWith(prefix));

describe('bench report: paced rows', () => {
  it('gives paced rows the latency over direct at the same load and no throughput ratio', () => {
    const rows = sample(3.9);
    const paced = rows.find((r) => r.id === 'tg-basic@paced')!;
    expect(paced.xDirect).toBeUndefined();
    expect(paced.xNginx).toBeUndefined();
    expect(paced.addedP99).toBeCloseTo(2.7, 6);
    const sat = rows.find((r) => r.id === 'tg-basic')!;
    expect(sat.xDirect).toBeCloseTo(0.5, 6);
    expect(sat.xNginx).toBeCloseTo(0.625, 6);
    expect(sat.addedP99).toBeCloseTo(7, 6);
  });

  it('judges the p99 target on the paced rows only, and reports the saturation p99 without a verdict', () => {
    const pass = report.targets(sample(3.9), {});
    expect(target(pass, 'p99 added latency')?.pass).toBe(true);
    expect(target(pass, 'p99 added latency')?.detail).toContain('Basic +2.70');
    expect(target(pass, 'p99 over direct at saturation')?.pass).toBeUndefined();
    expect(target(pass, 'p99 over direct at saturation')?.detail).toContain('Basic +7.00');
    // The ×direct target is judged on the saturation row alone (the paced row would pass it at 0.99×).
    expect(target(pass, 'every form on a cache hit ≥ 0.65× direct')?.pass).toBe(false);
    expect(target(report.targets(sample(4.3), {}), 'p99 added latency')?.pass).toBe(false);
  });

  it('leaves the p99 target unjudged when no paced row was measured', () => {
    const rows = sample(3.9).filter((r) => r.group !== 'paced');
    expect(target(report.targets(rows, {}), 'p99 added latency')?.pass).toBeUndefined();
  });

  it('puts paced rows in their own table', () => {
    const rows = sample(3.9);
    expect(report.markdownTable(rows)).not.toContain('@paced');
    const paced = report.pacedMarkdownTable(rows);
    expect(paced).toContain('| tg-basic@paced | 1980 |');
    expect(paced).toContain('+2.70');
    expect(paced).not.toContain('| tg-basic |');
  });
});

describe('bench report: the k8s memory limit', () => {
  const rows = () => report.withRatios([
    row('tg-basic', 'small', 10_000, 12, { server: 'trackgate-main', peakRss: 180 }),
    row('tg-100k-fill', 'small', 5000, 40, { server: 'trackgate-100k', peakRss: 300 }),
    // Several processes: not the manifest's one-process sidecar.
    row('tg-w2', 'small', 9000, 20, { server: 'trackgate-tg-w2', peakRss: 900 }),
    row('nginx-noauth-small', 'small', 16_000, 6, { server: 'nginx', peakRss: 2000 }),
  ]);
  const judge = (limit: number | undefined) => target(report.targets(rows(), { k8sMemoryLimitMiB: limit }), 'peak RSS of every trackgate row');

  it('compares the heaviest single-process trackgate row with the limit', () => {
    expect(judge(384)?.pass).toBe(true);
    expect(judge(384)?.detail).toContain('highest 300 MiB (tg-100k-fill)');
    expect(judge(256)?.pass).toBe(false);
  });

  it('says so when the manifest gave no limit', () => {
    expect(judge(undefined)?.pass).toBeUndefined();
  });
});

describe('bench report: decision mode (nginx + trackgate)', () => {
  const rows = (bearerRps: number, more: Row[] = []) => report.withRatios([
    row('nginx-noauth-small', 'small', 16_000, 6),
    row('nginx-apr1', 'small', 3000, 20),
    row('nginx-noauth-64k', '64k', 10_000, 8),
    row('tg-basic', 'small', 8000, 12, { kind: 'form', short: 'Basic' }),
    row('edge-basic', 'small', 14_000, 6, { kind: 'decision', short: 'Basic' }),
    row('edge-bearer', 'small', bearerRps, 6, { kind: 'decision', short: 'Bearer' }),
    row('edge-query', 'small', 15_000, 6, { kind: 'decision', short: '_token' }),
    row('edge-64k', '64k', 9500, 9),
    ...more,
  ]);

  it('judges every cached decision row against nginx without auth and against auth_basic apr1', () => {
    const pass = report.targets(rows(14_000), {});
    expect(target(pass, 'cached decisions (nginx + trackgate: Basic, Bearer, `_token`) ≥ 0.85× nginx')?.pass).toBe(true);
    expect(target(pass, 'cached decisions (nginx + trackgate: Basic, Bearer, `_token`) ≥ 4× nginx auth_basic apr1')?.pass).toBe(true);
    // Bearer 13,000 / 16,000 = 0.81×: one row below the target fails it, and is named as the worst.
    const fail = target(report.targets(rows(13_000), {}), 'cached decisions (nginx + trackgate: Basic, Bearer, `_token`) ≥ 0.85× nginx');
    expect(fail?.pass).toBe(false);
    expect(fail?.detail).toContain('worst: Bearer 0.81×');
    // The cached rows are not forms: the sidecar's per-form targets do not judge them.
    expect(target(pass, 'every form on a cache hit ≥ 0.80× nginx')?.detail).not.toContain('_token');
  });

  it('judges 64 KiB bodies against nginx and uncached decisions against the sidecar row of the same credential', () => {
    const list = report.targets(rows(14_000, [row('edge-nocache-basic', 'small', 7000, 30)]), {});
    expect(target(list, '64 KiB bodies through nginx + trackgate decisions')?.pass).toBe(true);
    const uncached = target(list, 'uncached decisions (Basic');
    expect(uncached?.pass).toBe(false);
    expect(uncached?.detail).toBe('7000 vs 8000 rps = 0.88×');
    expect(target(list, 'uncached decisions (Digest')?.pass).toBeUndefined();
  });

  it('leaves the cached targets unjudged without their peer', () => {
    const list = report.targets(rows(14_000).filter((r) => r.id !== 'nginx-apr1'), {});
    expect(target(list, 'cached decisions (nginx + trackgate: Basic, Bearer, `_token`) ≥ 4×')?.pass).toBeUndefined();
    expect(target(list, 'cached decisions (nginx + trackgate: Basic, Bearer, `_token`) ≥ 4×')?.detail).toBe('not measured (peer missing)');
  });
});

describe('bench report: the inventory pair', () => {
  const judge = (onRps: number | undefined) => {
    const rows = [row('tg-inventory-off', 'small', 10_000, 10), ...(onRps === undefined ? [] : [row('tg-inventory-on', 'small', onRps, 10)])];
    return target(report.targets(report.withRatios(rows), {}), 'inventory on within noise of inventory off');
  };

  it('passes within 5 % of the same run without the inventory, fails beyond, and is unjudged without the pair', () => {
    expect(judge(9_600)?.pass).toBe(true);
    expect(judge(9_600)?.detail).toBe('9600 vs 10000 rps = 0.96×');
    expect(judge(9_400)?.pass).toBe(false);
    expect(judge(undefined)?.pass).toBeUndefined();
  });
});
