/**
 * Builds a trackgate instance from a validated config: store, accounts, keys, validation cache, the
 * authentication pipeline, the proxy and admin servers, hot reload and graceful shutdown. Never reads
 * process-wide state except what it is given, so tests can run several instances in one process.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Server as NetServer, type AddressInfo, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { ConfigError, loadAccounts, loadConfig, resolveFromConfig, type LoadedConfig } from './config/load.js';
import type { Config } from './config/schema.js';
import { AccountDirectory } from './accounts/directory.js';
import { AUTHENTICATORS } from './authn/registry.js';
import { AuthPipeline } from './authn/pipeline.js';
import { RouteRules } from './authn/rules.js';
import { pathKey } from './proxy/canonical-path.js';
import type { Authenticator, AuthnDeps } from './authn/types.js';
import { TrackgateError } from './errors.js';
import type { KeyRing } from './identity/keys.js';
import { loadKeyRingOf, loadKeys } from './identity/load-keys.js';
import { IdentityMinter } from './identity/minter.js';
import { createLogger, type Logger } from './observability/log.js';
import { Metrics } from './observability/metrics.js';
import { Forwarder } from './proxy/forward.js';
import { ProxyHandler } from './proxy/handler.js';
import { UpgradeHandler } from './proxy/upgrade.js';
import { SessionLifetime } from './proxy/session-lifetime.js';
import { rawErrorResponse } from './proxy/respond.js';
import { markRefused } from './proxy/refused-sockets.js';
import { ProgressWatch } from './proxy/progress-watch.js';
import { ClientConnections } from './proxy/client-connections.js';
import type { Runtime } from './proxy/runtime.js';
import { TrustedProxies } from './proxy/trusted-proxies.js';
import { UntrustedHeaders } from './proxy/untrusted-headers.js';
import { openStore } from './store/open.js';
import { redisSharedState, type SharedState } from './store/redis-shared.js';
import type { Store } from './store/types.js';
import { ValidationCache } from './verify/cache.js';
import { CredentialDigester } from './verify/cache-key.js';
import { adminHandler } from './admin/server.js';
import { UpstreamProbe } from './admin/upstream-probe.js';
import { FileWatcher } from './config/watch.js';
import { restartRequiredChanges } from './config/reload-policy.js';
import type { RotationDecision } from './identity/signing-keys.js';
import { DIALECTS } from './issue/registry.js';
import { IssueRouter } from './issue/router.js';
import { TokenService } from './issue/tokens.js';
import { RefreshRotation } from './issue/refresh.js';
import type { Dialect, IssueDeps } from './issue/types.js';
import { MemoryThrottle, type Throttle } from './verify/throttle.js';
import { PasswordVerifier } from './accounts/password-verifier.js';
import type { NonceCounterStore } from './authn/digest-nonce-counter.js';

export interface AppOptions {
  logger?: Logger;
  env?: NodeJS.ProcessEnv;
  now?: () => number;
  /** Skip prom-client's default process metrics (tests that build many apps). */
  defaultMetrics?: boolean;
  /**
   * Worker processes (src/cluster/): state the primary shares with every worker. `generatedKeys` and
   * `generatedSecret` replace the per-process development key and secret when no keys or secret file is
   * configured; `throttle` replaces the in-memory throttle and `nonceCounter` the Digest form's own nc
   * replay store, both unless the store is Redis (shared by every replica, so it wins).
   */
  generatedKeys?: KeyRing;
  generatedSecret?: Buffer;
  throttle?: Throttle;
  nonceCounter?: NonceCounterStore;
}

/** Credential headers stripped whatever form is enabled, besides every form's own carriers. */
const ALWAYS_STRIPPED_HEADERS = ['authorization', 'authentication', 'proxy-authorization'];
/**
 * The GPS seed's legacy credential carriers, stripped even when no loaded form declares them (a form that is
 * not in this build yet must not let its secret through to the upstream).
 */
const ALWAYS_STRIPPED_LEGACY = { headers: ['instanceid', 'instancekey'], cookies: ['token'], query: ['_token', 'access_token'] };

