/**
 * The cluster primary (`workers` > 1): forks the workers that serve the proxy port and serves the admin port
 * itself: `/metrics` aggregated across workers, `/healthz`, `/readyz` (ready when every worker listens and
 * reports its store and upstream reachable), `/.well-known/jwks.json`. It holds the state workers must
 * share for security: the brute-force throttle and the Digest nc replay store (workers reach them over IPC),
 * and, when no keys or secret file is configured, the development signing key and HMAC secret.
 *
 * SIGTERM/SIGINT: every worker drains as a single process does (App.close, `shutdown.graceMs`); the primary
 * exits 0 once all have exited, or kills them and exits 1 after `shutdown.graceMs` + {@link SHUTDOWN_MARGIN_MS}.
 * A second signal kills the workers and exits 1 at once.
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { listenOn } from '../proxy/listen.js';
import { adminHandler } from '../admin/server.js';
import { policyRows } from '../authn/form-policies.js';
import { MemoryNonceCounterStore } from '../store/digest-nonce-counter.js';
import type { LoadedConfig } from '../config-schema.js';
import { createLogger, type Logger } from '../observability/log.js';
import { MemoryThrottle } from '../store/throttle.js';
import { openStore } from '../store/open.js';
import { PasswordVerifier } from '../accounts/password-verifier.js';
import { resolveFromConfig } from '../config/load.js';
import { OperatorGate } from '../admin/operators.js';
import type { IpcChannel } from './ipc.js';
import { PrimaryMetrics } from './metrics.js';
import { WorkerPool } from './pool.js';
import { PrimaryKeys } from './primary-keys.js';
import { METHOD, type Bootstrap, type NonceRecordParams, type ReadinessResult, type ThrottleParams } from './protocol.js';

/** Beyond `shutdown.graceMs`: time workers get to close their store and exit after their drain. */
export const SHUTDOWN_MARGIN_MS = 5000;
/** Time `/readyz` waits for each worker's own readiness. */
const READINESS_TIMEOUT_MS = 3000;

export interface PrimaryOptions {
  /** Worker processes to run (≥ 2). */
  workers: number;
  /** The environment the config was loaded with; forwarded to the workers (the demo sets TRACKGATE_UPSTREAM). */
  env?: NodeJS.ProcessEnv;
  /** Runs after the workers exited and the admin port closed (the demo stops its upstream). */
  onClose?: () => Promise<void>;
}

