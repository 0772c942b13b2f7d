/**
 * A cluster worker: asks the primary for what it shares (bootstrap), builds the app as a single process would,
 * with the throttle and the Digest nc store backed by the primary over IPC (or by Redis with a Redis store), and
 * serves the proxy port only. It answers the primary's readiness and metrics requests, and drains and exits on
 * `shutdown` or SIGTERM. Everything else is its own, as it would be a replica's: the validation cache (kept
 * coherent by the store's revocation events) and the reloading of config, accounts and keys files.
 */
import cluster from 'node:cluster';
import { App } from '../app.js';
import { loadConfig } from '../config-schema.js';
import { createLogger } from '../observability/log.js';
import { IpcChannel, type IpcSend } from './ipc.js';
import { IpcNonceCounter } from './ipc-nonce-counter.js';
import { IpcThrottle } from './ipc-throttle.js';
import { METHOD, type Bootstrap, type ListeningParams, type ReadinessResult } from './protocol.js';
import { sharedKeyRing } from './shared-keys.js';

/** Time to wait for the primary's bootstrap answer. */
const BOOTSTRAP_TIMEOUT_MS = 10_000;

export async function runWorker(): Promise<void> {
  if (!cluster.isWorker || process.send === undefined) throw new Error('runWorker: not a cluster worker');
  const send: IpcSend = (msg, onError) => {
    if (!process.connected) { onError(new Error('primary disconnected')); return; }
    process.send!(msg, undefined, undefined, (err: Error | null) => { if (err) onError(err); });
  };
  const primary = new IpcChannel(send);
  process.on('message', (msg: unknown) => primary.receive(msg));

  let app: App | undefined;
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    if (app === undefined) process.exit(0); // nothing served yet: nothing to drain
    const a = app;
    a.logger.info({ graceMs: a.config.shutdown.graceMs }, 'worker shutting down: draining in-flight requests');
    a.close().then(() => {
      a.logger.info('worker stopped');
      a.logger.flush(() => process.exit(0));
    }, (err: unknown) => {
      a.logger.error({ err: (err as Error).message }, 'error while stopping');
      a.logger.flush(() => process.exit(1));
    });
  };
  primary.handle(METHOD.shutdown, stop);
  process.on('SIGTERM', stop);
  // Ctrl-C reaches the whole process group; the primary turns it into an orderly `shutdown` for every worker.
  process.on('SIGINT', () => undefined);

  const boot = await primary.request<Bootstrap>(METHOD.bootstrap, undefined, BOOTSTRAP_TIMEOUT_MS);
  const loaded = loadConfig(boot.configFile, process.env);
  const logger = createLogger({ level: loaded.config.logging.level, fields: { pid: process.pid, worker: cluster.worker!.id } });
  app = await App.create(loaded, {
    logger,
    ...(boot.generatedJwks !== undefined ? { generatedKeys: sharedKeyRing(boot.generatedJwks) } : {}),
    ...(boot.generatedSecret !== undefined ? { generatedSecret: Buffer.from(boot.generatedSecret, 'base64') } : {}),
    throttle: new IpcThrottle(primary),
    nonceCounter: new IpcNonceCounter(primary),
  });
  const a = app;
  primary
    .handle(METHOD.readiness, async (): Promise<ReadinessResult> =>
      (a.closing ? { workers: { ok: false, detail: 'a worker is shutting down' } } : a.readiness()))
    .handle(METHOD.metrics, () => a.metrics.registry.getMetricsAsJSON())
    .handle(METHOD.openapi, () => a.openapi());
  const proxy = await app.listenProxy();
  logger.info({ proxy: `${proxy.address}:${proxy.port}` }, 'worker listening');
  primary.notify(METHOD.listening, { address: proxy.address, port: proxy.port } satisfies ListeningParams);
}
