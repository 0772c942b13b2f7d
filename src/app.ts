/**
 * The composition root: builds a trackgate instance from a validated config (store, accounts, keys,
 * validation cache, the authentication pipeline, the proxy and admin servers) and runs its life: listen,
 * hot reload, graceful shutdown. Never reads process-wide state except what it is given, so tests can run
 * several instances in one process. Its parts live in src/app/, one idea each.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConfigError, resolveFromConfig } from './config/load.js';
import type { Config, LoadedConfig } from './config-schema.js';
import { loadAccounts } from './accounts/load.js';
import { AccountDirectory } from './accounts/directory.js';
import type { AuthnDeps } from './authn/types.js';
import type { KeyRing } from './identity/keys.js';
import { loadKeys } from './identity/load-keys.js';
import { IdentityMinter } from './identity/minter.js';
import { createLogger, type Logger } from './observability/log.js';
import { Metrics } from './observability/metrics.js';
import { Forwarder } from './proxy/forward.js';
import { ProxyHandler } from './proxy/handler.js';
import { UpgradeHandler } from './proxy/upgrade.js';
import { SessionLifetime } from './proxy/session-lifetime.js';
import { ProgressWatch } from './proxy/progress-watch.js';
import { ClientConnections } from './proxy/client-connections.js';
import { closeServer, listenOn } from './proxy/listen.js';
import type { Runtime } from './proxy/runtime.js';
import { openStore } from './store/open.js';
import { redisSharedState, type SharedState } from './store/redis-shared.js';
import type { RedisTopology } from './store/redis-topology.js';
import type { Store } from './store/types.js';
import { TimedStore } from './store/timed-store.js';
import { ValidationCache } from './verify/cache.js';
import { CredentialDigester } from './verify/cache-key.js';
import { adminHandler, type ReadinessCheck } from './admin/server.js';
import { openApiDocument } from './admin/openapi.js';
import { carriersOf } from './authn/registry.js';
import { packageVersion } from './observability/build-info.js';
import { UpstreamProbe } from './admin/upstream-probe.js';
import { restartRequiredChanges } from './config/reload-policy.js';
import { TokenService } from './issue/tokens.js';
import { RefreshRotation } from './issue/refresh.js';
import type { IssueDeps } from './issue/types.js';
import { MemoryThrottle, type Throttle } from './store/throttle.js';
import { PasswordVerifier } from './accounts/password-verifier.js';
import type { NonceCounterStore } from './store/digest-nonce-counter.js';
import type { AppOptions } from './app/options.js';
import { buildRuntime, type RuntimeParts } from './app/runtime.js';
import { applyServerLimits, createProxyServer } from './app/proxy-server.js';
import { SocketAnswers } from './app/socket-answers.js';
import { createDecisionServer } from './app/decision-server.js';
import { DecisionHandler } from './proxy/decision/handler.js';
import { drainProxyServer } from './app/drain.js';
import { WatchedFiles } from './app/watched-files.js';
import { configFiles, rereadFiles } from './app/config-files.js';
import { updateSigningKeys } from './app/signing-key-updates.js';
import { InventoryRecorder } from './inventory/recorder.js';
import { OperatorGate } from './admin/operators.js';

export type { AppOptions } from './app/options.js';

export class App {
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly cache: ValidationCache;
  readonly minter: IdentityMinter;
  readonly proxyServer: Server;
  readonly adminServer: Server;
  /** The decision (forward-auth) listener, when `decision.listen` is set. */
  readonly decisionServer: Server | undefined;
  /** The store, timed per operation for the metrics. */
  readonly store: Store;
  #loaded: LoadedConfig;
  #accounts: AccountDirectory;
  #runtime: Runtime<Config>;
  #closing = false;
  readonly #handler: ProxyHandler;
  readonly #upgrade: UpgradeHandler;
  /** Open WebSockets, closed when their token expires or is revoked, or at the maximum lifetime. */
  readonly sessions: SessionLifetime;
  readonly #forwarder: Forwarder;
  readonly #connections = new ClientConnections();
  readonly #probe: UpstreamProbe;
  readonly #parts: RuntimeParts;
  readonly tokens: TokenService;
  readonly throttle: Throttle;
  /** Every password-like check by name goes through it: equal work and an equal floor for every failure. */
  readonly passwords: PasswordVerifier;
  /** The Digest nc replay store shared beyond this process (Redis, or the cluster primary's); undefined: the Digest form keeps its own. */
  readonly nonceCounter: NonceCounterStore | undefined;
  /** Batches who used which credential form; written to the store every `inventory.flushSeconds` and on close. */
  readonly inventory: InventoryRecorder;
  /** The config, accounts and keys files, while watching. */
  #files: WatchedFiles | undefined;
  readonly #opts: AppOptions;
  /** With a Redis store: its topology's health. */
  readonly #topology: (() => Promise<RedisTopology>) | undefined;

  private constructor(
    loaded: LoadedConfig, opened: Store, keys: KeyRing, accounts: AccountDirectory, secret: Buffer, opts: AppOptions,
    shared: SharedState | undefined,
  ) {
    const config = loaded.config;
    this.#opts = opts;
    this.#loaded = loaded;
    this.#accounts = accounts;
    this.logger = opts.logger ?? createLogger({ level: config.logging.level });
    const now = opts.now ?? Date.now;
    this.metrics = new Metrics({ defaultMetrics: opts.defaultMetrics ?? true, now });
    const store = this.store = new TimedStore(opened, (op, seconds) => this.metrics.storeTime(op, seconds), (e, dialect) => this.metrics.tokenEvent(e, dialect));
    this.metrics.observeStore(() => store.ping());
    this.cache = new ValidationCache({ ...config.cache, now, onEvent: (e) => this.metrics.cacheEvent(e) });
    // With Redis, failed attempts count across every replica.
    this.throttle = shared?.throttle ?? opts.throttle ?? new MemoryThrottle(() => this.#runtime.config.throttle, now);
    // With Redis, a Digest count accepted by one replica (pod) is refused by every other; the primary's store
    // (workers) is shared by this replica's processes only.
    this.nonceCounter = shared?.nonceCounter ?? opts.nonceCounter;
    this.#topology = shared?.topology;
    if (this.#topology !== undefined) this.metrics.observeRedisTopology(this.#topology);
    this.passwords = new PasswordVerifier({ options: () => this.#runtime.config.passwords, onEvent: (e) => this.metrics.passwordCheck(e) });
    const authnDeps: AuthnDeps = {
      accounts: () => this.#accounts,
      throttle: this.throttle,
      passwords: this.passwords,
      store,
      logger: this.logger,
      sharedSecret: secret,
      now,
      metrics: this.metrics,
      formEnabled: (id) => this.#runtime.config.authn[id].enabled,
      ...(this.nonceCounter !== undefined ? { nonceCounter: this.nonceCounter } : {}),
    };
    this.tokens = new TokenService(store, now);
    const issueDeps: IssueDeps = {
      accounts: () => this.#accounts, store, tokens: this.tokens, throttle: this.throttle, passwords: this.passwords, logger: this.logger, now,
      refresh: new RefreshRotation(this.tokens, store, () => this.#runtime.config.issue.refreshGraceSeconds, now),
      signJwt: (claims, typ) => this.minter.signJwt(claims, typ),
    };
    this.#parts = { authnDeps, issueDeps, cache: this.cache, digester: new CredentialDigester(secret) };
    this.#runtime = buildRuntime(config, this.#parts);
    // Reads identity.* from the running config at each mint (hot reload).
    this.minter = new IdentityMinter(keys, () => this.#runtime.config.identity, now, () => this.metrics.identityMints.inc(),
      (kid) => this.logger.info({ kid }, 'identity signing key activated: published for identity.minPublishSeconds'));
    const watch = new ProgressWatch();
    this.#forwarder = new Forwarder(config.upstream, {
      watch,
      sendIdleMs: () => this.#runtime.config.limits.sendIdleTimeoutMs,
      draining: () => this.#closing,
      onSendStall: (res) => {
        this.metrics.shed('send_idle');
        this.logger.warn({ reason: 'send_idle', ip: res.req.socket.remoteAddress, detail: 'client read nothing of the response within limits.sendIdleTimeoutMs' }, 'request shed');
      },
      endAfterBody: (req, end) => this.#handler.endAfterBody(req, end),
    });
    this.#probe = new UpstreamProbe(this.#forwarder.origin);
    this.inventory = new InventoryRecorder(store, () => this.#runtime.config.inventory, now, this.logger, {
      dropped: (n) => this.metrics.inventoryDropped.inc(n),
      written: (ok, n) => this.metrics.inventoryWrites.labels(ok ? 'ok' : 'error').inc(n),
    });
    this.metrics.observeInventory(() => store.countInventoryClients(now() - this.#runtime.config.inventory.clientsWindowDays * 86_400_000));
    this.#handler = new ProxyHandler({
      runtime: () => this.#runtime, forwarder: this.#forwarder, minter: this.minter, metrics: this.metrics, logger: this.logger, watch,
      inventory: this.inventory,
    });
    this.metrics.observeInflight(() => this.#handler.inflight);
    this.metrics.observeSlots(this.#handler.slots);
    this.sessions = new SessionLifetime({ maxLifetimeSeconds: config.upstream.websocketMaxLifetimeSeconds, now, store, logger: this.logger });
    this.#upgrade = new UpgradeHandler({ origin: this.#forwarder.origin.origin, basePath: this.#forwarder.basePath, connectTimeoutMs: config.upstream.connectTimeoutMs }, this.#handler, () => this.#runtime, this.metrics, this.logger, this.sessions);
    this.proxyServer = createProxyServer(config, this.#handler, this.#upgrade, new SocketAnswers({
      metrics: this.metrics, logger: this.logger, connections: this.#connections,
      maxConnectionsPerClient: () => this.#runtime.config.limits.maxConnectionsPerClient,
    }));
    this.decisionServer = config.decision.listen === undefined ? undefined : createDecisionServer(config, new DecisionHandler({
      runtime: () => this.#runtime, proxy: this.#handler, minter: this.minter, metrics: this.metrics, logger: this.logger, now,
    }));
    this.adminServer = createServer(adminHandler({
      metrics: this.metrics,
      keys: () => this.minter,
      closing: () => this.#closing,
      readiness: () => this.readiness(),
      openapi: () => this.openapi(),
      operators: new OperatorGate({
        file: () => { const f = this.#runtime.config.admin.operatorsFile; return f === undefined ? undefined : resolveFromConfig(this.#loaded, f); },
        passwords: this.passwords, throttle: this.throttle, now,
      }),
      inventory: store, now, logger: this.logger,
      policies: () => ({ policies: this.#runtime.policies.rows() }),
    }));
    this.adminServer.on('clientError', (_err, socket) => socket.destroy());
    this.store.subscribe((e) => {
      this.sessions.onStoreEvent(e);
      // Revocation events may have been missed (a replica's subscription to the store was down): drop everything.
      if (e.type === 'resync') { this.cache.clear(); return; }
      this.cache.deleteTokenDigests(new Set(e.digests));
    });
    this.metrics.observeCache(this.cache);
    this.metrics.observePolicies(() => this.#runtime.policies.sunsets());
    this.metrics.observeSigningKey(() => ({ kid: this.minter.signingKid, publishedAt: this.minter.keys.keys.find((k) => k.kid === this.minter.signingKid)?.publishedAt }));
    void this.passwords.calibrate(accounts);
  }

  /** The OpenAPI document of the running config's token endpoints and forms (`/openapi.json`). */
  openapi(): unknown {
    const rt = this.#runtime;
    const address = this.proxyServer.address();
    return openApiDocument({
      router: rt.issue, forms: rt.pipeline.enabledForms, carriers: (id) => carriersOf(id, rt.config.authn[id]), version: packageVersion(),
      forwarded: rt.config.admin.openapiPaths,
      server: address !== null && typeof address === 'object' ? `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}` : undefined,
    });
  }

  /** Loads everything a config names and builds the app (does not listen). */
  static async create(loaded: LoadedConfig, opts: AppOptions = {}): Promise<App> {
    const config = loaded.config;
    const accounts = new AccountDirectory(loadAccounts(loaded.accountsPath));
    const { ring: keys, secret, secretGenerated } = loadKeys(loaded, { ring: opts.generatedKeys, secret: opts.generatedSecret });
    const store = await openStore(config.store, opts.env ?? process.env);
    // The throttle reads its rules from the running config (hot reload), which exists once the app does.
    let app: App | undefined;
    const shared = await redisSharedState(store, () => (app?.config ?? config).throttle, opts.now ?? Date.now);
    app = new App(loaded, store, keys, accounts, secret, opts, shared);
    // A key or secret handed over by the cluster primary: the primary warns, once.
    if (keys.generated && opts.generatedKeys === undefined) {
      app.logger.warn('DEVELOPMENT ONLY: no identity.keysFile configured; a signing key was generated for this process. Upstreams will reject its headers after a restart. Run `trackgate keys generate` and set identity.keysFile.');
    }
    if (secretGenerated && opts.generatedSecret === undefined) {
      app.logger.warn('no secretFile configured: using a random per-process secret (fingerprints change on restart; replicas cannot share Digest nonces).');
    }
    if (loaded.envUnknown.length > 0) app.logger.warn({ vars: loaded.envUnknown }, 'unknown TRACKGATE_* environment variables ignored');
    // A key the file makes active but published moments ago (its published_at) is deferred at start too.
    updateSigningKeys(app.minter, undefined, app.logger);
    return app;
  }

  get config(): Config { return this.#runtime.config; }

  /**
   * Store and upstream reachability (`/readyz`; the cluster primary asks each worker); with Redis the topology
   * too, and no reachable master is not ready. Never rejects.
   */
  async readiness(): Promise<Record<string, ReadinessCheck>> {
    let store: ReadinessCheck = await this.store.ping().then(() => ({ ok: true }), (e: Error) => ({ ok: false, detail: e.message }));
    if (this.#topology !== undefined) {
      const redis = await this.#topology();
      store = { ...store, ok: store.ok && redis.masterReachable, redis, ...(store.ok && !redis.masterReachable ? { detail: redis.detail ?? 'no master' } : {}) };
    }
    const upstream = await this.#probe.check();
    this.metrics.readiness(store.ok && upstream.ok, store.ok);
    return { store, upstream };
  }
  get runtime(): Runtime<Config> { return this.#runtime; }
  get closing(): boolean { return this.#closing; }

  /** Listens on both ports; resolves with the bound addresses. */
  async listen(): Promise<{ proxy: AddressInfo; admin: AddressInfo }> {
    const config = this.#runtime.config;
    await listenOn(this.adminServer, config.admin.listen);
    const proxy = await this.listenProxy();
    const admin = this.adminServer.address() as AddressInfo;
    this.logger.info({ proxy: `${proxy.address}:${proxy.port}`, admin: `${admin.address}:${admin.port}`, upstream: config.upstream.url, store: this.store.engine }, 'trackgate listening');
    return { proxy, admin };
  }

  /** Listens on the proxy port only (a cluster worker: the primary serves the admin port) and starts watching files. */
  async listenProxy(): Promise<AddressInfo> {
    const config = this.#runtime.config;
    await listenOn(this.proxyServer, config.listen);
    if (this.decisionServer !== undefined) {
      await listenOn(this.decisionServer, config.decision.listen!);
      const d = this.decisionServer.address() as AddressInfo;
      this.logger.info({ decision: `${d.address}:${d.port}` }, 'decision listener up');
    }
    if (config.watch) (this.#files ??= new WatchedFiles(() => this.reload())).follow(configFiles(this.#loaded));
    this.inventory.start();
    return this.proxyServer.address() as AddressInfo;
  }

  /**
   * Re-reads the config, accounts and keys files. An invalid change is rejected, logged and counted; the
   * running config stays. Returns whether the new files were applied.
   */
  reload(): boolean {
    const file = this.#loaded.file;
    try {
      const { loaded, accounts, keys } = rereadFiles(this.#loaded, this.#opts.env ?? process.env);
      // Forms and dialects built now may read the accounts they are given: the new ones.
      const runtime = (() => { const prev = this.#accounts; this.#accounts = accounts; try { return buildRuntime(loaded.config, this.#parts); } finally { this.#accounts = prev; } })();
      const restartOnly = restartRequiredChanges(this.#loaded.config, loaded.config);
      if (restartOnly.length > 0) this.logger.warn({ keys: restartOnly }, 'config keys changed that take effect only after a restart');
      this.#loaded = loaded;
      this.#accounts = accounts;
      this.#runtime = runtime;
      this.logger.level = loaded.config.logging.level;
      // The minter reads identity.* (minPublishSeconds included) from the runtime just swapped in.
      updateSigningKeys(this.minter, keys, this.logger);
      this.#files?.follow(configFiles(loaded));
      void this.passwords.calibrate(accounts);
      applyServerLimits(this.proxyServer, loaded.config);
      // Removed accounts and changed passwords must stop working at once.
      this.cache.clear();
      this.metrics.configReload('success');
      this.logger.info({ file, accounts: loaded.accountsPath }, 'configuration reloaded');
      return true;
    } catch (err) {
      this.metrics.configReload('error');
      this.logger.error({ err: err instanceof ConfigError ? err.message : (err as Error).message }, 'configuration change rejected; keeping the running configuration');
      return false;
    }
  }

  /**
   * Graceful stop: readiness turns 503, no new connections, in-flight requests get up to `graceMs`,
   * then the rest are cut and everything closes.
   */
  async close(graceMs = this.#runtime.config.shutdown.graceMs): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    // Every response from now on says `Connection: close`, so busy clients leave on their own.
    this.#handler.draining = true;
    this.#files?.close();
    // The decision listener stops taking connections with the proxy port; decisions under way are answered.
    const decisionClosed = this.decisionServer === undefined ? undefined : new Promise<void>((r) => this.decisionServer!.close(() => r()));
    this.decisionServer?.closeIdleConnections();
    await drainProxyServer(this.proxyServer, {
      inflight: () => this.#handler.inflight,
      openConnections: () => this.#connections.open,
      cut: () => {
        this.#handler.watch.clear();
        // Upgraded sockets are not among the server's connections, yet server.close() waits for them.
        this.sessions.closeAll();
      },
    }, graceMs, this.logger);
    this.decisionServer?.closeAllConnections();
    await decisionClosed;
    await this.#upgrade.close().catch(() => undefined);
    await this.#forwarder.close().catch(() => undefined);
    this.adminServer.closeAllConnections();
    await closeServer(this.adminServer);
    // Sightings since the last write: the store is still open.
    await this.inventory.close().catch(() => undefined);
    await this.store.close();
  }
}
