/**
 * What `trackgate store check` finds in a Redis store, connected with exactly the options trackgate would use:
 * the topology (mode, master, replicas), the round-trip time, each master's persistence and eviction settings
 * (CONFIG GET, or INFO where a managed service refuses it), and whether `store.redis.waitReplicas` can be met:
 * a real WAIT after writing a probe key of its own (expiring in 10 s, deleted after). Nothing here holds or
 * returns a credential.
 */
import { randomUUID } from 'node:crypto';
import { Cluster } from 'ioredis';
import type { RedisClient } from './redis-client.js';
import { nodeName, redisConnection, type RedisStoreConfig } from './redis-connection.js';
import { RedisStore } from './redis.js';
import { RedisTopologyProbe, type RedisTopology } from './redis-topology.js';

/** How long the check waits for the connections (beyond the connect timeout itself). */
const READY_GRACE_MS = 3000;
const PINGS = 20;

export interface Persistence {
  readonly server: string;
  readonly appendonly?: string;
  readonly save?: string;
  readonly maxmemoryPolicy?: string;
  /** `info`: CONFIG GET was refused (managed services often do), read from INFO instead. */
  readonly from: 'config' | 'info';
}

export interface StoreReport {
  ok: boolean;
  engine: string;
  mode?: string;
  nodes?: string[];
  topology?: RedisTopology;
  latencyMs?: { p50: number; max: number; pings: number };
  persistence?: Persistence[];
  durability?: { waitReplicas: number; acknowledged: number; ok: boolean };
  problems: string[];
  warnings: string[];
}

type Server = RedisClient & { options: { host?: string | undefined; port?: number | undefined } };

export async function checkRedisStore(config: RedisStoreConfig, env: NodeJS.ProcessEnv): Promise<StoreReport> {
  const conn = redisConnection(config, env);
  const report: StoreReport = { ok: false, engine: 'redis', mode: conn.mode, nodes: conn.nodes.map(nodeName), problems: [], warnings: [] };
  const store = new RedisStore(conn);
  const cluster = store.redis instanceof Cluster ? store.redis : undefined;
  try {
    if (!await store.waitReady(conn.connectTimeoutMs + READY_GRACE_MS)) {
      const why = await store.ping().then(() => 'the event subscription did not start', (e: { detail?: string; message: string }) => e.detail ?? e.message);
      report.problems.push(`not reachable: ${why}`);
      return report;
    }
    report.topology = await new RedisTopologyProbe(store).topology();
    if (!report.topology.masterReachable) report.problems.push(`no master: ${report.topology.detail ?? 'unknown'}`);
    report.latencyMs = await latency(store.redis);
    const servers: Server[] = cluster !== undefined ? cluster.nodes('master') : [store.redis as Server];
    report.persistence = await Promise.all(servers.map((s) => persistence(s)));
    for (const p of report.persistence) {
      if (p.maxmemoryPolicy !== undefined && p.maxmemoryPolicy !== 'noeviction') {
        report.warnings.push(`${p.server}: maxmemory-policy ${p.maxmemoryPolicy} may evict token records (use noeviction)`);
      }
      if (p.appendonly !== 'yes' && (p.save === undefined || p.save === '')) {
        report.warnings.push(`${p.server}: no persistence seen (appendonly ${p.appendonly ?? '?'}, save "${p.save ?? '?'}"): a restart empties it`);
      }
    }
    // Writing the probe needs a master.
    if (!report.topology.masterReachable) return report;
    report.durability = await durability(store, cluster);
    if (!report.durability.ok) {
      report.problems.push(`waitReplicas ${conn.waitReplicas} cannot be met: ${report.durability.acknowledged} replica(s) acknowledged a write within ${conn.waitTimeoutMs} ms`);
    }
    report.ok = report.problems.length === 0;
    return report;
  } finally {
    await store.close();
  }
}

async function latency(redis: RedisClient): Promise<{ p50: number; max: number; pings: number }> {
  const times: number[] = [];
  for (let i = 0; i < PINGS; i++) {
    const t0 = process.hrtime.bigint();
    await redis.ping();
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  times.sort((a, b) => a - b);
  const round = (n: number) => Math.round(n * 1000) / 1000;
  return { p50: round(times[Math.floor(times.length / 2)]!), max: round(times[times.length - 1]!), pings: PINGS };
}

async function persistence(server: Server): Promise<Persistence> {
  const name = `${server.options.host ?? '?'}:${server.options.port ?? '?'}`;
  try {
    const pairs = await server.call('CONFIG', 'GET', 'appendonly', 'save', 'maxmemory-policy') as string[];
    const get = (k: string) => { const i = pairs.indexOf(k); return i >= 0 ? pairs[i + 1] : undefined; };
    return { server: name, appendonly: get('appendonly'), save: get('save'), maxmemoryPolicy: get('maxmemory-policy'), from: 'config' } as Persistence;
  } catch {
    const [p, m] = await Promise.all([server.info('persistence'), server.info('memory')]);
    const aof = /aof_enabled:(\d)/.exec(p)?.[1];
    const policy = /maxmemory_policy:(\S+)/.exec(m)?.[1];
    const rdb = /rdb_last_bgsave_status:(\w+)/.exec(p)?.[1];
    return {
      server: name, from: 'info', ...(aof !== undefined ? { appendonly: aof === '1' ? 'yes' : 'no' } : {}),
      ...(rdb !== undefined && /rdb_last_save_time:[1-9]/.test(p) && /rdb_saves:[1-9]/.test(p) ? { save: `(snapshots taken; last ${rdb})` } : {}),
      ...(policy !== undefined ? { maxmemoryPolicy: policy } : {}),
    };
  }
}

/** A probe key of its own (expires in 10 s), then WAIT as trackgate's writes do. */
async function durability(store: RedisStore, cluster: Cluster | undefined): Promise<{ waitReplicas: number; acknowledged: number; ok: boolean }> {
  const { waitReplicas: want, waitTimeoutMs } = store.connection;
  const key = store.keys.token(store.keys.directory, `store-check-${randomUUID()}`);
  const redis = store.redis;
  let got: number;
  if (cluster !== undefined) {
    const replies = await cluster.pipeline().set(key, '1', 'PX', 10_000).wait(Math.max(want, 1), waitTimeoutMs).exec();
    got = Number(replies?.[1]?.[1] ?? 0);
  } else {
    const server = redis as Exclude<RedisClient, Cluster>;
    await server.set(key, '1', 'PX', 10_000);
    got = await server.wait(Math.max(want, 1), waitTimeoutMs);
  }
  await redis.del(key).catch(() => undefined);
  return { waitReplicas: want, acknowledged: got, ok: got >= want };
}
