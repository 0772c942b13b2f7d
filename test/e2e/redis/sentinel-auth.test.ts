/**
 * Sentinels with a password of their own and TLS on every hop: a master and a replica with a data password,
 * three sentinels with `requirepass` (and `sentinel sentinel-pass` to reach each other), every process listening
 * with TLS (a test CA) and the sentinels monitoring the servers' TLS ports over `tls-replication`. The store finds
 * the master through the sentinels with `sentinelPasswordFile` and the CA file, follows a failover, and without
 * the sentinels' password (or with a wrong one) stays unready and says why, never with a password.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import type { RedisClient } from '../../../src/store/redis-client.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RedisStore } from '../../../src/store/redis.js';
import { redisConnection } from '../../../src/store/redis-connection.js';
import { freePort } from '../../helpers/ports.js';
import { startRedisServer, type RedisServer } from '../../helpers/redis-server.js';
import { record } from '../../helpers/store-contract.js';
import { makeTestCa, type TestCa } from '../../helpers/test-ca.js';
import { waitFor } from '../../helpers/wait.js';

const DATA_PASSWORD = 'data-Pa55-of-the-servers';
const SENTINEL_PASSWORD = 'sentinel-Pa55-of-their-own';
const MASTER = 'tgauth';

let ca: TestCa;
const started: RedisServer[] = [];
/** The TLS ports: servers (master first) and sentinels. */
const serverTls: number[] = [];
const sentinelTls: number[] = [];
const opened: RedisStore[] = [];

function tlsArgs(port: number): string[] {
  return ['--tls-port', String(port), '--tls-cert-file', ca.file('server.crt'), '--tls-key-file', ca.file('server.key'),
    '--tls-ca-cert-file', ca.file('ca.crt'), '--tls-auth-clients', 'no', '--tls-replication', 'yes'];
}

