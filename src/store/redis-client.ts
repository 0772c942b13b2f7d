/**
 * The one place an ioredis client is built: a `Redis` to one server, a `Redis` that finds its master through
 * the sentinels, or a `Cluster`, each with trackgate's failure behaviour:
 *
 * - nothing is queued offline and a command waits at most `commandTimeoutMs`: the caller answers 503 at once;
 * - a command caught by a dropped connection fails instead of being re-sent (its outcome is unknown: re-sending
 *   a won `rotateToken` would read as lost and the caller would kill its own refresh family);
 * - a server that answers READONLY (a master demoted by a failover, still reached through an old connection)
 *   makes the client reconnect, which asks the sentinels (or the cluster) where the master is now.
 *
 * Credentials and TLS material come from the {@link RedisConnection}; they never reach a log or an error.
 */
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { RedisNode } from '../config/redis-url.js';
import type { RedisConnection } from './redis-connection.js';

/** Either kind of client: the commands trackgate uses exist on both. */
export type RedisClient = Redis | Cluster;

export interface ClientRole {
  /** CLIENT SETNAME, to tell trackgate's connections apart in CLIENT LIST. */
  readonly name: string;
  /** Connect to this one node only (the cluster's event subscriber), whatever the mode. */
  readonly node?: RedisNode;
  /** Reconnect attempts before giving up with `end` (default: forever). */
  readonly maxReconnects?: number;
}

export function createRedisClient(conn: RedisConnection, role: ClientRole): RedisClient {
  const client = build(conn, role);
  if (client instanceof Redis) guardStream(client);
  return client;
}

/**
 * ioredis listens for one `error` per socket (`once`); a TLS socket can emit a second (a handshake refused, then
 * the server's alert), which Node would throw as an unhandled error and end the process. After the first, the
 * socket, which ioredis is dropping anyway, gets a listener that ignores the rest.
 */
function guardStream(client: Redis): void {
  client.on('error', () => {
    const s = client.stream;
    if (s !== undefined && s.listenerCount('error') === 0) s.on('error', () => undefined);
  });
}

function build(conn: RedisConnection, role: ClientRole): RedisClient {
  const base = serverOptions(conn, role);
  if (role.node !== undefined) return new Redis({ ...base, host: role.node.host, port: role.node.port });
  if (conn.mode === 'cluster') {
    const options: ClusterOptions = {
      redisOptions: base,
      enableOfflineQueue: false,
      maxRedirections: 4,
      retryDelayOnFailover: 100,
      retryDelayOnClusterDown: 100,
      clusterRetryStrategy: (attempt) => Math.min(attempt * 100, 2000),
      slotsRefreshTimeout: conn.connectTimeoutMs,
    };
    return new Cluster(conn.nodes.map((n) => ({ host: n.host, port: n.port })), options);
  }
  if (conn.mode === 'sentinel') {
    return new Redis({
      ...base,
      sentinels: conn.nodes.map((n) => ({ host: n.host, port: n.port })),
      name: conn.masterName!,
      role: 'master',
      ...(conn.username !== undefined && conn.sentinelPassword !== undefined ? { sentinelUsername: conn.username } : {}),
      ...(conn.sentinelPassword !== undefined ? { sentinelPassword: conn.sentinelPassword } : {}),
      ...(conn.tls !== undefined ? { enableTLSForSentinelMode: true, sentinelTLS: tlsOptions(conn) } : {}),
      sentinelRetryStrategy: (attempt) => Math.min(attempt * 100, 2000),
      sentinelMaxConnections: 3,
      // Subscribes to the sentinels' +switch-master: the switch is seen at once, not at the next failed command.
      failoverDetector: true,
    });
  }
  const n = conn.nodes[0]!;
  return new Redis({ ...base, host: n.host, port: n.port });
}

function serverOptions(conn: RedisConnection, role: ClientRole): RedisOptions {
  return {
    connectionName: role.name,
    connectTimeout: conn.connectTimeoutMs,
    commandTimeout: conn.commandTimeoutMs,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    // The store resubscribes itself, to know when it is listening again (and emit `resync`).
    autoResubscribe: false,
    retryStrategy: (attempt) => (role.maxReconnects !== undefined && attempt > role.maxReconnects ? null : Math.min(attempt * 100, 2000)),
    // Reconnect (and find the master again) without re-sending the command that met a demoted master.
    reconnectOnError: (err) => err.message.startsWith('READONLY'),
    db: conn.mode === 'cluster' ? 0 : conn.db,
    ...(conn.username !== undefined ? { username: conn.username } : {}),
    ...(conn.password !== undefined ? { password: conn.password } : {}),
    ...(conn.tls !== undefined ? { tls: tlsOptions(conn) } : {}),
  };
}

function tlsOptions(conn: RedisConnection): NonNullable<RedisOptions['tls']> {
  const t = conn.tls!;
  return {
    ...(t.ca !== undefined ? { ca: t.ca } : {}),
    ...(t.cert !== undefined ? { cert: t.cert } : {}),
    ...(t.key !== undefined ? { key: t.key } : {}),
    ...(t.servername !== undefined ? { servername: t.servername } : {}),
  };
}
