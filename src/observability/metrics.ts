/**
 * Prometheus metrics. One registry per app instance (no module-level singletons, so tests can run several
 * apps in one process). Labels are bounded: form ids, fixed reasons, status classes; never a user, token or
 * address. Hot-path children are bound once and memoised so a request does no label lookup.
 */
import client from 'prom-client';
import type { AuthReason } from '../errors.js';

export type CacheOutcome = 'hit' | 'miss' | 'negative_hit' | 'bypass';
export type UpstreamErrorKind = 'refused' | 'reset' | 'timeout' | 'other';

export class Metrics {
  readonly registry = new client.Registry();

  readonly requests = new client.Counter({
    name: 'trackgate_requests_total',
    help: 'Requests on the proxy port by credential form and outcome.',
    labelNames: ['scheme', 'outcome', 'status_class'] as const,
    registers: [this.registry],
  });
  readonly authAttempts = new client.Counter({
    name: 'trackgate_auth_attempts_total',
    help: 'Authentication attempts by credential form, result and reason.',
    labelNames: ['scheme', 'result', 'reason'] as const,
    registers: [this.registry],
  });
  readonly authDuration = new client.Histogram({
    name: 'trackgate_auth_duration_seconds',
    help: 'Time to authenticate a request, split by validation-cache outcome.',
    labelNames: ['scheme', 'cache'] as const,
    buckets: [0.00001, 0.00005, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });
  readonly cacheEvents = new client.Counter({
    name: 'trackgate_validation_cache_events_total',
    help: 'Validation cache lookups and evictions.',
    labelNames: ['event'] as const,
    registers: [this.registry],
  });
  #cacheSource: { readonly size: number; readonly bytes: number; readonly evictions: number } | undefined;
  readonly cacheEntries = new client.Gauge({
    name: 'trackgate_validation_cache_entries',
    help: 'Entries in the validation cache.',
    registers: [this.registry],
    collect: () => { if (this.#cacheSource) this.cacheEntries.set(this.#cacheSource.size); },
  });
  readonly cacheBytes = new client.Gauge({
    name: 'trackgate_validation_cache_bytes',
    help: 'Approximate bytes held by the validation cache.',
    registers: [this.registry],
    collect: () => { if (this.#cacheSource) this.cacheBytes.set(this.#cacheSource.bytes); },
  });
  readonly cacheEvictions = new client.Gauge({
    name: 'trackgate_validation_cache_evictions',
    help: 'Entries evicted from the validation cache to stay within its bounds, since start.',
    registers: [this.registry],
    collect: () => { if (this.#cacheSource) this.cacheEvictions.set(this.#cacheSource.evictions); },
  });
  readonly upstreamDuration = new client.Histogram({
    name: 'trackgate_upstream_duration_seconds',
    help: 'Time from forwarding a request to receiving the upstream response headers.',
    labelNames: ['status_class'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
    registers: [this.registry],
  });
  readonly upstreamErrors = new client.Counter({
    name: 'trackgate_upstream_errors_total',
    help: 'Upstream failures by kind (refused, reset, timeout, other).',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly inflight = new client.Gauge({
    name: 'trackgate_inflight_requests',
    help: 'Requests currently being handled on the proxy port.',
    registers: [this.registry],
  });
  readonly badRequests = new client.Counter({
    name: 'trackgate_rejected_requests_total',
    help: 'Requests rejected before authentication for malformed or hostile input.',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });
  readonly configReloads = new client.Counter({
    name: 'trackgate_config_reloads_total',
    help: 'Config and accounts reloads by result.',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly identityMints = new client.Counter({
    name: 'trackgate_identity_mints_total',
    help: 'Identity headers signed (cached headers are not counted).',
    registers: [this.registry],
  });
  readonly remoteVerifications = new client.Counter({
    name: 'trackgate_remote_verification_total',
    help: 'Calls of the remote (legacy service) verification endpoint by result: valid, invalid, unavailable, timeout.',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly websocketSessions = new client.Gauge({
    name: 'trackgate_websocket_sessions',
    help: 'Open proxied WebSocket sessions.',
    registers: [this.registry],
  });

  readonly tokenEndpointRequests = new client.Counter({
    name: 'trackgate_token_endpoint_requests_total',
    help: 'Requests to the legacy token endpoints by dialect and status class.',
    labelNames: ['dialect', 'status_class'] as const,
    registers: [this.registry],
  });

  readonly #authChildren = new Map<string, client.Counter.Internal>();
  readonly #durationChildren = new Map<string, client.Histogram.Internal<'scheme' | 'cache'>>();
  readonly #requestChildren = new Map<string, client.Counter.Internal>();
  readonly #cacheEventChildren = new Map<string, client.Counter.Internal>();
  readonly #upstreamChildren = new Map<number, client.Histogram.Internal<'status_class'>>();

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    if (opts.defaultMetrics !== false) client.collectDefaultMetrics({ register: this.registry, prefix: 'trackgate_' });
  }

  /** Reports the validation cache's size at each scrape. */
  observeCache(source: { readonly size: number; readonly bytes: number; readonly evictions: number }): void {
    this.#cacheSource = source;
  }

  authAttempt(scheme: string, reason: AuthReason): void {
    const key = `${scheme}\0${reason}`;
    let child = this.#authChildren.get(key);
    if (!child) {
      child = this.authAttempts.labels(scheme, reason === 'ok' ? 'success' : 'failure', reason);
      this.#authChildren.set(key, child);
    }
    child.inc();
  }

  /** A validation cache lookup outcome (`hit`, `negative_hit`, `miss`) or an eviction (`evict`). */
  cacheEvent(event: string): void {
    let child = this.#cacheEventChildren.get(event);
    if (!child) {
      child = this.cacheEvents.labels(event);
      this.#cacheEventChildren.set(event, child);
    }
    child.inc();
  }

  authTime(scheme: string, cache: CacheOutcome, seconds: number): void {
    const key = `${scheme}\0${cache}`;
    let child = this.#durationChildren.get(key);
    if (!child) {
      child = this.authDuration.labels(scheme, cache);
      this.#durationChildren.set(key, child);
    }
    child.observe(seconds);
  }

  /** Time to upstream response headers, by status class (`2xx`, …). */
  upstreamTime(status: number, seconds: number): void {
    const cls = Math.floor(status / 100);
    let child = this.#upstreamChildren.get(cls);
    if (!child) {
      child = this.upstreamDuration.labels(`${cls}xx`);
      this.#upstreamChildren.set(cls, child);
    }
    child.observe(seconds);
  }

  tokenEndpoint(dialect: string, status: number): void {
    this.tokenEndpointRequests.labels(dialect, statusClass(status)).inc();
  }

  request(scheme: string, outcome: string, status: number): void {
    const cls = statusClass(status);
    const key = `${scheme}\0${outcome}\0${cls}`;
    let child = this.#requestChildren.get(key);
    if (!child) {
      child = this.requests.labels(scheme, outcome, cls);
      this.#requestChildren.set(key, child);
    }
    child.inc();
  }
}

export function statusClass(status: number): string {
  return status >= 100 && status < 600 ? `${Math.floor(status / 100)}xx` : 'other';
}
