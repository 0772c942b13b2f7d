/**
 * Prometheus metrics. One registry per app instance (no module-level singletons, so tests can run several
 * apps in one process). Labels are bounded: form ids, fixed reasons, status classes; never a user, token or
 * address. Hot-path children are bound once and memoised so a request does no label lookup, and the
 * hot-path counters are tallied in plain numbers and handed to prom-client when collected (see Tally).
 */
import client from 'prom-client';
import type { AuthReason } from '../errors.js';
import { FastHistogram, type HistogramSeries } from './histogram.js';
import { buildInfo } from './build-info.js';
import { memoryLimitBytes } from './memory-limit.js';

/** What the Redis metrics read of the store's topology (the store layer's RedisTopology fits it). */
export interface RedisTopologyView {
  readonly mode: string;
  readonly masterReachable: boolean;
  readonly replicas: number;
  readonly failovers: number;
}

export type UpstreamErrorKind = 'refused' | 'reset' | 'timeout' | 'other';

/**
 * Increments of one labelled counter, counted in plain numbers on the request path and added to the
 * prom-client counter whenever it is collected (every scrape, `registry.metrics()`, `counter.get()`), so
 * what is exposed is exactly what direct increments would show. prom-client hashes and validates the label
 * set on every `inc()`, also through a bound `labels()` child (~0.3–0.6 µs a call); a tally walks one small
 * Map per label, keyed by the label values themselves (constant strings whose hashes V8 keeps), so counting
 * allocates nothing: no joined key string to build, flatten and hash per request.
 */
class Tally {
  readonly #root = new Map<string, Map<string, Map<string, TallyEntry>>>();
  readonly #entries: TallyEntry[] = [];

  constructor(private readonly counter: client.Counter<any>, private readonly labelCount: 1 | 2 | 3) {}

  /** Counts one event for these label values (as many as the counter has labels; the rest are unused). */
  inc(a: string, b = '', c = ''): void {
    let byB = this.#root.get(a);
    if (byB === undefined) this.#root.set(a, (byB = new Map()));
    let byC = byB.get(b);
    if (byC === undefined) byB.set(b, (byC = new Map()));
    const e = byC.get(c);
    if (e !== undefined) { e.n++; return; }
    const entry: TallyEntry = { labels: [a, b, c].slice(0, this.labelCount), n: 1 };
    byC.set(c, entry);
    this.#entries.push(entry);
  }

  flush(): void {
    for (const e of this.#entries) {
      if (e.n === 0) continue;
      const n = e.n;
      e.n = 0;
      this.counter.labels(...e.labels).inc(n);
    }
  }
}

interface TallyEntry { readonly labels: readonly string[]; n: number }

export class Metrics {
  readonly registry = new client.Registry();