export class App {
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly cache: ValidationCache;
  readonly minter: IdentityMinter;
  readonly proxyServer: Server;
  readonly adminServer: Server;
  #loaded: LoadedConfig;
  #accounts: AccountDirectory;
  #runtime: Runtime;
  #closing = false;
  readonly #handler: ProxyHandler;
  readonly #upgrade: UpgradeHandler;
  /** Open WebSockets, closed when their token expires or is revoked, or at the maximum lifetime. */
  readonly sessions: SessionLifetime;
  readonly #forwarder: Forwarder;
  readonly #connections = new ClientConnections();
  readonly #probe: UpstreamProbe;
  readonly #digester: CredentialDigester;
  readonly #authnDeps: AuthnDeps;
  readonly #issueDeps: IssueDeps;
  readonly tokens: TokenService;
  readonly throttle: Throttle;
  /** Every password-like check by name goes through it: equal work and an equal floor for every failure. */
  readonly passwords: PasswordVerifier;
  /** The Digest nc replay store shared beyond this process (Redis, or the cluster primary's); undefined: the Digest form keeps its own. */
  readonly nonceCounter: NonceCounterStore | undefined;
  readonly #watchers: FileWatcher[] = [];
  /** The watched files by path, while watching (a reload that names other files moves the watchers). */
  #watched: Map<string, FileWatcher> | undefined;
  readonly #opts: AppOptions;

