/** Entry script of a cluster worker process (forked by pool.ts; see worker.ts). */
import { runWorker } from './worker.js';

runWorker().catch((err: unknown) => {
  // The primary logs the exit and decides (a failed start stops everything; later, a restart).
  process.stderr.write(`trackgate worker ${process.pid}: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
