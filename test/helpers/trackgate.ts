/**
 * Starts a real trackgate instance for a test: a temp folder with a config file (the given overrides on top
 * of test defaults), the demo accounts file, a SQLite store, both servers on ephemeral 127.0.0.1 ports, and
 * every log line captured for assertions.
 */
import { mkdtempSync, copyFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { stringify } from 'yaml';
import { App } from '../../src/app.js';
import { loadConfig } from '../../src/config-schema.js';
import { createLogger } from '../../src/observability/log.js';

export const DEMO_ACCOUNTS = new URL('../../config/accounts.yaml', import.meta.url).pathname;

export interface TestGate {
  app: App;
  dir: string;
  configFile: string;
  /** `http://127.0.0.1:<proxy port>` */
  url: string;
  adminUrl: string;
  /** Raw log lines written so far. */
  logs: string[];
  /** Log lines parsed as JSON. */
  logRecords(): Record<string, unknown>[];
  close(): Promise<void>;
}

export function deepMerge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const prev = out[k];
    out[k] = typeof v === 'object' && v !== null && !Array.isArray(v) && typeof prev === 'object' && prev !== null && !Array.isArray(prev)
      ? deepMerge(prev as Record<string, unknown>, v as Record<string, unknown>)
      : v;
  }
  return out;
}

export interface StartTrackgateOptions {
  upstreamUrl: string;
  config?: Record<string, unknown>;
  env?: NodeJS.ProcessEnv;
  /** Extra files to write into the temp folder before start (name → content). */
  files?: Record<string, string>;
  /** Clock (epoch ms) for the app: validation cache, identity header, Digest nonces. */
  now?: () => number;
}

/** One trackgate in front of `upstreamUrl` (test/helpers/gate.ts also starts a recording upstream for it). */
export async function startTrackgate(opts: StartTrackgateOptions): Promise<TestGate> {
  const dir = mkdtempSync(join(tmpdir(), 'trackgate-test-'));
  copyFileSync(DEMO_ACCOUNTS, join(dir, 'accounts.yaml'));
  for (const [name, content] of Object.entries(opts.files ?? {})) writeFileSync(join(dir, name), content);
  const config = deepMerge({
    listen: '127.0.0.1:0',
    admin: { listen: '127.0.0.1:0' },
    upstream: { url: opts.upstreamUrl },
    store: { url: `sqlite:${join(dir, 'store.sqlite')}` },
    accountsFile: 'accounts.yaml',
    identity: { issuer: 'trackgate-test', audience: 'upstream-test' },
    logging: { level: 'info' },
    watch: false,
  }, opts.config ?? {});
  const configFile = join(dir, 'trackgate.yaml');
  writeFileSync(configFile, stringify(config));
  const logs: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n')) if (line !== '') logs.push(line);
      cb();
    },
  });
  const loaded = loadConfig(configFile, opts.env ?? {});
  const app = await App.create(loaded, {
    logger: createLogger({ level: loaded.config.logging.level, destination }),
    env: opts.env ?? {},
    defaultMetrics: false,
    ...(opts.now !== undefined ? { now: opts.now } : {}),
  });
  const { proxy, admin } = await app.listen();
  return {
    app, dir, configFile, logs,
    url: `http://127.0.0.1:${proxy.port}`,
    adminUrl: `http://127.0.0.1:${admin.port}`,
    logRecords: () => logs.map((l) => JSON.parse(l) as Record<string, unknown>),
    close: async () => {
      await app.close(1000);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Log records written since index `from`. */
export function logsSince(logs: string[], from: number): Record<string, unknown>[] {
  return logs.slice(from).map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** `Basic <base64(user:pass)>` */
export function basicAuth(user: string, pass: string): string {
  return `Basic ${Buffer.from(`${user}:${pass}`, 'utf8').toString('base64')}`;
}

/** The demo accounts' clear secrets (their hashes are in config/accounts.yaml). */
export const DEMO = {
  user: 'j.random.user',
  password: 'j.random.password',
  webServiceKey: 'demo-web-service-key',
  adminEmail: 'admin@example.com',
  adminPassword: 'P@ssword',
  apiInstanceId: 'demo-api-instance',
  apiInstanceKey: 'demo-api-instance-key',
  instanceId: 'demo-instance',
  instanceKey: 'demo-instance-key',
  deviceToken: 'demo-device-token',
  clientId: 'demo-app',
  clientSecret: 'demo-app-secret',
} as const;
