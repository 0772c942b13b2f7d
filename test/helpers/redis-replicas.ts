/**
 * Two trackgate replicas (in-process Apps, each with its own validation cache) in front of one recording
 * upstream, sharing one real redis-server as their store, for the tests of a file: started in `beforeAll`,
 * closed in `afterAll`.
 */
import { afterAll, beforeAll } from 'vitest';
import { startRecordingUpstream, type RecordingUpstream } from './recording-upstream.js';
import { startRedisServer, type RedisServer } from './redis-server.js';
import { deepMerge, startTrackgate, type TestGate } from './trackgate.js';

export interface RedisReplicas {
  readonly redis: RedisServer;
  readonly up: RecordingUpstream;
  readonly a: TestGate;
  readonly b: TestGate;
}

/** `config` is merged over `{store: {url: <redis>}, logging: {level: 'warn'}}`. */
export function useRedisReplicas(config: Record<string, unknown> = {}): RedisReplicas {
  let parts: RedisReplicas | undefined;
  beforeAll(async () => {
    const redis = await startRedisServer();
    const up = await startRecordingUpstream();
    const merged = deepMerge({ store: { url: redis.url }, logging: { level: 'warn' } }, config);
    const [a, b] = await Promise.all([0, 1].map(() => startTrackgate({ upstreamUrl: up.url, config: merged })));
    parts = { redis, up, a: a!, b: b! };
  });
  afterAll(async () => {
    if (parts === undefined) return;
    await Promise.all([parts.a.close(), parts.b.close()]);
    await parts.up.close();
    await parts.redis.close();
  });
  const get = (): RedisReplicas => {
    if (parts === undefined) throw new Error('useRedisReplicas: read outside the file\'s tests');
    return parts;
  };
  return { get redis() { return get().redis; }, get up() { return get().up; }, get a() { return get().a; }, get b() { return get().b; } };
}
