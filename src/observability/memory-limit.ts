/** The memory this process may use, for `trackgate_memory_limit_bytes`: what "near the limit" is measured against. */
import { totalmem } from 'node:os';

/**
 * The container's cgroup memory limit as Node reads it, or the machine's memory when there is none. Node
 * reports an unconstrained process as 0, undefined or a huge number depending on its version and the cgroup
 * version, so anything above the machine's memory counts as no limit.
 */
export function memoryLimitBytes(): number {
  const machine = totalmem();
  const constrained = (process as { constrainedMemory?: () => number | undefined }).constrainedMemory?.();
  return constrained !== undefined && constrained > 0 && constrained < machine ? constrained : machine;
}