/** A connection to the sentinel on TLS port `port`, as the test's own observer. */
function sentinelClient(port: number): Redis {
  return new Redis({ host: '127.0.0.1', port, password: SENTINEL_PASSWORD, tls: { ca: readFileSync(ca.file('ca.crt')), servername: 'redis.test' }, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
}

async function masterTlsPort(): Promise<number | undefined> {
  for (const port of sentinelTls) {
    const c = sentinelClient(port);
    try {
      await c.connect();
      const addr = await c.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', MASTER) as string[] | null;
      if (addr) return Number(addr[1]);
    } catch {
      // That sentinel is not answering: ask the next.
    } finally {
      c.disconnect();
    }
  }
  return undefined;
}

beforeAll(async () => {
  ca = makeTestCa('redis-sentinel-tls');
  ca.issue('server', 'redis.test', 'DNS:redis.test,IP:127.0.0.1');
  writeFileSync(ca.file('password'), `${DATA_PASSWORD}\n`);
  writeFileSync(ca.file('sentinel-password'), `${SENTINEL_PASSWORD}\n`);
  writeFileSync(ca.file('wrong'), 'not-the-sentinels-one\n');
  for (let i = 0; i < 2; i++) serverTls.push(await freePort());
  const auth = ['--requirepass', DATA_PASSWORD, '--masterauth', DATA_PASSWORD];
  started.push(await startRedisServer({ extraArgs: [...auth, ...tlsArgs(serverTls[0]!), '--replica-priority', '0'] }));
  started.push(await startRedisServer({ extraArgs: [...auth, ...tlsArgs(serverTls[1]!), '--replicaof', '127.0.0.1', String(serverTls[0])] }));
  for (let i = 0; i < 3; i++) {
    const tls = await freePort();
    sentinelTls.push(tls);
    started.push(await startRedisServer({
      sentinel: (port, dir) => {
        const conf = `${dir}/sentinel.conf`;
        writeFileSync(conf, [
          `port ${port}`, 'bind 127.0.0.1', 'daemonize no', `dir ${dir}`, 'loglevel warning',
          `tls-port ${tls}`, `tls-cert-file ${ca.file('server.crt')}`, `tls-key-file ${ca.file('server.key')}`,
          `tls-ca-cert-file ${ca.file('ca.crt')}`, 'tls-auth-clients no', 'tls-replication yes',
          `requirepass ${SENTINEL_PASSWORD}`, `sentinel sentinel-pass ${SENTINEL_PASSWORD}`,
          `sentinel monitor ${MASTER} 127.0.0.1 ${serverTls[0]} 2`, `sentinel auth-pass ${MASTER} ${DATA_PASSWORD}`,
          `sentinel down-after-milliseconds ${MASTER} 1500`, `sentinel failover-timeout ${MASTER} 4000`, '',
        ].join('\n'));
        return [conf];
      },
    }));
  }
  const known = await waitFor(async () => {
    for (const port of sentinelTls) {
      const c = sentinelClient(port);
      try {
        await c.connect();
        const flat = await c.call('SENTINEL', 'MASTER', MASTER) as string[];
        const f = Object.fromEntries(flat.flatMap((v, i) => i % 2 === 0 ? [[v, flat[i + 1]]] : []));
        if (f['num-slaves'] !== '1' || f['num-other-sentinels'] !== '2') return false;
      } catch {
        return false;
      } finally {
        c.disconnect();
      }
    }
    return true;
  }, 30_000, 200);
  if (!known) throw new Error('the TLS sentinels did not find the replica and each other within 30 s');
}, 60_000);
afterAll(async () => {
  await Promise.all(started.map((s) => s.close()));
  ca?.remove();
});
afterEach(async () => { await Promise.all(opened.splice(0).map((s) => s.close())); });

/** The remote port of a (non-cluster) connection. */
function port(c: RedisClient): number | undefined {
  return (c as Redis).stream?.remotePort;
}

function store(sentinelPasswordFile: string | undefined, waitReplicas = 0): RedisStore {
  const s = new RedisStore(redisConnection({
    url: `rediss-sentinel://${sentinelTls.map((p) => `127.0.0.1:${p}`).join(',')}#${MASTER}`,
    redis: {
      passwordFile: ca.file('password'), waitReplicas, waitTimeoutMs: 1000,
      ...(sentinelPasswordFile !== undefined ? { sentinelPasswordFile } : {}),
      tls: { caFile: ca.file('ca.crt'), servername: 'redis.test' },
    },
  }));
  opened.push(s);
  return s;
}

describe('Sentinels with their own password, over TLS', () => {
  it('without the sentinels\' password, or with a wrong one, the store stays unready and says why', async () => {
    const cases: [string | undefined, RegExp][] = [[undefined, /Last error: NOAUTH/], [ca.file('wrong'), /Last error: WRONGPASS/]];
    for (const [file, why] of cases) {
      const s = store(file);
      expect(await s.waitReady(1500)).toBe(false);
      const e = await s.ping().then(() => undefined, (err: { code?: string; detail?: string }) => err);
      expect(e?.code).toBe('TG_ERR_STORE_UNAVAILABLE');
      expect(e?.detail).toMatch(/All sentinels are unreachable/);
      expect(e?.detail).toMatch(why);
      for (const secret of [DATA_PASSWORD, SENTINEL_PASSWORD, 'not-the-sentinels-one']) expect(JSON.stringify(e)).not.toContain(secret);
    }
  });

  it('finds the master through the TLS sentinels with sentinelPasswordFile and follows a failover', async () => {
    const s = store(ca.file('sentinel-password'), 1);
    expect(await s.waitReady(10_000)).toBe(true);
    const before = record();
    await s.putToken(before);
    expect(await s.getToken(before.digest)).toStrictEqual(before);
    // The connection is TLS to the master the sentinels named (its TLS port).
    expect(port(s.redis)).toBe(serverTls[0]);
    await started[0]!.kill();
    expect(await waitFor(async () => await masterTlsPort() === serverTls[1], 20_000, 200)).toBe(true);
    const after = record();
    // waitReplicas 1 is met again only once a replica is back: this one checks the promoted master alone.
    const plain = store(ca.file('sentinel-password'));
    expect(await plain.waitReady(10_000)).toBe(true);
    expect(await waitFor(async () => { try { await plain.putToken(after); return true; } catch { return false; } }, 15_000, 200)).toBe(true);
    expect(await plain.getToken(before.digest)).toStrictEqual(before);
    expect(await waitFor(async () => (await s.getToken(after.digest).catch(() => undefined)) !== undefined, 15_000, 200)).toBe(true);
    expect(port(s.redis)).toBe(serverTls[1]);
    await started[0]!.start();
  }, 60_000);
});