export async function runPrimary(loaded: LoadedConfig, opts: PrimaryOptions): Promise<{ logger: Logger }> {
  const config = loaded.config;
  const size = opts.workers;
  const logger = createLogger({ level: config.logging.level, fields: { pid: process.pid, role: 'primary' } });
  const keys = new PrimaryKeys(loaded, opts.env ?? process.env, logger);
  const secret = config.secretFile === undefined ? randomBytes(32) : undefined;
  // The one throttle and nc store of all workers (a worker's own would give an attacker N× the attempts, and
  // let a Digest nc used on one worker be replayed on another).
  const throttle = new MemoryThrottle(() => keys.config.throttle);
  const counters = new MemoryNonceCounterStore({ maxNonces: config.authn.digest.maxTrackedNonces, now: Date.now });
  const bootstrap: Bootstrap = {
    configFile: loaded.file,
    ...(keys.generatedJwks !== undefined ? { generatedJwks: keys.generatedJwks } : {}),
    ...(secret !== undefined ? { generatedSecret: secret.toString('base64') } : {}),
  };

  const serve = (ch: IpcChannel): void => {
    ch.handle(METHOD.bootstrap, () => bootstrap)
      .handle(METHOD.throttleCheck, (p: ThrottleParams) => throttle.check(p.keys))
      .handle(METHOD.throttleFail, (p: ThrottleParams) => throttle.fail(p.keys))
      .handle(METHOD.throttleSucceed, (p: ThrottleParams) => throttle.succeed(p.keys))
      .handle(METHOD.nonceRecord, (p: NonceRecordParams) => counters.record(p.nonce, p.nc, p.issuedAt, p.expiresAt));
  };
  let metrics: PrimaryMetrics | undefined;
  const pool = new WorkerPool({
    size, logger, serve,
    exec: fileURLToPath(new URL('./worker-main.js', import.meta.url)),
    ...(opts.env !== undefined ? { env: opts.env } : {}),
    onRestart: () => metrics?.restarts.inc(),
  });
  metrics = new PrimaryMetrics(() => pool.listening());

  let closing = false;
  const readiness = async (): Promise<ReadinessResult> => {
    const serving = pool.listening();
    const checks: ReadinessResult = {
      workers: serving.length === size ? { ok: true } : { ok: false, detail: `${serving.length} of ${size} workers listening` },
    };
    const answers = await Promise.all(serving.map((ch) => ch.request<ReadinessResult>(METHOD.readiness, undefined, READINESS_TIMEOUT_MS)
      .catch((): ReadinessResult => ({ workers: { ok: false, detail: 'a worker did not answer' } }))));
    // One entry per check; a check fails when it fails on any worker.
    for (const a of answers) {
      for (const [k, v] of Object.entries(a)) if (checks[k] === undefined || (checks[k]!.ok && !v.ok)) checks[k] = v;
    }
    return checks;
  };
  // The admin port's operator paths read the store the workers write (the inventory); the primary's own
  // password checks and throttle guard the operator login.
  const store = await openStore(config.store, opts.env ?? process.env);
  const passwords = new PasswordVerifier({ options: () => keys.config.passwords });
  // Read at each login, so a reload that names another operators file applies here as in the workers.
  const operatorsFile = (): string | undefined => {
    const f = keys.config.admin.operatorsFile;
    return f === undefined ? undefined : resolveFromConfig(loaded, f);
  };
  const admin = createServer(adminHandler({
    metrics: { registry: metrics }, keys: () => keys, closing: () => closing, readiness,
    operators: new OperatorGate({ file: operatorsFile, passwords, throttle }), inventory: store, logger,
    // The primary follows the config file as the workers do: the policies they apply.
    policies: () => ({ policies: policyRows(keys.config.migration.policies) }),
    // The token endpoints are the workers' (each builds the same router from the same config): one answers.
    openapi: () => {
      const [worker] = pool.listening();
      if (worker === undefined) throw new Error('no worker listening');
      return worker.request(METHOD.openapi, undefined, READINESS_TIMEOUT_MS);
    },
  }));
  admin.on('clientError', (_err, socket) => socket.destroy());
  await listenOn(admin, config.admin.listen);

  if (keys.generatedJwks !== undefined) {
    logger.warn('DEVELOPMENT ONLY: no identity.keysFile configured; the primary generated a signing key shared by its workers. Upstreams will reject its headers after a restart. Run `trackgate keys generate` and set identity.keysFile.');
  }
  if (secret !== undefined) {
    logger.warn('no secretFile configured: the primary generated a random secret shared by its workers (fingerprints change on restart; other replicas cannot share Digest nonces).');
  }
  if (loaded.envUnknown.length > 0) logger.warn({ vars: loaded.envUnknown }, 'unknown TRACKGATE_* environment variables ignored');

  let proxy;
  try {
    proxy = await pool.start();
  } catch (err) {
    pool.kill();
    admin.closeAllConnections();
    await new Promise((r) => admin.close(r));
    await store.close();
    throw err;
  }
  if (config.watch) keys.watch();
  const a = admin.address() as AddressInfo;
  logger.info({
    proxy: `${proxy.address}:${proxy.port}`, admin: `${a.address}:${a.port}`, upstream: config.upstream.url,
    store: config.store.url.slice(0, config.store.url.indexOf(':')), workers: size, workerPids: pool.pids(),
  }, 'trackgate listening');

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: killing the workers and exiting now');
      pool.kill();
      process.exit(1);
    }
    stopping = true;
    closing = true;
    const graceMs = config.shutdown.graceMs;
    logger.info({ signal, graceMs, workers: size }, 'shutting down: workers drain in-flight requests');
    pool.stop(graceMs + SHUTDOWN_MARGIN_MS)
      .then(async (clean) => {
        keys.close();
        admin.closeAllConnections();
        await new Promise((r) => admin.close(r));
        await store.close().catch(() => undefined);
        await opts.onClose?.();
        return clean;
      })
      .then((clean) => {
        if (clean) logger.info('stopped');
        else logger.error('stopped after killing workers that did not exit in time');
        logger.flush(() => process.exit(clean ? 0 : 1));
      }, (err: unknown) => {
        logger.error({ err: (err as Error).message }, 'error while stopping');
        logger.flush(() => process.exit(1));
      });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  return { logger };
}
