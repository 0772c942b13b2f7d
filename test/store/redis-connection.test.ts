/**
 * The Redis forms of `store.url` and the `store.redis` block: what the schema accepts, the errors it gives (the
 * key named, never a password), and the connection `redisConnection` resolves (files and variables read).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config-schema.js';
import { ConfigError } from '../../src/config/load.js';
import { parseRedisUrl } from '../../src/config/redis-url.js';
import { redisConnection } from '../../src/store/redis-connection.js';

const dir = mkdtempSync(join(tmpdir(), 'trackgate-redis-conn-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function issues(store: Record<string, unknown>): { path: string; message: string }[] {
  const r = configSchema.safeParse({ store });
  return r.success ? [] : r.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
}

function secretFile(name: string, text: string): string {
  const f = join(dir, name);
  writeFileSync(f, text);
  return f;
}

describe('Redis URLs', () => {
  it('standalone, with credentials, database and IPv6', () => {
    expect(parseRedisUrl('redis://u:p%40ss@redis:6380/2')).toStrictEqual({
      mode: 'standalone', tls: false, nodes: [{ host: 'redis', port: 6380 }], username: 'u', password: 'p@ss', db: 2,
    });
    expect(parseRedisUrl('rediss://[::1]')).toStrictEqual({ mode: 'standalone', tls: true, nodes: [{ host: '::1', port: 6379 }] });
    expect(parseRedisUrl('redis://:secret@h')).toStrictEqual({ mode: 'standalone', tls: false, nodes: [{ host: 'h', port: 6379 }], password: 'secret' });
  });

  it('sentinel: several sentinels (port default 26379), a database and the master name', () => {
    expect(parseRedisUrl('redis-sentinel://app:pw@s1:26380,s2,s3:26381/1#mymaster')).toStrictEqual({
      mode: 'sentinel', tls: false, nodes: [{ host: 's1', port: 26380 }, { host: 's2', port: 26379 }, { host: 's3', port: 26381 }],
      username: 'app', password: 'pw', db: 1, masterName: 'mymaster',
    });
    expect(parseRedisUrl('rediss-sentinel://s1:26379#m').tls).toBe(true);
  });

  it('cluster: seed nodes', () => {
    expect(parseRedisUrl('rediss-cluster://n1:7000,n2:7001')).toStrictEqual({
      mode: 'cluster', tls: true, nodes: [{ host: 'n1', port: 7000 }, { host: 'n2', port: 7001 }],
    });
  });

  it('bare redis: (the servers come from store.redis.nodes)', () => {
    expect(parseRedisUrl('redis:')).toStrictEqual({ mode: 'standalone', tls: false, nodes: [] });
  });

  it.each([
    ['redis-sentinel://s1:26379', /#<master name>/],
    ['redis://a:1,b:2', /names one server/],
    ['redis-cluster://n1:7000/3', /database 0 only/],
    ['redis://h#m', /only a redis-sentinel URL/],
    ['redis://h:70000', /not 1-65535/],
    ['redis://h/x', /must be a number/],
    ['redis://h?x=1', /no \?query/],
    ['redis-sentinel:', /needs \/\/host:port/],
  ])('refuses %s', (url, message) => {
    expect(() => parseRedisUrl(url)).toThrow(message);
  });

  it('an error never repeats the password, even when it broke the URL apart', () => {
    for (const url of ['redis://u:hunter2#x@h', 'redis://u:hun/ter2@h', 'redis://u:99999#@h', 'redis-cluster://u:hunter2@,h']) {
      let message = '';
      try { parseRedisUrl(url); } catch (err) { message = (err as Error).message; }
      expect(message).not.toBe('');
      expect(message).not.toMatch(/hunter2|ter2|99999/);
      const r = configSchema.safeParse({ store: { url } });
      expect(JSON.stringify(r.error?.issues)).not.toMatch(/hunter2|ter2|99999/);
    }
  });
});

describe('store.redis validation', () => {
  it('accepts a structured sentinel topology with a password file and TLS', () => {
    expect(issues({
      url: 'redis:', redis: { mode: 'sentinel', nodes: ['s1:26379', 's2'], masterName: 'm', username: 'tg', passwordFile: '/run/secrets/redis', tls: { enabled: true, caFile: '/ca.pem' } },
    })).toEqual([]);
    expect(issues({ url: 'rediss-cluster://n1:7000', redis: { tls: { caFile: '/ca.pem', certFile: '/c.pem', keyFile: '/k.pem' }, keyPrefix: 'fleet-a:' } })).toEqual([]);
  });

  it.each([
    [{ url: 'redis:' }, 'store.redis.nodes', /needs store.redis.nodes/],
    [{ url: 'redis://h', redis: { nodes: ['h2'] } }, 'store.redis.nodes', /not both/],
    [{ url: 'redis-cluster://n1:7000', redis: { mode: 'sentinel' } }, 'store.redis.mode', /says cluster/],
    [{ url: 'redis:', redis: { mode: 'sentinel', nodes: ['s1'] } }, 'store.redis.masterName', /needs the master name/],
    [{ url: 'redis-sentinel://s1#a', redis: { masterName: 'b' } }, 'store.redis.masterName', /differs/],
    [{ url: 'redis://h', redis: { masterName: 'm' } }, 'store.redis.masterName', /only sentinel/],
    [{ url: 'redis:', redis: { nodes: ['a', 'b'] } }, 'store.redis.nodes', /one server/],
    [{ url: 'redis:', redis: { mode: 'cluster', nodes: ['a'], db: 2 } }, 'store.redis.db', /database 0 only/],
    [{ url: 'redis://:pw@h', redis: { passwordFile: '/p' } }, 'store.redis.passwordFile', /one way/],
    [{ url: 'redis://h', redis: { passwordFile: '/p', passwordEnv: 'P' } }, 'store.redis.passwordFile', /one way/],
    [{ url: 'redis://h', redis: { passwordEnv: 'not a name' } }, 'store.redis.passwordEnv', /variable name/],
    [{ url: 'redis://h', redis: { tls: { caFile: '/ca.pem' } } }, 'store.redis.tls.caFile', /needs TLS/],
    [{ url: 'rediss://h', redis: { tls: { certFile: '/c.pem' } } }, 'store.redis.tls.keyFile', /go together/],
    [{ url: 'redis://h', redis: { keyPrefix: 'a{b}' } }, 'store.redis.keyPrefix', /must be/],
    [{ url: 'redis://h', redis: { waitReplicas: 1, waitTimeoutMs: 1000, commandTimeoutMs: 1000 } }, 'store.redis.waitTimeoutMs', /below/],
    [{ url: 'redis:', redis: { nodes: ['bad host'] } }, 'store.redis.nodes.0', /host\[:port\]/],
  ])('%j → %s', (store, path, message) => {
    const found = issues(store as Record<string, unknown>);
    expect(found.map((i) => i.path)).toContain(path);
    expect(found.find((i) => i.path === path)?.message).toMatch(message);
  });

  it('a SQLite store ignores store.redis (its defaults validate)', () => {
    expect(issues({ url: 'sqlite:x.sqlite' })).toEqual([]);
  });
});

describe('redisConnection', () => {
  it('resolves the URL form with the defaults', () => {
    expect(redisConnection({ url: 'redis-sentinel://s1:1,s2:2/3#m' })).toStrictEqual({
      mode: 'sentinel', nodes: [{ host: 's1', port: 1 }, { host: 's2', port: 2 }], db: 3, masterName: 'm',
      keyPrefix: 'tg:', connectTimeoutMs: 2000, commandTimeoutMs: 1000, waitReplicas: 0, waitTimeoutMs: 200,
    });
  });

  it('reads the password file (one trailing newline dropped), the TLS files, and the structured topology', () => {
    const pw = secretFile('pw', 's3cret\n');
    const ca = secretFile('ca.pem', 'CA PEM');
    const c = redisConnection({
      url: 'redis:',
      redis: { mode: 'cluster', nodes: ['n1:7000', 'n2'], username: 'tg', passwordFile: pw, tls: { enabled: true, caFile: ca, servername: 'redis.internal' }, keyPrefix: 'x:' },
    });
    expect(c).toMatchObject({ mode: 'cluster', nodes: [{ host: 'n1', port: 7000 }, { host: 'n2', port: 6379 }], username: 'tg', password: 's3cret', keyPrefix: 'x:' });
    expect(c.tls?.ca?.toString()).toBe('CA PEM');
    expect(c.tls?.servername).toBe('redis.internal');
    expect(redisConnection({ url: 'redis:', redis: { mode: 'sentinel', nodes: ['s1'], masterName: 'm' } }).nodes).toEqual([{ host: 's1', port: 26379 }]);
  });

  it('reads the password from the named variable; a missing variable or file is a ConfigError naming the key only', () => {
    expect(redisConnection({ url: 'redis://h', redis: { passwordEnv: 'TG_TEST_PW' } }, { TG_TEST_PW: 'from-env' }).password).toBe('from-env');
    expect(() => redisConnection({ url: 'redis://h', redis: { passwordEnv: 'TG_TEST_PW' } }, {})).toThrow(ConfigError);
    expect(() => redisConnection({ url: 'redis://h', redis: { passwordEnv: 'TG_TEST_PW' } }, {})).toThrow(/store.redis.passwordEnv: the variable TG_TEST_PW is not set/);
    expect(() => redisConnection({ url: 'redis://h', redis: { passwordFile: join(dir, 'absent') } })).toThrow(/store.redis.passwordFile: cannot read .*absent \(ENOENT\)/);
    expect(() => redisConnection({ url: 'redis://h', redis: { passwordFile: secretFile('empty', '\n') } })).toThrow(/is empty/);
  });
});
