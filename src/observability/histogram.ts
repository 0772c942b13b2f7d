/**
 * A Prometheus histogram for the request path: `observe` is a bucket search and three additions on a
 * series bound once per label set. prom-client's Histogram validates and hashes the label set on every
 * observation, also through a bound child (measured: the two per-request histograms cost more CPU than
 * the whole validation-cache lookup). It registers into a prom-client Registry like any metric (`get()`
 * returns prom-client's metric object), so the exposition format, `getMetricsAsJSON` and cluster
 * aggregation (`aggregator: 'sum'`) are prom-client's own.
 */
import type { Registry } from 'prom-client';

/** One label set's buckets. */
export class HistogramSeries {
  /** Non-cumulative counts: counts[i] observations ≤ bounds[i] and > bounds[i-1]; the last is +Inf. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(readonly labels: Readonly<Record<string, string>>, private readonly bounds: Float64Array) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    const b = this.bounds;
    let i = 0;
    while (i < b.length && value > b[i]!) i++;
    this.counts[i]!++;
    this.sum += value;
    this.count++;
  }
}

interface ValuePair { labels: Record<string, string | number>; value: number; metricName: string }

export interface FastHistogramOptions<L extends string> {
  name: string;
  help: string;
  labelNames: readonly L[];
  /** Upper bounds, ascending; `+Inf` is implicit. */
  buckets: readonly number[];
  registers: readonly Registry[];
}

export class FastHistogram<L extends string> {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly name: string;
  readonly help: string;
  readonly #labelNames: readonly L[];
  readonly #bounds: Float64Array;
  readonly #series = new Map<string, HistogramSeries>();

  constructor(opts: FastHistogramOptions<L>) {
    this.name = opts.name;
    this.help = opts.help;
    this.#labelNames = opts.labelNames;
    for (let i = 1; i < opts.buckets.length; i++) {
      if (!(opts.buckets[i]! > opts.buckets[i - 1]!)) throw new Error(`${opts.name}: buckets must be ascending`);
    }
    this.#bounds = Float64Array.from(opts.buckets);
    for (const r of opts.registers) r.registerMetric(this as never);
  }

  /** The label names, as prom-client's metrics expose them (the metrics reference lists them). */
  get labelNames(): readonly L[] { return this.#labelNames; }

  /** The series of one label set (values in `labelNames` order); bind it once, observe it per request. */
  series(...values: string[]): HistogramSeries {
    if (values.length !== this.#labelNames.length) throw new Error(`${this.name}: expected ${this.#labelNames.length} label values`);
    const key = values.join('\0');
    let s = this.#series.get(key);
    if (s === undefined) {
      const labels: Record<string, string> = {};
      this.#labelNames.forEach((n, i) => { labels[n] = values[i]!; });
      s = new HistogramSeries(labels, this.#bounds);
      this.#series.set(key, s);
    }
    return s;
  }

  /** prom-client's metric object (what `Registry` formats and `AggregatorRegistry` sums). */
  get(): { name: string; help: string; type: 'histogram'; aggregator: 'sum'; values: ValuePair[] } {
    const values: ValuePair[] = [];
    const bucket = `${this.name}_bucket`;
    for (const s of this.#series.values()) {
      let acc = 0;
      for (let i = 0; i <= this.#bounds.length; i++) {
        acc += s.counts[i]!;
        values.push({ labels: { le: i < this.#bounds.length ? this.#bounds[i]! : '+Inf', ...s.labels }, value: acc, metricName: bucket });
      }
      values.push({ labels: { ...s.labels }, value: s.sum, metricName: `${this.name}_sum` });
      values.push({ labels: { ...s.labels }, value: s.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: 'histogram', aggregator: 'sum', values };
  }

  /** `Registry.resetMetrics()`: zeroes in place, so series already bound keep counting into the metric. */
  reset(): void {
    for (const s of this.#series.values()) {
      s.counts.fill(0);
      s.sum = 0;
      s.count = 0;
    }
  }
}