  private constructor(
    loaded: LoadedConfig, readonly store: Store, keys: KeyRing, accounts: AccountDirectory, secret: Buffer, opts: AppOptions,
    shared: SharedState | undefined,
  ) {
    const config = loaded.config;
    this.#opts = opts;
    this.#loaded = loaded;
    this.#accounts = accounts;
    this.logger = opts.logger ?? createLogger({ level: config.logging.level });
    this.metrics = new Metrics({ defaultMetrics: opts.defaultMetrics ?? true });
    const now = opts.now ?? Date.now;
    this.cache = new ValidationCache({ ...config.cache, now, onEvent: (e) => this.metrics.cacheEvent(e) });
    this.#digester = new CredentialDigester(secret);
    // With Redis, failed attempts count across every replica.
    this.throttle = shared?.throttle ?? opts.throttle ?? new MemoryThrottle(() => this.#runtime.config.throttle, now);
    // With Redis, a Digest count accepted by one replica (pod) is refused by every other; the primary's store
    // (workers) is shared by this replica's processes only.
    this.nonceCounter = shared?.nonceCounter ?? opts.nonceCounter;
    this.passwords = new PasswordVerifier({ options: () => this.#runtime.config.passwords, onEvent: (e) => this.metrics.passwordCheck(e) });
    this.#authnDeps = {
      accounts: () => this.#accounts,
      throttle: this.throttle,
      passwords: this.passwords,
      store,
      logger: this.logger,
      sharedSecret: secret,
      now,
      metrics: this.metrics,
      formEnabled: (id) => (this.#runtime.config.authn as unknown as Record<string, { enabled?: boolean } | undefined>)[id]?.enabled === true,
      ...(this.nonceCounter !== undefined ? { nonceCounter: this.nonceCounter } : {}),
    };
    this.tokens = new TokenService(store, now);
    this.#issueDeps = {
      accounts: () => this.#accounts, store, tokens: this.tokens, throttle: this.throttle, passwords: this.passwords, logger: this.logger, now,
      refresh: new RefreshRotation(this.tokens, store, () => this.#runtime.config.issue.refreshGraceSeconds, now),
      signJwt: (claims, typ) => this.minter.signJwt(claims, typ),
      dialect: (id) => this.#runtime.dialects.get(id),
    };
    this.#runtime = this.#buildRuntime(config);
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
    this.#handler = new ProxyHandler({
      runtime: () => this.#runtime, forwarder: this.#forwarder, minter: this.minter, metrics: this.metrics, logger: this.logger, watch,
    });
    this.metrics.observeInflight(() => this.#handler.inflight);
    this.metrics.observeSlots(this.#handler.slots);
    this.sessions = new SessionLifetime({ maxLifetimeSeconds: config.upstream.websocketMaxLifetimeSeconds, now, store, logger: this.logger });
    this.#upgrade = new UpgradeHandler(this.#forwarder.origin.origin + this.#forwarder.basePath, this.#handler, () => this.#runtime, this.metrics, this.logger, this.sessions);
    this.proxyServer = createServer({ maxHeaderSize: config.limits.maxHeaderBytes, requestTimeout: config.limits.requestTimeoutMs,
      headersTimeout: config.limits.headersTimeoutMs, keepAliveTimeout: config.limits.keepAliveTimeoutMs,
      // Node enforces the two timeouts above only when it sweeps its connections, every 30 s by default: a
      // slowloris client then held a socket ~40 s against a 20 s headersTimeout. A sweep a second costs little.
      connectionsCheckingInterval: checkingIntervalMs(config.limits.headersTimeoutMs),
      // The guard rejects a Host-less HTTP/1.1 request itself, with a JSON body and a log line.
      requireHostHeader: false }, this.#handler.handle);
    this.proxyServer.on('connection', (socket: Socket) => this.#connection(socket));
    // `Expect: 100-continue`: Node would send 100 at once; the handler sends it only after authentication,
    // so a client with bad credentials does not upload its body for nothing.
    this.proxyServer.on('checkContinue', this.#handler.handle);
    this.proxyServer.on('upgrade', this.#upgrade.handle);
    this.proxyServer.on('clientError', (err, socket) => this.#clientError(err, socket));
    // Without a listener Node drops CONNECT requests without a word; trackgate is not a forward proxy.
    this.proxyServer.on('connect', (req: IncomingMessage, socket: Duplex) => this.#connect(req, socket));
    this.adminServer = createServer(adminHandler({
      metrics: this.metrics,
      keys: () => this.minter,
      closing: () => this.#closing,
      readiness: () => this.readiness(),
    }));
    this.adminServer.on('clientError', (_err, socket) => socket.destroy());
    this.store.subscribe((e) => {
      this.sessions.onStoreEvent(e);
      // Revocation events may have been missed (a replica's subscription to the store was down): drop everything.
      if (e.type === 'resync') { this.cache.clear(); return; }
      this.cache.deleteTokenDigests(new Set(e.digests));
    });
    this.metrics.observeCache(this.cache);
    void this.passwords.calibrate(accounts);
  }

  /** Loads everything a config names and builds the app (does not listen). */
  static async create(loaded: LoadedConfig, opts: AppOptions = {}): Promise<App> {
    const config = loaded.config;
    const accounts = new AccountDirectory(loadAccounts(loaded.accountsPath));
    const { ring: keys, secret, secretGenerated } = loadKeys(loaded, { ring: opts.generatedKeys, secret: opts.generatedSecret });
    const store = await openStore(config.store);
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
    app.#logRotation(app.minter.refreshKeys());
    return app;
  }

  get config(): Config { return this.#runtime.config; }

  /** Store and upstream reachability (`/readyz`; the cluster primary asks each worker). Never rejects. */
  async readiness(): Promise<Record<string, { ok: boolean; detail?: string }>> {
    const store = await this.store.ping().then(() => ({ ok: true }), (e: Error) => ({ ok: false, detail: e.message }));
    return { store, upstream: await this.#probe.check() };
  }
  get runtime(): Runtime { return this.#runtime; }
  get closing(): boolean { return this.#closing; }

  #buildRuntime(config: Config): Runtime {
    const forms: Authenticator[] = [];
    const headers = new Set([...ALWAYS_STRIPPED_HEADERS, ...ALWAYS_STRIPPED_LEGACY.headers]);
    const cookies = new Set<string>(ALWAYS_STRIPPED_LEGACY.cookies);
    const query = new Set<string>(ALWAYS_STRIPPED_LEGACY.query);
    for (const m of AUTHENTICATORS) {
      const opts = (config.authn as unknown as Record<string, { enabled: boolean }>)[m.id]!;
      const form = m.create(opts as never, this.#authnDeps);
      // Every form's carriers are stripped, enabled or not: a disabled form's secret must not reach upstream.
      form.carriers.headers?.forEach((h) => headers.add(h.toLowerCase()));
      form.carriers.cookies?.forEach((c) => cookies.add(c));
      form.carriers.query?.forEach((q) => query.add(q));
      if (opts.enabled) forms.push(form);
    }
    const dialects: Dialect[] = [];
    for (const m of DIALECTS) {
      const opts = (config.issue as unknown as Record<string, { enabled: boolean }>)[m.id]!;
      if (opts.enabled) dialects.push(m.create(opts as never, this.#issueDeps));
    }
    const identityHeader = config.identity.header.toLowerCase();
    return Object.freeze({
      issue: new IssueRouter(dialects, (p) => pathKey(p, config.routing.caseInsensitive)),
      dialects: new Map(dialects.map((d) => [d.id, d])),
      config,
      pipeline: new AuthPipeline(forms, this.cache, this.#digester, config.authn.rejectAmbiguous),
      rules: new RouteRules(config.routes, config.routing.caseInsensitive),
      guard: { identityHeader, singletonHeaders: new Set([...headers, 'host', 'content-length']), maxBodyBytes: config.limits.maxRequestBodyBytes },
      headerPolicy: {
        identityHeader, credentialHeaders: headers, credentialCookies: cookies,
        preserveHost: config.upstream.preserveHost, requestIdHeader: config.proxy.requestIdHeader.toLowerCase(),
        untrusted: new UntrustedHeaders(config.proxy.stripHeaders, config.proxy.keepHeaders),
      },
      trustedProxies: new TrustedProxies(config.proxy.trustedProxies, config.proxy.trustForwardedProto),
      credentialQuery: [...query],
    });
  }

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
    if (config.watch) this.#watch();
    return this.proxyServer.address() as AddressInfo;
  }

  /**
   * Re-reads the config, accounts and keys files. An invalid change is rejected, logged and counted; the
   * running config stays. Returns whether the new files were applied.
   */
  reload(): boolean {
    const file = this.#loaded.file;
    try {
      const loaded = file === undefined ? this.#loaded : loadConfig(file, this.#opts.env ?? process.env);
      const accounts = new AccountDirectory(loadAccounts(loaded.accountsPath));
      const keys = loadKeyRingOf(loaded);
      const runtime = (() => { const prev = this.#accounts; this.#accounts = accounts; try { return this.#buildRuntime(loaded.config); } finally { this.#accounts = prev; } })();
      const restartOnly = restartRequiredChanges(this.#loaded.config, loaded.config);
      if (restartOnly.length > 0) this.logger.warn({ keys: restartOnly }, 'config keys changed that take effect only after a restart');
      this.#loaded = loaded;
      this.#accounts = accounts;
      this.#runtime = runtime;
      this.logger.level = loaded.config.logging.level;
      // The minter reads identity.* (minPublishSeconds included) from the runtime just swapped in.
      this.#logRotation(keys !== undefined && keysChanged(this.minter.keys, keys) ? this.minter.setKeys(keys) : this.minter.refreshKeys());
      if (this.#watched !== undefined) this.#watch();
      void this.passwords.calibrate(accounts);
      applyServerLimits(this.proxyServer, loaded.config);
      // Removed accounts and changed passwords must stop working at once.
      this.cache.clear();
      this.metrics.configReloads.labels('success').inc();
      this.logger.info({ file, accounts: loaded.accountsPath }, 'configuration reloaded');
      return true;
    } catch (err) {
      this.metrics.configReloads.labels('error').inc();
      this.logger.error({ err: err instanceof ConfigError ? err.message : (err as Error).message }, 'configuration change rejected; keeping the running configuration');
      return false;
    }
  }

  #logRotation(d: RotationDecision): void {
    const at = (ms: number): string => new Date(ms).toISOString();
    if (d.deferred !== undefined) {
      this.logger.warn({ kid: d.deferred.kid, signing: d.signing, activatesAt: at(d.deferred.activatesAt) },
        'identity key published for less than identity.minPublishSeconds: the previous key keeps signing until then');
    }
    if (d.early !== undefined) {
      this.logger.warn({ kid: d.early.kid, safeAt: at(d.early.readyAt) },
        'identity key signs before it was published for identity.minPublishSeconds (no other key can sign): upstreams with a cached JWKS may reject it');
    }
    for (const r of d.retained) this.logger.info({ kid: r.kid, until: at(r.until) }, 'identity key removed from the keys file: still published until its headers expired');
  }

  /** Watches the config, accounts and keys files; again after a reload, so a changed path is followed. */
  #watch(): void {
    const files = [this.#loaded.file, this.#loaded.accountsPath, this.#loaded.config.identity.keysFile === undefined ? undefined : resolveFromConfig(this.#loaded, this.#loaded.config.identity.keysFile)]
      .filter((f): f is string => f !== undefined);
    const watched = this.#watched ??= new Map();
    for (const [f, w] of watched) {
      if (files.includes(f)) continue;
      w.close();
      watched.delete(f);
      this.#watchers.splice(this.#watchers.indexOf(w), 1);
    }
    for (const f of files) {
      if (watched.has(f)) continue;
      const w = new FileWatcher(f, () => this.reload());
      watched.set(f, w);
      this.#watchers.push(w);
    }
  }

  /** A new proxy-port connection: counted, and refused when its address has too many open already. */
  #connection(socket: Socket): void {
    const max = this.#runtime.config.limits.maxConnectionsPerClient;
    if (this.#connections.admit(socket, max)) return;
    socket.on('error', () => socket.destroy());
    const e = new TrackgateError('TG_ERR_OVERLOADED', 'too many connections from this address', { detail: 'client_connections', headers: { 'retry-after': '1' } });
    this.metrics.shed('client_connections');
    this.logger.warn({ reason: 'client_connections', err: e.code, ip: socket.remoteAddress, limit: max }, 'request shed');
    // Sockets are half-open and the parser is already attached: end alone would still let a request sent
    // before the 503 be read and forwarded, so the handlers drop a marked socket and it is destroyed here.
    markRefused(socket);
    socket.end(rawErrorResponse(e), () => socket.destroy());
  }

  #connect(req: IncomingMessage, socket: Duplex): void {
    socket.on('error', () => socket.destroy());
    const e = new TrackgateError('TG_ERR_METHOD_NOT_ALLOWED', 'CONNECT is not supported', { detail: 'CONNECT request' });
    this.metrics.badRequests.labels(e.code).inc();
    this.logger.warn({ method: req.method, err: e.code, detail: e.detail, ip: (socket as Socket).remoteAddress }, 'request rejected');
    socket.end(rawErrorResponse(e));
  }

  #clientError(err: NodeJS.ErrnoException & { code?: string }, socket: Duplex): void {
    const code = err.code ?? '';
    if (code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    // Bad bytes after a complete request whose answer is still being made (Node keeps that response as
    // `_httpMessage`): a 400 written now would come first, and the client would read it as the answer to the
    // good request. Answer after it (or not at all, when that response closes the connection).
    const inFlight = (socket as Duplex & { _httpMessage?: ServerResponse | null })._httpMessage;
    if (inFlight != null && !inFlight.writableFinished && inFlight.req?.complete === true) {
      let retried = false;
      const retry = (): void => { if (!retried) { retried = true; setImmediate(() => this.#clientError(err, socket)); } };
      inFlight.once('finish', retry);
      inFlight.once('close', retry);
      return;
    }
    let e: TrackgateError;
    if (code === 'HPE_HEADER_OVERFLOW') e = new TrackgateError('TG_ERR_HEADER_TOO_LARGE', 'request header too large');
    else if (code === 'ERR_HTTP_REQUEST_TIMEOUT') e = new TrackgateError('TG_ERR_BAD_REQUEST', 'request timeout', { status: 408 });
    else e = new TrackgateError('TG_ERR_BAD_REQUEST', 'malformed HTTP request');
    this.metrics.badRequests.labels(e.code).inc();
    // Never log err.rawPacket: it holds the request head, credentials included.
    this.logger.warn({ err: e.code, detail: code, ip: (socket as Socket).remoteAddress }, 'malformed request rejected');
    socket.end(rawErrorResponse(e));
  }

  /**
   * Graceful stop: readiness turns 503, no new connections, in-flight requests get up to `graceMs`,
   * then the rest are cut and everything closes.
   */
  async close(graceMs = this.#runtime.config.shutdown.graceMs): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    this.#handler.draining = true;
    for (const w of this.#watchers) w.close();
    // Stop accepting, but without http.Server.close(), which also closes every idle keep-alive connection
    // at once: a client reusing one at that moment gets a reset. Instead every response from now on says
    // `Connection: close`, so busy clients leave on their own; connections still idle after
    // DRAIN_IDLE_CLOSE_MS are closed (clients that idle that long are not about to send).
    const closed = new Promise<void>((resolve) => { if (!this.proxyServer.listening) resolve(); else NetServer.prototype.close.call(this.proxyServer, () => resolve()); });
    const started = Date.now();
    const deadline = started + graceMs;
    const idleCloseAt = started + Math.min(DRAIN_IDLE_CLOSE_MS, graceMs);
    while (Date.now() < deadline && (this.#handler.inflight > 0 || (this.#connections.open > 0 && Date.now() < idleCloseAt))) {
      await new Promise((r) => setTimeout(r, 25));
      if (Date.now() >= idleCloseAt) this.proxyServer.closeIdleConnections();
    }
    if (this.#handler.inflight > 0) this.logger.warn({ inflight: this.#handler.inflight }, 'grace period over; closing remaining connections');
    this.proxyServer.closeIdleConnections();
    this.proxyServer.closeAllConnections();
    this.#handler.watch.clear();
    // Upgraded sockets are not among the server's connections, yet server.close() waits for them.
    this.sessions.closeAll();
    await closed;
    // http.Server.close() also stops Node's connection sweep timer (see checkingIntervalMs).
    this.proxyServer.close(() => undefined);
    this.#upgrade.close();
    await this.#forwarder.close().catch(() => undefined);
    this.adminServer.closeAllConnections();
    await closeServer(this.adminServer);
    await this.store.close();
  }
}

export function listenOn(server: Server, hostPort: string): Promise<void> {
  const i = hostPort.lastIndexOf(':');
  const host = hostPort.slice(0, i).replace(/^\[|\]$/g, '');
  const port = Number(hostPort.slice(i + 1));
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => { server.removeListener('error', reject); resolve(); });
  });
}

/** How long a draining instance leaves idle keep-alive connections open before closing them. */
const DRAIN_IDLE_CLOSE_MS = 500;

/** Node's connection sweep interval: `headersTimeoutMs` is then honoured within a quarter of it, at most 1 s late. */
function checkingIntervalMs(headersTimeoutMs: number): number {
  return Math.max(50, Math.min(1000, Math.floor(headersTimeoutMs / 4)));
}

/**
 * The server's own limits, applied again on reload (Node reads them per connection or per sweep); only the
 * sweep interval stays as it was at start.
 */
function applyServerLimits(server: Server, config: Config): void {
  (server as Server & { maxHeaderSize: number }).maxHeaderSize = config.limits.maxHeaderBytes;
  server.requestTimeout = config.limits.requestTimeoutMs;
  server.headersTimeout = config.limits.headersTimeoutMs;
  server.keepAliveTimeout = config.limits.keepAliveTimeoutMs;
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => { if (!server.listening) resolve(); else server.close(() => resolve()); });
}

/** Whether the key ring differs: its keys, their publication stamps or the key it wants to sign with. */
function keysChanged(a: KeyRing, b: KeyRing): boolean {
  const sig = (r: KeyRing): string => JSON.stringify([r.jwks(), r.keys.map((k) => k.publishedAt ?? null), r.active.kid]);
  return sig(a) !== sig(b);
}

export type { IncomingMessage };
