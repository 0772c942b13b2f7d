/**
 * The Redis topology's health as one replica sees it, for `/readyz` and the metrics: whether a master answers
 * (a standalone server or the sentinels' master that says `role:master`; a cluster whose `cluster_state` is
 * `ok`), how many replicas it has (the master's `connected_slaves`; a cluster's connected replica nodes), and how many
 * master switches this replica has seen. One probe is shared by everything that asks within
 * {@link PROBE_REUSE_MS} (a scrape reads three metrics from it).
 */
import { Cluster } from 'ioredis';
import type { RedisMode } from '../config/redis-url.js';
import type { RedisStore } from './redis.js';

export interface RedisTopology {
  readonly mode: RedisMode;
  readonly masterReachable: boolean;
  /** `host:port` of the master answering (standalone, sentinel); a cluster's masters, sorted. */
  readonly master?: string;
  readonly replicas: number;
  readonly failovers: number;
  /** Why the master is not reachable (never a credential). */
  readonly detail?: string;
}

const PROBE_REUSE_MS = 1000;

export class RedisTopologyProbe {
  #last: { at: number; result: Promise<RedisTopology> } | undefined;
  #clusterMasters: string | undefined;
  #clusterSwitches = 0;

  constructor(private readonly store: RedisStore, private readonly now: () => number = Date.now) {}

  /** The topology now (or as probed less than a second ago). Never rejects. */
  topology(): Promise<RedisTopology> {
    const t = this.now();
    if (this.#last !== undefined && t - this.#last.at < PROBE_REUSE_MS) return this.#last.result;
    const result = this.#probe().catch((err: unknown): RedisTopology => ({
      mode: this.store.connection.mode, masterReachable: false, replicas: 0, failovers: this.#failovers(),
      detail: err instanceof Error ? err.message : String(err),
    }));
    this.#last = { at: t, result };
    return result;
  }

  #failovers(): number {
    return this.store.failovers + this.#clusterSwitches;
  }

  async #probe(): Promise<RedisTopology> {
    const redis = this.store.redis;
    const mode = this.store.connection.mode;
    if (redis instanceof Cluster) {
      const [info, nodes] = await Promise.all([redis.cluster('INFO'), redis.cluster('NODES')]);
      const state = /cluster_state:(\w+)/.exec(String(info))?.[1];
      // CLUSTER NODES: id, ip:port@cport, flags, master id, ping, pong, epoch, link state, slots…
      const live = String(nodes).split('\n').map((l) => l.split(' ')).filter((f) => f.length >= 8 && !/fail/.test(f[2]!));
      const masters = live.filter((f) => f[2]!.includes('master') && f.length > 8).map((f) => f[1]!.split('@')[0]!).sort().join(',');
      const replicas = live.filter((f) => f[2]!.includes('slave') && f[7] === 'connected').length;
      // A failover changes which nodes are masters.
      if (this.#clusterMasters !== undefined && masters !== this.#clusterMasters) this.#clusterSwitches++;
      this.#clusterMasters = masters;
      return {
        mode, masterReachable: state === 'ok', master: masters, replicas, failovers: this.#failovers(),
        ...(state !== 'ok' ? { detail: `cluster_state:${state ?? 'unknown'}` } : {}),
      };
    }
    const info = await redis.info('replication');
    const role = /role:(\w+)/.exec(info)?.[1];
    const s = redis.stream;
    return {
      mode, masterReachable: role === 'master',
      ...(s?.remoteAddress !== undefined ? { master: `${s.remoteAddress}:${s.remotePort}` } : {}),
      replicas: Number(/connected_slaves:(\d+)/.exec(info)?.[1] ?? 0), failovers: this.#failovers(),
      ...(role !== 'master' ? { detail: `connected to a ${role ?? 'server of unknown role'}, not a master` } : {}),
    };
  }
}
