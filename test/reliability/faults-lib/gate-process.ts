/**
 * A real trackgate process (`node bin/trackgate.js --config FILE`, one process) in its own temp folder with the
 * demo accounts: started, SIGKILLed and started again on the same folder (same SQLite file, keys and secret),
 * its open file descriptors counted from /proc. The fault cases need a process of their own: "no crash" and
 * "no fd leak" are only meaningful for a process the test does not share.
 */
import { copyFileSync, mkdtempSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCluster, type ClusterProc } from '../../helpers/cluster-process.js';
import { runCli } from '../../helpers/cli.js';
import { DEMO_ACCOUNTS, deepMerge } from '../../helpers/trackgate.js';

export interface GateFolder {
  dir: string;
  /** Starts trackgate on this folder's config (`overrides` on top of the folder's base config). */
  start(overrides?: Record<string, unknown>): Promise<GateProc>;
  /** SIGKILLs every process started here and removes the folder. */
  close(): void;
}

export interface GateProc extends ClusterProc {
  readonly pid: number;
  /** Open file descriptors of the process now. */
  fds(): number;
  /** The same, counted by kind (`socket`, `pipe`, `anon_inode:[eventpoll]`, a file path …), for failure messages. */
  fdKinds(): Record<string, number>;
  /** Whether the process is still running. */
  alive(): boolean;
}

/**
 * A folder with the demo accounts, a signing key and a secret file (so tokens and identity headers survive a
 * restart), a SQLite store `store.sqlite`, and `base` as the config for every start.
 */
export async function gateFolder(base: Record<string, unknown>): Promise<GateFolder> {
  const dir = mkdtempSync(join(tmpdir(), 'trackgate-faults-'));
  copyFileSync(DEMO_ACCOUNTS, join(dir, 'accounts.yaml'));
  const keys = await runCli(['keys', 'generate']);
  if (keys.code !== 0) throw new Error(`keys generate failed: ${keys.stderr}`);
  writeFileSync(join(dir, 'keys.json'), keys.stdout);
  writeFileSync(join(dir, 'secret'), 'reliability-suite-secret-0123456789abcdef');
  const procs: GateProc[] = [];
  let n = 0;
  return {
    dir,
    start: async (overrides = {}) => {
      const config = deepMerge(deepMerge({
        listen: '127.0.0.1:0', admin: { listen: '127.0.0.1:0' }, store: { url: `sqlite:${join(dir, 'store.sqlite')}` },
        accountsFile: 'accounts.yaml', secretFile: 'secret', identity: { keysFile: 'keys.json', issuer: 'trackgate-test', audience: 'upstream-test' },
        watch: false, logging: { level: 'info', access: false },
      }, base), overrides);
      const proc = await startCluster({ dir, name: `trackgate-${n++}`, config });
      const pid = proc.child.pid!;
      const gate: GateProc = Object.assign(proc, {
        pid,
        fds: () => openFds(pid),
        fdKinds: () => fdKinds(pid),
        alive: () => proc.child.exitCode === null && proc.child.signalCode === null,
      });
      procs.push(gate);
      return gate;
    },
    close: () => {
      for (const p of procs) p.kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Open file descriptors of a process (Linux /proc). */
export function openFds(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

export function fdKinds(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    let kind: string;
    try {
      kind = readlinkSync(`/proc/${pid}/fd/${fd}`).replace(/:\[\d+\]$/, '');
    } catch {
      continue; // closed meanwhile
    }
    out[kind] = (out[kind] ?? 0) + 1;
  }
  return out;
}
