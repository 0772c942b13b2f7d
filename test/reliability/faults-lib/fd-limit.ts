/**
 * Raises this process's open-file limit (soft and hard, with `prlimit`, which works for root or up to the hard
 * limit otherwise) so a connection flood is bounded by the machine rather than by the shell's default; children
 * spawned afterwards inherit it. Returns the soft limit in force afterwards.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

export function raiseFdLimit(want: number): number {
  try {
    execFileSync('prlimit', ['--pid', String(process.pid), `--nofile=${want}:${want}`], { stdio: 'ignore' });
  } catch {
    // Not allowed (not root, over the hard limit) or no prlimit: keep what there is.
  }
  return softFdLimit();
}

export function softFdLimit(): number {
  const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
  const soft = line?.split(/\s{2,}/)[1];
  return soft === undefined || soft === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(soft);
}
