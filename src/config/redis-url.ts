/**
 * The Redis forms of `store.url`, in the spelling Lettuce and Spring users know:
 *
 *   redis://[user:password@]host[:port][/db]                      one server (rediss:// for TLS)
 *   redis-sentinel://[user:password@]host:port[,host:port…][/db]#<master>   a Sentinel-managed master
 *   redis-cluster://[user:password@]host:port[,host:port…]         a Redis Cluster, by its seed nodes
 *   redis:                                                        Redis, topology from `store.redis`
 *
 * `rediss-sentinel://` and `rediss-cluster://` say TLS. The credentials in a sentinel URL are the data
 * nodes' (the master's), not the sentinels'. Parsed by hand, not by `URL`: a WHATWG URL takes one host only.
 * Errors name the part that is wrong and never repeat the URL (it may hold a password).
 */

export type RedisMode = 'standalone' | 'sentinel' | 'cluster';

export interface RedisNode {
  readonly host: string;
  readonly port: number;
}

export interface RedisUrl {
  readonly mode: RedisMode;
  readonly tls: boolean;
  /** Empty for the bare `redis:` form. */
  readonly nodes: readonly RedisNode[];
  readonly username?: string;
  readonly password?: string;
  readonly db?: number;
  readonly masterName?: string;
}

const SCHEMES: Record<string, { mode: RedisMode; tls: boolean }> = {
  redis: { mode: 'standalone', tls: false },
  rediss: { mode: 'standalone', tls: true },
  'redis-sentinel': { mode: 'sentinel', tls: false },
  'rediss-sentinel': { mode: 'sentinel', tls: true },
  'redis-cluster': { mode: 'cluster', tls: false },
  'rediss-cluster': { mode: 'cluster', tls: true },
};

const DEFAULT_PORT: Record<RedisMode, number> = { standalone: 6379, sentinel: 26379, cluster: 6379 };
const HOST = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._-]+)$/;

/** Whether `url` has one of the Redis schemes (it may still be invalid: see {@link parseRedisUrl}). */
export function isRedisUrl(url: string): boolean {
  const colon = url.indexOf(':');
  return colon > 0 && url.slice(0, colon) in SCHEMES;
}

/** Parses a Redis `store.url`; throws an Error whose message says what is wrong (without the URL itself). */
export function parseRedisUrl(url: string): RedisUrl {
  const colon = url.indexOf(':');
  const scheme = SCHEMES[url.slice(0, Math.max(colon, 0))];
  if (colon <= 0 || scheme === undefined) throw new Error('not a Redis URL: the scheme must be redis, rediss, redis-sentinel, rediss-sentinel, redis-cluster or rediss-cluster');
  let rest = url.slice(colon + 1);
  if (rest === '') {
    if (scheme.mode !== 'standalone' || scheme.tls) throw new Error(`${url.slice(0, colon)}: needs //host:port`);
    return { mode: 'standalone', tls: false, nodes: [] };
  }
  if (!rest.startsWith('//')) throw new Error('a Redis URL continues with // after its scheme');
  rest = rest.slice(2);
  if (rest.includes('?')) throw new Error('a Redis URL takes no ?query (give options as store.redis keys)');
  let masterName: string | undefined;
  const hash = rest.lastIndexOf('#');
  if (hash >= 0) {
    masterName = decode(rest.slice(hash + 1), 'master name');
    rest = rest.slice(0, hash);
    if (scheme.mode !== 'sentinel') throw new Error('only a redis-sentinel URL takes a #master name');
    if (masterName === '') throw new Error('empty #master name');
  }
  let db: number | undefined;
  const slash = rest.lastIndexOf('/');
  if (slash >= 0) {
    const path = rest.slice(slash + 1);
    rest = rest.slice(0, slash);
    if (path !== '') {
      if (!/^\d{1,2}$/.test(path)) throw new Error('the database after / must be a number (0-15 on most servers)');
      if (scheme.mode === 'cluster') throw new Error('a Redis Cluster has database 0 only: remove /<db>');
      db = Number(path);
    }
  }
  let username: string | undefined;
  let password: string | undefined;
  const at = rest.lastIndexOf('@');
  if (at >= 0) {
    const userInfo = rest.slice(0, at);
    rest = rest.slice(at + 1);
    const sep = userInfo.indexOf(':');
    const user = decode(sep >= 0 ? userInfo.slice(0, sep) : userInfo, 'user name');
    if (user !== '') username = user;
    if (sep >= 0) password = decode(userInfo.slice(sep + 1), 'password');
    if (password === '') password = undefined;
  }
  const nodes = rest.split(',').map((hp) => node(hp, DEFAULT_PORT[scheme.mode]));
  if (scheme.mode === 'standalone' && nodes.length > 1) throw new Error('a redis:// URL names one server; several are redis-sentinel:// or redis-cluster://');
  if (scheme.mode === 'sentinel' && masterName === undefined) throw new Error('a redis-sentinel URL ends with #<master name>');
  return {
    mode: scheme.mode, tls: scheme.tls, nodes,
    ...(username !== undefined ? { username } : {}), ...(password !== undefined ? { password } : {}),
    ...(db !== undefined ? { db } : {}), ...(masterName !== undefined ? { masterName } : {}),
  };
}

/** `host[:port]` (IPv6 in brackets). */
export function node(hostPort: string, defaultPort: number): RedisNode {
  const m = /^(\[[^\]]*\]|[^:]*)(?::(\d{1,5}))?$/.exec(hostPort);
  const host = m?.[1] ?? '';
  // The text is not repeated: a password with an unescaped delimiter may have ended up here.
  if (m === null || !HOST.test(host)) throw new Error('a node is not host[:port] (percent-encode @ : / # , in a password)');
  const port = m[2] === undefined ? defaultPort : Number(m[2]);
  if (port < 1 || port > 65535) throw new Error('a port is not 1-65535');
  return { host: host.startsWith('[') ? host.slice(1, -1) : host, port };
}

function decode(s: string, what: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new Error(`the ${what} is not valid percent-encoding`);
  }
}
