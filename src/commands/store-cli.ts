/**
 * `trackgate store check`: connects to the configured store with exactly the options trackgate would use
 * (`--config FILE`, env overrides included) and reports what it found (src/store/redis-check.ts), so a
 * misconfigured Redis is found before a rollout.
 *
 * Exit codes (the CLI's table): 0 the store answers and can give what is configured (warnings are printed); 1 a
 * problem (invalid config, unreachable, no master, the durability cannot be met); 2 a usage error.
 * Never prints a password: only host:port, mode and what the server says about itself. The Redis check is
 * imported only when the store is Redis (the CLI of a SQLite deployment never loads the Redis client).
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError } from '../config/load.js';
import { isRedisUrl } from '../config/redis-url.js';
import { loadConfig } from '../config-schema.js';
import type { StoreReport } from '../store/redis-check.js';

export type { StoreReport };

export const STORE_CLI_OPTIONS = { json: { type: 'boolean' } } as const;

export const STORE_USAGE = `  trackgate store check [--json]       connect to the configured store and report its topology, latency,
                                       persistence and whether store.redis.waitReplicas can be met
      (store takes --config FILE, or TRACKGATE_CONFIG)
`;

export interface StoreCliIO {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
  env: NodeJS.ProcessEnv;
}

class UsageError extends Error {}

export async function runStoreCli(argv: string[], io: StoreCliIO = { stdout: process.stdout, stderr: process.stderr, env: process.env }): Promise<number> {
  let report: StoreReport;
  let json = false;
  try {
    const { values, positionals } = parseArgs({
      args: argv, allowPositionals: true,
      options: { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' }, ...STORE_CLI_OPTIONS },
    });
    if (values.help) {
      io.stdout.write(`usage:\n${STORE_USAGE}`);
      return 0;
    }
    const [command, verb, ...rest] = positionals;
    if (command !== 'store') throw new UsageError(`not a store command: ${command ?? '(none)'}`);
    if (verb !== 'check') throw new UsageError(`unknown store command ${verb === undefined ? '(none)' : `"${verb}"`}`);
    if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}"`);
    const file = values.config ?? io.env.TRACKGATE_CONFIG;
    if (file === undefined) throw new UsageError('store needs --config FILE (or TRACKGATE_CONFIG)');
    json = values.json === true;
    const store = loadConfig(file, io.env).config.store;
    report = isRedisUrl(store.url) ? await (await import('../store/redis-check.js')).checkRedisStore(store, io.env) : checkSqlite(store.url);
  } catch (err) {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      io.stderr.write(`trackgate: ${(err as Error).message}\nusage: trackgate store check [--json] --config FILE   (trackgate store --help)\n`);
      return 2;
    }
    if (err instanceof ConfigError) {
      io.stderr.write(`trackgate: invalid configuration: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
  io.stdout.write(json ? `${JSON.stringify(report, null, 2)}\n` : render(report));
  return report.ok ? 0 : 1;
}

function checkSqlite(url: string): StoreReport {
  const path = url.slice('sqlite:'.length);
  const exists = path === ':memory:' || existsSync(resolve(path));
  return {
    ok: true, engine: 'sqlite', problems: [],
    warnings: exists ? [] : [`${resolve(path)} does not exist yet (trackgate creates it at start)`],
  };
}

function render(r: StoreReport): string {
  const lines = [`store: ${r.engine}${r.mode !== undefined ? ` (${r.mode}: ${r.nodes?.join(', ')})` : ''}`];
  if (r.topology !== undefined) {
    lines.push(`master: ${r.topology.masterReachable ? r.topology.master ?? 'reachable' : `not reachable (${r.topology.detail ?? '?'})`}`);
    lines.push(`replicas: ${r.topology.replicas}`);
  }
  if (r.latencyMs !== undefined) lines.push(`latency: p50 ${r.latencyMs.p50} ms, max ${r.latencyMs.max} ms (${r.latencyMs.pings} PINGs)`);
  for (const p of r.persistence ?? []) {
    lines.push(`persistence ${p.server}: appendonly ${p.appendonly ?? '?'}, save "${p.save ?? '?'}", maxmemory-policy ${p.maxmemoryPolicy ?? '?'}${p.from === 'info' ? ' (from INFO: CONFIG GET refused)' : ''}`);
  }
  if (r.durability !== undefined) {
    lines.push(`durability: waitReplicas ${r.durability.waitReplicas}, ${r.durability.acknowledged} replica(s) acknowledged a probe write: ${r.durability.ok ? 'ok' : 'NOT MET'}`);
  }
  for (const w of r.warnings) lines.push(`warning: ${w}`);
  for (const p of r.problems) lines.push(`problem: ${p}`);
  lines.push(r.ok ? 'ok' : 'not ok');
  return `${lines.join('\n')}\n`;
}
