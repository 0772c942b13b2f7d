/**
 * A Redis Cluster for a test: six real redis-servers on free 127.0.0.1 ports (cluster mode, own temp dirs),
 * joined by `redis-cli --cluster create … --cluster-replicas 1 --cluster-yes` into three masters with a replica
 * each, and waited for until every node says `cluster_state:ok` and every replica has synced.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { startRedisServer, type RedisServer } from './redis-server.js';
import { waitFor } from './wait.js';

const CLI = process.env.REDIS_CLI ?? (existsSync('/usr/bin/redis-cli') ? '/usr/bin/redis-cli' : 'redis-cli');

export interface ClusterSetup {
  readonly nodes: readonly RedisServer[];
  /** `redis-cluster://127.0.0.1:<p1>,127.0.0.1:<p2>` (two seeds: the rest are discovered) */
  readonly url: string;
  close(): Promise<void>;
}

export async function startClusterSetup(size = 6): Promise<ClusterSetup> {
  const nodes: RedisServer[] = [];
  try {
    for (let i = 0; i < size; i++) {
      nodes.push(await startRedisServer({
        extraArgs: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '2000'],
      }));
    }
    await promisify(execFile)(CLI, ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`),
      '--cluster-replicas', size >= 6 ? '1' : '0', '--cluster-yes'], { timeout: 30_000 });
    const ok = await waitFor(async () => {
      for (const n of nodes) if (!(await n.command('CLUSTER INFO').catch(() => '')).includes('cluster_state:ok')) return false;
      return true;
    }, 30_000, 100);
    if (!ok) throw new Error('the cluster did not reach cluster_state:ok within 30 s');
    // The replicas are assigned after the slots: wait until each has synced with its master.
    const replicas = size >= 6 ? size / 2 : 0;
    const synced = await waitFor(async () => {
      const infos = await Promise.all(nodes.map((n) => n.command('INFO replication').catch(() => '')));
      return infos.filter((i) => i.includes('role:slave') && i.includes('master_link_status:up')).length === replicas;
    }, 30_000, 100);
    if (!synced) throw new Error('the cluster\'s replicas did not sync within 30 s');
    return {
      nodes,
      url: `redis-cluster://127.0.0.1:${nodes[0]!.port},127.0.0.1:${nodes[1]!.port}`,
      close: async () => { await Promise.all(nodes.map((n) => n.close())); },
    };
  } catch (err) {
    await Promise.all(nodes.map((n) => n.close()));
    throw err;
  }
}
