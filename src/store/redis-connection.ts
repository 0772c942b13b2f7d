/**
 * What trackgate connects to when the store is Redis, resolved once at start from `store.url` and `store.redis`
 * (validated by the schema): the topology, the credentials read from their file or variable, the TLS material
 * read from its files. A file that cannot be read is a start-up error naming the key, never its content.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { CoreConfig } from '../config/schema.js';
import { ConfigError } from '../config/load.js';
import { node, parseRedisUrl, type RedisMode, type RedisNode } from '../config/redis-url.js';

export interface RedisTls {
  readonly ca?: Buffer;
  readonly cert?: Buffer;
  readonly key?: Buffer;
  readonly servername?: string;
}

export interface RedisConnection {
  readonly mode: RedisMode;
  /** The server, the sentinels, or cluster seed nodes. */
  readonly nodes: readonly RedisNode[];
  readonly masterName?: string;
  readonly db: number;
  readonly username?: string;
  readonly password?: string;
  readonly sentinelPassword?: string;
  /** Absent: no TLS. */
  readonly tls?: RedisTls;
  readonly keyPrefix: string;
  readonly connectTimeoutMs: number;
  readonly commandTimeoutMs: number;
  readonly waitReplicas: number;
  readonly waitTimeoutMs: number;
}

type RedisKeysConfig = CoreConfig['store']['redis'];
/** `store` as the schema gives it; tests and tools may leave out what has a default. */
export type RedisStoreConfig = Pick<CoreConfig['store'], 'url'> & {
  redis?: Partial<Omit<RedisKeysConfig, 'tls'>> & { tls?: Partial<RedisKeysConfig['tls']> };
};

export const REDIS_DEFAULTS = {
  keyPrefix: 'tg:', connectTimeoutMs: 2000, commandTimeoutMs: 1000, waitReplicas: 0, waitTimeoutMs: 200,
} as const;

/** The connection a (validated) store config names; `env` holds `store.redis.passwordEnv`'s variable. */
export function redisConnection(store: RedisStoreConfig, env: NodeJS.ProcessEnv = process.env): RedisConnection {
  const url = parseRedisUrl(store.url);
  const r = store.redis ?? {};
  const mode = url.nodes.length > 0 ? url.mode : (r.mode ?? 'standalone');
  const defaultPort = mode === 'sentinel' ? 26379 : 6379;
  const nodes = url.nodes.length > 0 ? url.nodes : (r.nodes ?? []).map((n) => node(n, defaultPort));
  let password = url.password;
  if (r.passwordFile !== undefined) password = secretFile(r.passwordFile, 'store.redis.passwordFile');
  if (r.passwordEnv !== undefined) {
    const value = env[r.passwordEnv];
    if (value === undefined || value === '') throw new ConfigError('store.redis.passwordEnv', [`the variable ${r.passwordEnv} is not set`]);
    password = value;
  }
  const t = r.tls;
  const tls = url.tls || t?.enabled === true ? {
    ...(t?.caFile !== undefined ? { ca: file(t.caFile, 'store.redis.tls.caFile') } : {}),
    ...(t?.certFile !== undefined ? { cert: file(t.certFile, 'store.redis.tls.certFile') } : {}),
    ...(t?.keyFile !== undefined ? { key: file(t.keyFile, 'store.redis.tls.keyFile') } : {}),
    ...(t?.servername !== undefined ? { servername: t.servername } : {}),
  } : undefined;
  const masterName = url.masterName ?? r.masterName;
  const username = url.username ?? r.username;
  return {
    mode, nodes, db: url.db ?? r.db ?? 0,
    ...(masterName !== undefined ? { masterName } : {}),
    ...(username !== undefined ? { username } : {}),
    ...(password !== undefined ? { password } : {}),
    ...(r.sentinelPasswordFile !== undefined ? { sentinelPassword: secretFile(r.sentinelPasswordFile, 'store.redis.sentinelPasswordFile') } : {}),
    ...(tls !== undefined ? { tls } : {}),
    keyPrefix: r.keyPrefix ?? REDIS_DEFAULTS.keyPrefix,
    connectTimeoutMs: r.connectTimeoutMs ?? REDIS_DEFAULTS.connectTimeoutMs,
    commandTimeoutMs: r.commandTimeoutMs ?? REDIS_DEFAULTS.commandTimeoutMs,
    waitReplicas: r.waitReplicas ?? REDIS_DEFAULTS.waitReplicas,
    waitTimeoutMs: r.waitTimeoutMs ?? REDIS_DEFAULTS.waitTimeoutMs,
  };
}

/** `host:port` of a node, for logs and reports (never credentials). */
export function nodeName(n: RedisNode): string {
  return n.host.includes(':') ? `[${n.host}]:${n.port}` : `${n.host}:${n.port}`;
}

function file(path: string, key: string): Buffer {
  try {
    return readFileSync(resolve(path));
  } catch (err) {
    throw new ConfigError(key, [`cannot read ${resolve(path)} (${(err as NodeJS.ErrnoException).code ?? 'error'})`]);
  }
}

function secretFile(path: string, key: string): string {
  const value = file(path, key).toString('utf8').replace(/\r?\n$/, '');
  if (value === '') throw new ConfigError(key, [`${resolve(path)} is empty`]);
  return value;
}
