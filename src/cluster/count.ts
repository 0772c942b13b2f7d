/** How many worker processes the `workers` setting asks for. */
import { availableParallelism } from 'node:os';
import { AUTO_WORKERS_MAX } from '../config/schema.js';
import type { Config } from '../config-schema.js';

/**
 * `auto` → `os.availableParallelism()` (the CPUs this process may run on, by affinity mask; a cgroup CPU quota,
 * e.g. a Kubernetes CPU limit, is not seen, so set a number there), capped at {@link AUTO_WORKERS_MAX}.
 */
export function workerCount(setting: Config['workers'], cpus: number = availableParallelism()): number {
  if (setting === 'auto') return Math.max(1, Math.min(cpus, AUTO_WORKERS_MAX));
  return setting;
}
