/**
 * Owns the process: build the app, listen, and stop gracefully on SIGTERM/SIGINT (a second signal forces
 * the exit). Kept apart from app.ts so tests never install signal handlers. With `workers` > 1 the process
 * becomes a cluster primary instead (src/cluster/primary.ts) and the app runs in its workers.
 */
import { App, type AppOptions } from './app.js';
import type { LoadedConfig } from './config-schema.js';
import type { Logger } from './observability/log.js';
import { workerCount } from './cluster/count.js';
import { runPrimary } from './cluster/primary.js';

export async function runServer(loaded: LoadedConfig, opts: AppOptions = {}, onClose: () => Promise<void> = async () => {}): Promise<{ logger: Logger }> {
  const workers = workerCount(loaded.config.workers);
  if (workers > 1) return runPrimary(loaded, { workers, onClose, ...(opts.env !== undefined ? { env: opts.env } : {}) });
  const app = await App.create(loaded, opts);
  await app.listen();
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) {
      app.logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    app.logger.info({ signal, graceMs: app.config.shutdown.graceMs }, 'shutting down: draining in-flight requests');
    app.close()
      .then(onClose)
      .then(() => {
        app.logger.info('stopped');
        app.logger.flush(() => process.exit(0));
      }, (err: unknown) => {
        app.logger.error({ err: (err as Error).message }, 'error while stopping');
        app.logger.flush(() => process.exit(1));
      });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  return app;
}
