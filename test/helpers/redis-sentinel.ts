/**
 * A Sentinel-managed Redis for a test: one master, one replica and three sentinels (quorum 2), each a real
 * process on a free 127.0.0.1 port in its own temp dir, started and waited for until every sentinel knows the
 * replica and the other sentinels. A master is declared down after {@link DOWN_AFTER_MS} without an answer.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startRedisServer, type RedisServer } from './redis-server.js';
import { waitFor } from './wait.js';

export const MASTER_NAME = 'tgmaster';
export const DOWN_AFTER_MS = 1500;

export interface SentinelSetup {
  /** The servers in the order they were started (the first is the master at first). */
  readonly servers: readonly RedisServer[];
  readonly sentinels: readonly RedisServer[];
  /** `redis-sentinel://127.0.0.1:<s1>,…#tgmaster` */
  readonly url: string;
  /** The port the sentinels give as the master's now (asks the first sentinel that answers). */
  masterPort(): Promise<number | undefined>;
  /** The master's port as each running sentinel gives it (they agree once a failover has reached them all). */
  masterPorts(): Promise<(number | undefined)[]>;
  close(): Promise<void>;
}

export async function startSentinelSetup(): Promise<SentinelSetup> {
  const started: RedisServer[] = [];
  try {
    // Never promoted once it is a replica: restarted without persistence it is empty, and a second failover to it
    // (a loaded machine can make the sentinels flap) would wipe the data set.
    const master = await startRedisServer({ extraArgs: ['--replica-priority', '0'] });
    started.push(master);
    const replica = await startRedisServer({ extraArgs: ['--replicaof', '127.0.0.1', String(master.port)] });
    started.push(replica);
    const sentinels: RedisServer[] = [];
    for (let i = 0; i < 3; i++) {
      const s = await startRedisServer({
        sentinel: (port, dir) => {
          const conf = join(dir, 'sentinel.conf');
          writeFileSync(conf, [
            `port ${port}`, 'bind 127.0.0.1', 'daemonize no', `dir ${dir}`, 'loglevel warning',
            `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${master.port} 2`,
            `sentinel down-after-milliseconds ${MASTER_NAME} ${DOWN_AFTER_MS}`,
            `sentinel failover-timeout ${MASTER_NAME} 4000`,
            `sentinel parallel-syncs ${MASTER_NAME} 1`, '',
          ].join('\n'));
          return [conf];
        },
      });
      sentinels.push(s);
      started.push(s);
    }
    const synced = await waitFor(async () => (await master.command('INFO replication').catch(() => '')).includes('state=online'), 20_000, 50);
    if (!synced) throw new Error('the replica did not sync with the master within 20 s');
    const known = await waitFor(async () => {
      for (const s of sentinels) {
        const info = fields(await s.command(`SENTINEL MASTER ${MASTER_NAME}`).catch(() => ''));
        if (info['num-slaves'] !== '1' || info['num-other-sentinels'] !== '2') return false;
      }
      return true;
    }, 20_000, 100);
    if (!known) throw new Error('the sentinels did not find the replica and each other within 20 s');
    return {
      servers: [master, replica],
      sentinels,
      url: `redis-sentinel://${sentinels.map((s) => `127.0.0.1:${s.port}`).join(',')}#${MASTER_NAME}`,
      masterPort: async () => (await Promise.all(sentinels.filter((s) => s.running).map(masterOf))).find((p) => p !== undefined),
      masterPorts: () => Promise.all(sentinels.filter((s) => s.running).map(masterOf)),
      close: async () => { await Promise.all(started.map((s) => s.close())); },
    };
  } catch (err) {
    await Promise.all(started.map((s) => s.close()));
    throw err;
  }
}

async function masterOf(sentinel: RedisServer): Promise<number | undefined> {
  const reply = await sentinel.command(`SENTINEL GET-MASTER-ADDR-BY-NAME ${MASTER_NAME}`).catch(() => '');
  const port = /\r\n\$\d+\r\n(\d+)\r\n/.exec(reply)?.[1];
  return port === undefined ? undefined : Number(port);
}

/** A flat RESP array of bulk strings (`SENTINEL MASTER`'s reply) as field → value. */
function fields(reply: string): Record<string, string> {
  const values = [...reply.matchAll(/\$\d+\r\n([^\r]*)\r\n/g)].map((m) => m[1]!);
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < values.length; i += 2) out[values[i]!] = values[i + 1]!;
  return out;
}
