/**
 * `/metrics` of the cluster primary: every worker's registry, fetched over IPC as JSON at scrape time and
 * merged with prom-client's AggregatorRegistry.aggregate (counters and histograms summed; gauges summed too,
 * which is what most of the app's gauges mean across workers: cache entries and bytes, in-flight requests,
 * open WebSockets; a gauge that is a state or a time names its own rule: `min` for trackgate_store_up,
 * trackgate_ready and the reload gauges, so one failing worker shows; `max` for the signing key's age and
 * trackgate_clients_by_scheme (every worker counts the same shared store);
 * `first` for trackgate_build_info and the memory limit; prom-client's process metrics carry their own), plus
 * the primary's worker metrics and its own process metrics (summed in: the container holds every process).
 *
 * A worker's pre-aggregated hot counters (the Tally in observability/metrics.ts) are flushed by the metric's
 * `collect` hook, which `getMetricsAsJSON()` runs in the worker like any scrape, so they are included.
 * prom-client's `clusterMetrics()` is not used: it waits its fixed 5 s for any connected worker, also one still
 * starting that cannot answer, and cannot add the primary's own registry.
 *
 * A worker that is restarted starts its counters from zero: the summed counter goes down, which Prometheus
 * reads as a counter reset.
 */
import client from 'prom-client';
import type { IpcChannel } from './ipc.js';
import { METHOD } from './protocol.js';

/** Time a scrape waits for each worker's metrics. */
const WORKER_METRICS_TIMEOUT_MS = 5000;

export class PrimaryMetrics {
  readonly #own = new client.Registry();
  readonly restarts = new client.Counter({
    name: 'trackgate_worker_restarts_total',
    help: 'Worker processes the primary restarted after they exited unexpectedly.',
    registers: [this.#own],
  });
  readonly #workers: client.Gauge = new client.Gauge({
    name: 'trackgate_workers',
    help: 'Worker processes listening on the proxy port.',
    registers: [this.#own],
    collect: (): void => this.#workers.set(this.listening().length),
  });
  readonly contentType = client.Registry.PROMETHEUS_CONTENT_TYPE;

  /**
   * `listening`: the channels of the workers serving now (workers still starting are left out).
   * `processMetrics: false` leaves out the primary's own Node.js process metrics (the metrics reference).
   */
  constructor(private readonly listening: () => readonly IpcChannel[], opts: { processMetrics?: boolean } = {}) {
    if (opts.processMetrics !== false) client.collectDefaultMetrics({ register: this.#own });
  }

  /** The primary's own metrics (not the workers'). */
  get registry(): client.Registry { return this.#own; }

  /**
   * The aggregated exposition text. Rejects when a serving worker does not answer: a sum with one worker
   * missing would look like a counter reset, so the scrape fails (500) instead.
   */
  async metrics(): Promise<string> {
    const workers = await Promise.all(this.listening().map((ch) => ch.request<object[]>(METHOD.metrics, undefined, WORKER_METRICS_TIMEOUT_MS)));
    const own = await this.#own.getMetricsAsJSON();
    return client.AggregatorRegistry.aggregate([...workers, own]).metrics();
  }
}