  readonly requests: client.Counter<'scheme' | 'outcome' | 'status_class'> = new client.Counter({
    name: 'trackgate_requests_total',
    help: 'Requests on the proxy port by credential form (`none`: no credentials, `public`: a public route, or the token-endpoint dialect), outcome (forwarded, rejected, upstream_error, token_endpoint) and status class.',
    labelNames: ['scheme', 'outcome', 'status_class'] as const,
    registers: [this.registry],
    collect: (): void => this.#requestTally.flush(),
  });
  readonly decisions: client.Counter<'edge' | 'scheme' | 'status_class'> = new client.Counter({
    name: 'trackgate_decisions_total',
    help: 'Decision (forward-auth) requests answered for an edge proxy, by edge (nginx, ingress-nginx, traefik, envoy, or unknown), credential form (as in trackgate_requests_total) and status class (2xx: let through). Decisions an edge serves from its own cache never reach trackgate and are not counted.',
    labelNames: ['edge', 'scheme', 'status_class'] as const,
    registers: [this.registry],
    collect: (): void => this.#decisionTally.flush(),
  });
  readonly authAttempts: client.Counter<'scheme' | 'result' | 'reason'> = new client.Counter({
    name: 'trackgate_auth_attempts_total',
    help: 'Authentication attempts by credential form, result (success, failure) and reason (ok, no_credentials, malformed, invalid, expired, stale, ambiguous, forbidden, denied: a form a migration policy denies, throttled: refused by the brute-force throttle, unavailable: a source is down).',
    labelNames: ['scheme', 'result', 'reason'] as const,
    registers: [this.registry],
    collect: (): void => this.#authTally.flush(),
  });
  readonly authDuration = new FastHistogram({
    name: 'trackgate_auth_duration_seconds',
    help: 'Time to authenticate a request, split by validation-cache outcome.',
    labelNames: ['scheme', 'cache'] as const,
    buckets: [0.00001, 0.00005, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });
  readonly cacheEvents: client.Counter<'event'> = new client.Counter({
    name: 'trackgate_validation_cache_events_total',
    help: 'Validation cache lookups (hit, negative_hit, miss), evictions (evict: a validated credential; negative_evict: a rejection, which only ever evicts another) and validated credentials not kept because they were used less often than the one they would evict (not_admitted).',
    labelNames: ['event'] as const,
    registers: [this.registry],
    collect: (): void => this.#cacheEventTally.flush(),
  });
  #cacheSource: { readonly size: number; readonly negativeSize: number; readonly bytes: number; readonly evictions: number } | undefined;
  readonly cacheEntries = new client.Gauge({
    name: 'trackgate_validation_cache_entries',
    help: 'Entries in the validation cache.',
    registers: [this.registry],
    collect: () => { if (this.#cacheSource) this.cacheEntries.set(this.#cacheSource.size); },
  });
  readonly cacheNegativeEntries = new client.Gauge({
    name: 'trackgate_validation_cache_negative_entries',
    help: 'Rejected credentials in the validation cache (included in trackgate_validation_cache_entries; bounded by cache.maxNegativeEntries).',
    registers: [this.registry],
    collect: () => { if (this.#cacheSource) this.cacheNegativeEntries.set(this.#cacheSource.negativeSize); },
  });
  readonly cacheBytes = new client.Gauge({
    name: 'trackgate_validation_cache_bytes',
    help: 'Approximate bytes held by the validation cache.',
    registers: [this.registry],
    collect: () => { if (this.#cacheSource) this.cacheBytes.set(this.#cacheSource.bytes); },
  });
  readonly cacheEvictions: client.Counter = new client.Counter({
    name: 'trackgate_validation_cache_evictions_total',
    help: 'Entries evicted from the validation cache to stay within its bounds (validated credentials and rejections).',
    registers: [this.registry],
    // The cache counts its evictions itself (a plain number, never reset): the counter is set to it at each scrape.
    collect: () => {
      if (!this.#cacheSource) return;
      this.cacheEvictions.reset();
      this.cacheEvictions.inc(this.#cacheSource.evictions);
    },
  });
  readonly upstreamDuration = new FastHistogram({
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
  #inflightSource: (() => number) | undefined;
  readonly inflight = new client.Gauge({
    name: 'trackgate_inflight_requests',
    help: 'Requests currently being handled on the proxy port.',
    registers: [this.registry],
    // Read from the handler's own count at scrape time: a gauge inc/dec per request costs a label hash each.
    collect: () => { if (this.#inflightSource) this.inflight.set(this.#inflightSource()); },
  });
  readonly badRequests = new client.Counter({
    name: 'trackgate_rejected_requests_total',
    help: 'Connections and requests refused before they reach the request path, by error code (docs/errors.md): malformed HTTP or a header too large (TG_ERR_BAD_REQUEST, TG_ERR_HEADER_TOO_LARGE), CONNECT (TG_ERR_METHOD_NOT_ALLOWED). Requests refused later are in trackgate_requests_total{outcome="rejected"}.',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });
  readonly configReloads = new client.Counter({
    name: 'trackgate_config_reloads_total',
    help: 'Config, accounts and keys file reloads by result (success, error).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly configLastReloadSuccessful = new client.Gauge({
    name: 'trackgate_config_last_reload_successful',
    help: 'Whether the last reload of the config, accounts and keys files was applied (1) or rejected (0: the previous configuration keeps running). 1 at start.',
    registers: [this.registry],
    aggregator: 'min',
  });
  readonly configLastReloadSuccessTime = new client.Gauge({
    name: 'trackgate_config_last_reload_success_timestamp_seconds',
    help: 'When the running configuration was loaded: the start, or the last reload that was applied (Unix time).',
    registers: [this.registry],
    aggregator: 'min',
  });

  readonly buildInfoGauge = new client.Gauge({
    name: 'trackgate_build_info',
    help: 'Always 1; the labels name the trackgate version and the Node.js version running it.',
    labelNames: ['version', 'node'] as const,
    registers: [this.registry],
    aggregator: 'first',
  });
  readonly memoryLimit: client.Gauge = new client.Gauge({
    name: 'trackgate_memory_limit_bytes',
    help: 'Memory the process may use: the container\'s cgroup limit, or the machine\'s memory without one (compare process_resident_memory_bytes).',
    registers: [this.registry],
    aggregator: 'first',
    collect: () => this.memoryLimit.set(memoryLimitBytes()),
  });

  #storePing: (() => Promise<void>) | undefined;
  readonly storeUp: client.Gauge = new client.Gauge({
    name: 'trackgate_store_up',
    help: 'Whether the store (SQLite or Redis) answered its last ping (1) or not (0), pinged at each scrape and each readiness check.',
    registers: [this.registry],
    aggregator: 'min',
    collect: async () => {
      if (this.#storePing) this.storeUp.set(await answersWithin(this.#storePing, STORE_PING_TIMEOUT_MS) ? 1 : 0);
    },
  });
  #redisTopology: (() => Promise<RedisTopologyView>) | undefined;
  #redisSeen: RedisTopologyView | undefined;
  readonly redisMasterUp = this.#redisGauge('trackgate_store_redis_master_up',
    'Redis store: whether a master answered at the last scrape (a standalone server or the sentinels\' master saying role:master; a cluster in cluster_state:ok), by topology (standalone, sentinel, cluster).',
    (t) => (t.masterReachable ? 1 : 0));
  readonly redisReplicas = this.#redisGauge('trackgate_store_redis_replicas',
    'Redis store: replicas of the master (its connected_slaves), or a cluster\'s connected replica nodes, at the last scrape.',
    (t) => t.replicas);
  readonly redisFailovers: client.Counter<'mode'> = new client.Counter({
    name: 'trackgate_store_redis_failovers_total',
    help: 'Redis store: master switches this process has seen (its connection found the master at another address, or a cluster\'s masters changed).',
    labelNames: ['mode'] as const,
    registers: [this.registry],
    aggregator: 'max',
    collect: async () => {
      const t = await this.#probeRedis();
      if (t === undefined) return;
      this.redisFailovers.reset();
      this.redisFailovers.labels(t.mode).inc(t.failovers);
    },
  });
  readonly inventoryDropped = new client.Counter({
    name: 'trackgate_inventory_dropped_total',
    help: 'Inventory sightings dropped: a new record while inventory.maxPending records waited for their write (or a failed write\'s records found no room).',
    registers: [this.registry],
  });
  readonly inventoryWrites: client.Counter<'result'> = new client.Counter({
    name: 'trackgate_inventory_writes_total',
    help: 'Inventory records written to the store in batches, by result (ok, error: kept and retried at the next flush).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  #inventoryClients: (() => Promise<Map<string, number>>) | undefined;
  readonly clientsByScheme: client.Gauge<'scheme'> = new client.Gauge({
    name: 'trackgate_clients_by_scheme',
    help: 'Distinct clients (subject, kind, account, instance) of each credential form last seen within inventory.clientsWindowDays, read from the store at each scrape: every process reads the same shared records, so workers\' values are merged by max, not summed.',
    labelNames: ['scheme'] as const,
    registers: [this.registry],
    aggregator: 'max',
    collect: async () => {
      if (this.#inventoryClients === undefined) return;
      let counts: Map<string, number>;
      try {
        counts = await this.#inventoryClients();
      } catch {
        return; // the store is down: trackgate_store_up says so; the last values stay
      }
      this.clientsByScheme.reset();
      for (const [scheme, n] of counts) this.clientsByScheme.labels(scheme).set(n);
    },
  });
  readonly storeDuration = new FastHistogram({
    name: 'trackgate_store_duration_seconds',
    help: 'Time of store operations by operation (get_token, put_token, revoke_tokens, …), failed ones included.',
    labelNames: ['op'] as const,
    buckets: [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });

  readonly ready = new client.Gauge({
    name: 'trackgate_ready',
    help: 'The last readiness answer (/readyz, as the kubelet saw it): 1 ready, 0 not ready (store or upstream unreachable). 0 until the first check.',
    registers: [this.registry],
    aggregator: 'min',
  });
  readonly readinessChanges = new client.Counter({
    name: 'trackgate_readiness_changes_total',
    help: 'Times the readiness answer changed between ready and not ready.',
    registers: [this.registry],
  });
  #lastReady: boolean | undefined;

  #signingKeySource: (() => { readonly kid: string; readonly publishedAt?: number | undefined }) | undefined;
  /** When this process first saw each signing key without a `published_at` stamp. */
  readonly #firstSeen = new Map<string, number>();
  readonly signingKeyAge: client.Gauge<'kid'> = new client.Gauge({
    name: 'trackgate_identity_signing_key_age_seconds',
    help: 'Age of the key signing identity headers: since its keys-file published_at stamp, or (a key without one) since this process loaded it.',
    labelNames: ['kid'] as const,
    registers: [this.registry],
    aggregator: 'max',
    collect: () => {
      if (!this.#signingKeySource) return;
      const { kid, publishedAt } = this.#signingKeySource();
      const now = this.#now();
      let since = publishedAt;
      if (since === undefined) {
        since = this.#firstSeen.get(kid) ?? now;
        this.#firstSeen.set(kid, since);
      }
      this.signingKeyAge.reset();
      this.signingKeyAge.labels(kid).set(Math.max(0, (now - since) / 1000));
    },
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

  readonly tokens = new client.Counter({
    name: 'trackgate_tokens_total',
    help: 'Stored tokens by issuing dialect and event: issued (each token written, both of a pair), refreshed (a refresh token spent for a new pair), revoked (a live token revoked: logout, operator, refresh-token reuse).',
    labelNames: ['dialect', 'event'] as const,
    registers: [this.registry],
  });

  readonly passwordHashes = new client.Counter({
    name: 'trackgate_password_hashes_total',
    help: 'Password hash evaluations on the request path: `own` (the user\'s slow hash), `reference` (the equalising KDF of an unknown user or a failed cheap hash), `cheap` (apr1, {SHA}).',
    labelNames: ['work'] as const,
    registers: [this.registry],
  });
  readonly passwordFailures = new client.Counter({
    name: 'trackgate_password_failures_total',
    help: 'Failed password checks, each ended at the failure floor.',
    registers: [this.registry],
  });

  readonly shedRequests = new client.Counter({
    name: 'trackgate_shed_requests_total',
    help: 'Requests shed to protect the others: queue_full, client_queue_full, queue_timeout (503), body_idle, body_rate (408), send_idle (a client that stopped reading its response), client_connections (a connection over limits.maxConnectionsPerClient).',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  #slotSource: { readonly active: number; readonly queued: number } | undefined;
  readonly upstreamSlots = new client.Gauge({
    name: 'trackgate_upstream_slots',
    help: 'Requests holding an upstream connection (state="active") and waiting for one (state="queued").',
    labelNames: ['state'] as const,
    registers: [this.registry],
    collect: () => {
      if (!this.#slotSource) return;
      this.upstreamSlots.labels('active').set(this.#slotSource.active);
      this.upstreamSlots.labels('queued').set(this.#slotSource.queued);
    },
  });

  readonly legacyRequests: client.Counter<'scheme' | 'policy'> = new client.Counter({
    name: 'trackgate_legacy_requests_total',
    help: 'Authenticated requests a migration policy matched (migration.policies), by credential form and the policy\'s effect: allow, deprecated, report-only, deny (refused with 401 TG_ERR_FORM_DENIED).',
    labelNames: ['scheme', 'policy'] as const,
    registers: [this.registry],
    collect: (): void => this.#legacyTally.flush(),
  });
  readonly reportOnlyDenials: client.Counter<'rule'> = new client.Counter({
    name: 'trackgate_report_only_denials_total',
    help: 'Requests let through that a report-only rule would have refused, by the rule\'s name: a migration policy with `policy: report-only`, or a route rule with `mode: report-only`.',
    labelNames: ['rule'] as const,
    registers: [this.registry],
  });
  #policySource: (() => readonly { policy: string; scheme: string; seconds: number }[]) | undefined;
  readonly policySunset: client.Gauge<'policy' | 'scheme'> = new client.Gauge({
    name: 'trackgate_policy_sunset_timestamp_seconds',
    help: 'The configured sunset date (epoch seconds) of each migration policy that has one, per credential form it names: when the form stops (or stopped) working. The near-sunset alert compares it with time().',
    labelNames: ['policy', 'scheme'] as const,
    registers: [this.registry],
    // Every worker has the same config: the date, not its sum.
    aggregator: 'max',
    collect: () => {
      if (!this.#policySource) return;
      this.policySunset.reset();
      for (const s of this.#policySource()) this.policySunset.labels(s.policy, s.scheme).set(s.seconds);
    },
  });

  readonly #authTally: Tally = new Tally(this.authAttempts, 3);
  readonly #durationChildren = new Map<string, Map<string, HistogramSeries>>();
  readonly #requestTally: Tally = new Tally(this.requests, 3);
  readonly #legacyTally: Tally = new Tally(this.legacyRequests, 2);
  readonly #decisionTally: Tally = new Tally(this.decisions, 3);
  readonly #cacheEventTally: Tally = new Tally(this.cacheEvents, 1);
  readonly #upstreamChildren = new Map<number, HistogramSeries>();
  readonly #storeChildren = new Map<string, HistogramSeries>();
  readonly #now: () => number;

  /** `now`: the clock of the reload timestamp and the signing key's age (epoch ms). */
  constructor(opts: { defaultMetrics?: boolean; now?: () => number } = {}) {
    this.#now = opts.now ?? Date.now;
    // Node's process metrics under their standard names (no prefix), which stock Node.js dashboards query.
    if (opts.defaultMetrics !== false) client.collectDefaultMetrics({ register: this.registry });
    this.buildInfoGauge.labels(buildInfo()).set(1);
    this.configLastReloadSuccessful.set(1);
    this.configLastReloadSuccessTime.set(this.#now() / 1000);
  }

  /** A reload of the config, accounts and keys files was applied (`success`) or rejected (`error`). */
  configReload(result: 'success' | 'error'): void {
    this.configReloads.labels(result).inc();
    this.configLastReloadSuccessful.set(result === 'success' ? 1 : 0);
    if (result === 'success') this.configLastReloadSuccessTime.set(this.#now() / 1000);
  }

  /** A stored token's lifecycle event, by the dialect (or form) that issued it. */
  tokenEvent(event: 'issued' | 'refreshed' | 'revoked', dialect: string): void {
    this.tokens.labels(dialect, event).inc();
  }

  /** Pings the store at each scrape (`trackgate_store_up`). */
  observeStore(ping: () => Promise<void>): void {
    this.#storePing = ping;
  }

  /** A gauge of the Redis topology, labelled by mode (none exported without a Redis store). */
  #redisGauge(name: string, help: string, value: (t: RedisTopologyView) => number): client.Gauge<'mode'> {
    const gauge: client.Gauge<'mode'> = new client.Gauge({
      name, help, labelNames: ['mode'] as const, registers: [this.registry], aggregator: 'min',
      collect: async () => {
        const t = await this.#probeRedis();
        if (t !== undefined) gauge.labels(t.mode).set(value(t));
      },
    });
    return gauge;
  }

  /** Reports the Redis topology at each scrape (`trackgate_store_redis_*`); `source` never rejects. */
  observeRedisTopology(source: () => Promise<RedisTopologyView>): void {
    this.#redisTopology = source;
  }

  /** The topology for this scrape (the source shares one probe between the three metrics). */
  async #probeRedis(): Promise<RedisTopologyView | undefined> {
    if (this.#redisTopology === undefined) return undefined;
    const probe = this.#redisTopology();
    const timeout = new Promise<undefined>((r) => { setTimeout(() => r(undefined), STORE_PING_TIMEOUT_MS).unref(); });
    // A probe that does not answer in time: the master is not reachable as far as this scrape can tell.
    const t = await Promise.race([probe, timeout]);
    this.#redisSeen = t ?? (this.#redisSeen !== undefined ? { ...this.#redisSeen, masterReachable: false } : undefined);
    return this.#redisSeen;
  }

  /** Where trackgate_clients_by_scheme is read from at each scrape (the store's distinct clients in the window). */
  observeInventory(clients: () => Promise<Map<string, number>>): void {
    this.#inventoryClients = clients;
  }

  /** One store operation took `seconds` (`trackgate_store_duration_seconds`). */
  storeTime(op: string, seconds: number): void {
    let child = this.#storeChildren.get(op);
    if (child === undefined) this.#storeChildren.set(op, (child = this.storeDuration.series(op)));
    child.observe(seconds);
  }

  /** A readiness answer: `trackgate_ready`, its changes, and the store's state it found. */
  readiness(ready: boolean, storeUp: boolean): void {
    this.ready.set(ready ? 1 : 0);
    this.storeUp.set(storeUp ? 1 : 0);
    if (this.#lastReady !== undefined && this.#lastReady !== ready) this.readinessChanges.inc();
    this.#lastReady = ready;
  }

  /** Reports the key signing identity headers at each scrape (`trackgate_identity_signing_key_age_seconds`). */
  observeSigningKey(source: () => { readonly kid: string; readonly publishedAt?: number | undefined }): void {
    this.#signingKeySource = source;
  }

  /** Reports the validation cache's size at each scrape. */
  observeCache(source: { readonly size: number; readonly negativeSize: number; readonly bytes: number; readonly evictions: number }): void {
    this.#cacheSource = source;
  }

  /** Reports the number of requests in flight at each scrape. */
  observeInflight(source: () => number): void {
    this.#inflightSource = source;
  }

  /** Reports the upstream slots in use and waited for at each scrape. */
  observeSlots(source: { readonly active: number; readonly queued: number }): void {
    this.#slotSource = source;
  }

  authAttempt(scheme: string, reason: AuthReason): void {
    this.#authTally.inc(scheme, reason === 'ok' ? 'success' : 'failure', reason);
  }

  /** A validation cache lookup outcome (`hit`, `negative_hit`, `miss`) or an eviction (`evict`). */
  cacheEvent(event: string): void {
    this.#cacheEventTally.inc(event);
  }

  /** `cache`: the validation cache's outcome for the request (src/verify/cache.ts `CacheOutcome`). */
  authTime(scheme: string, cache: string, seconds: number): void {
    let byCache = this.#durationChildren.get(scheme);
    if (byCache === undefined) this.#durationChildren.set(scheme, (byCache = new Map()));
    let child = byCache.get(cache);
    if (child === undefined) byCache.set(cache, (child = this.authDuration.series(scheme, cache)));
    child.observe(seconds);
  }

  /** Time to upstream response headers, by status class (`2xx`, …). */
  upstreamTime(status: number, seconds: number): void {
    const cls = Math.floor(status / 100);
    let child = this.#upstreamChildren.get(cls);
    if (!child) {
      child = this.upstreamDuration.series(`${cls}xx`);
      this.#upstreamChildren.set(cls, child);
    }
    child.observe(seconds);
  }

  /** A request shed for overload or a too-slow client; `reason` is one of a fixed set. */
  shed(reason: string): void {
    this.shedRequests.labels(reason).inc();
  }

  tokenEndpoint(dialect: string, status: number): void {
    this.tokenEndpointRequests.labels(dialect, statusClass(status)).inc();
  }

  /** A password check's hash evaluation or padded failure (src/accounts/password-verifier.ts `PasswordCheckEvent`). */
  passwordCheck(e: { readonly type: 'hash'; readonly work: string } | { readonly type: 'failure' }): void {
    if (e.type === 'hash') this.passwordHashes.labels(e.work).inc();
    else this.passwordFailures.inc();
  }

  /** The sunsets of the running config's migration policies (read at each collection, so a reload shows at once). */
  observePolicies(source: () => readonly { policy: string; scheme: string; seconds: number }[]): void {
    this.#policySource = source;
  }

  /** An authenticated request a migration policy matched. */
  legacyRequest(scheme: string, policy: string): void {
    this.#legacyTally.inc(scheme, policy);
  }

  /** A request a report-only rule (policy or route rule) would have refused. */
  wouldDeny(rule: string): void {
    this.reportOnlyDenials.labels(rule).inc();
  }

  /** A decision answered for edge proxy `edge` (src/proxy/decision/). */
  decision(edge: string, scheme: string, status: number): void {
    this.#decisionTally.inc(edge, scheme, statusClass(status));
  }

  request(scheme: string, outcome: string, status: number): void {
    const cls = statusClass(status);
    this.#requestTally.inc(scheme, outcome, cls);
  }
}

/** A scrape waits this long for the store's ping before reporting it down. */
const STORE_PING_TIMEOUT_MS = 1000;

/** Whether `call` resolves within `ms`. */
function answersWithin(call: () => Promise<void>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    call().then(() => resolve(true), () => resolve(false)).finally(() => clearTimeout(timer));
  });
}

const STATUS_CLASSES = ['other', '1xx', '2xx', '3xx', '4xx', '5xx'];

/** `2xx`, `4xx`, …, or `other` (a constant string: this runs on every request). */
export function statusClass(status: number): string {
  return status >= 100 && status < 600 ? STATUS_CLASSES[Math.floor(status / 100)]! : 'other';
}
