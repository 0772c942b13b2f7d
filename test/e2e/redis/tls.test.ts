/**
 * TLS and an ACL user: a redis-server with a TLS port (a CA, a server certificate for `redis.test`, client
 * certificates required; all made by openssl here) and a user `tg` limited to trackgate's keys, channels and
 * commands. trackgate connects with the CA file, a client certificate, the server name and a password file;
 * without the CA, or with a wrong password, it stays unready and says why, never with the password.
 */
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisStore } from '../../../src/store/redis.js';
import { redisConnection } from '../../../src/store/redis-connection.js';
import { freePort } from '../../helpers/ports.js';
import { startRecordingUpstream, type RecordingUpstream } from '../../helpers/recording-upstream.js';
import { startRedisServer, type RedisServer } from '../../helpers/redis-server.js';
import { DEMO, startTrackgate } from '../../helpers/trackgate.js';
import { makeTestCa, type TestCa } from '../../helpers/test-ca.js';
import { waitFor } from '../../helpers/wait.js';

const PASSWORD = 'tls-test-Pa55word';
/** What docs/configuration.md tells a managed Redis's operator to grant. */
const ACL = ['~tg:*', '&tg:*', '+@read', '+@write', '+@scripting', '+@pubsub', '+ping', '+time', '+info', '+wait', '+select', '+client|setname'];

let ca: TestCa;
let redis: RedisServer;
let tlsPort: number;
let up: RecordingUpstream;
const files = (name: string) => ca.file(name);

beforeAll(async () => {
  ca = makeTestCa('redis-tls');
  ca.issue('server', 'redis.test', 'DNS:redis.test');
  ca.issue('client', 'trackgate');
  writeFileSync(files('password'), `${PASSWORD}\n`);
  tlsPort = await freePort();
  redis = await startRedisServer({
    extraArgs: ['--tls-port', String(tlsPort), '--tls-cert-file', files('server.crt'), '--tls-key-file', files('server.key'),
      '--tls-ca-cert-file', files('ca.crt'), '--tls-auth-clients', 'yes', '--user', 'tg', 'on', `>${PASSWORD}`, ...ACL],
  });
  up = await startRecordingUpstream();
}, 60_000);
afterAll(async () => {
  await up?.close();
  await redis?.close();
  ca?.remove();
});

const storeConfig = (tls: Record<string, unknown>, passwordFile = files('password')) => ({
  url: `rediss://127.0.0.1:${tlsPort}`,
  redis: { username: 'tg', passwordFile, tls: { caFile: files('ca.crt'), certFile: files('client.crt'), keyFile: files('client.key'), servername: 'redis.test', ...tls } },
});

describe('Redis over TLS with an ACL user', () => {
  it('trackgate connects with the CA file, a client certificate and a password file; tokens work', async () => {
    const gate = await startTrackgate({ upstreamUrl: up.url, config: { store: storeConfig({}), authn: { 'session_token': { enabled: true } }, logging: { level: 'info' } } });
    try {
      expect(await waitFor(async () => (await fetch(`${gate.adminUrl}/readyz`)).status === 200, 10_000)).toBe(true);
      const res = await fetch(`${gate.url}/rest/v2/token`, {
        method: 'POST', redirect: 'manual', body: new URLSearchParams({ key: DEMO.webServiceKey }).toString(),
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
      expect(res.status).toBe(303);
      const token = new URLSearchParams(res.headers.get('location')!.split('?')[1]).get('_token')!;
      gate.app.cache.clear();
      expect((await fetch(`${gate.url}/rest/v2/gateway?_token=${encodeURIComponent(token)}`)).status).toBe(200);
      // Both of its connections are the ACL user's (asked on the plain port, as the default user).
      const clients = (await redis.command('CLIENT LIST')).split('\n').filter((l) => / name=trackgate/.test(l));
      expect(clients).toHaveLength(2);
      for (const c of clients) expect(c).toMatch(/ user=tg /);
      expect(gate.logs.join('\n')).not.toContain(PASSWORD);
    } finally {
      await gate.close();
    }
  });

  it('without the CA, or with a wrong password, the store stays unready and says why, without the password', async () => {
    const noCa = new RedisStore(redisConnection({ ...storeConfig({ caFile: undefined }) }));
    const wrong = new RedisStore(redisConnection(storeConfig({}, (writeFileSync(files('wrong'), 'not-it'), files('wrong')))));
    try {
      expect(await noCa.waitReady(1500)).toBe(false);
      const e1 = await noCa.ping().then(() => undefined, (e: { code?: string; detail?: string }) => e);
      expect(e1?.code).toBe('TG_ERR_STORE_UNAVAILABLE');
      expect(e1?.detail).toMatch(/certificate/i);
      expect(await wrong.waitReady(1500)).toBe(false);
      const e2 = await wrong.ping().then(() => undefined, (e: { code?: string; detail?: string }) => e);
      expect(e2?.detail).toMatch(/WRONGPASS/);
      expect(JSON.stringify(e2)).not.toContain('not-it');
    } finally {
      await noCa.close();
      await wrong.close();
    }
  });
});
