/**
 * A real Prometheus server (Debian's `prometheus` package, installed by .ci/run) for a test: 127.0.0.1 on a free
 * port, its own temp dir for the config and the TSDB, scraping the given targets every `scrapeIntervalSeconds`.
 * It is SIGKILLed by `close()`, and after `lifetimeSeconds` by coreutils' `timeout` around it, so it stops even
 * when the test process dies first.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { freePort } from './ports.js';
import { waitFor } from './wait.js';

export interface PrometheusSample { metric: Record<string, string>; value: [number, string] }
export type QueryResult =
  | { status: 'success'; data: { resultType: 'vector'; result: PrometheusSample[] } | { resultType: 'scalar'; result: [number, string] } }
  | { status: 'error'; errorType: string; error: string };

export interface PrometheusServer {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** An instant query (`/api/v1/query`) at `time` (Unix seconds; default: now). */
  query(expr: string, time?: number): Promise<QueryResult>;
  /** The server's own log so far (stderr). */
  log(): string;
  close(): Promise<void>;
}

const BINARY = process.env.PROMETHEUS ?? (existsSync('/usr/bin/prometheus') ? '/usr/bin/prometheus' : 'prometheus');

export async function startPrometheus(opts: { job: string; targets: string[]; scrapeIntervalSeconds?: number; lifetimeSeconds?: number }): Promise<PrometheusServer> {
  const dir = mkdtempSync(join(tmpdir(), 'trackgate-prometheus-'));
  const interval = `${opts.scrapeIntervalSeconds ?? 1}s`;
  writeFileSync(join(dir, 'prometheus.yml'), stringify({
    global: { scrape_interval: interval, scrape_timeout: interval, evaluation_interval: interval },
    scrape_configs: [{ job_name: opts.job, static_configs: [{ targets: opts.targets }] }],
  }));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  // Its own process group (timeout and prometheus), ended as one by close().
  const child = spawn('timeout', ['-s', 'KILL', String(opts.lifetimeSeconds ?? 120), BINARY,
    `--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn',
  ], { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (c: string) => { stderr += c; });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const spawned = new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', (err) => reject(new Error(`cannot run ${BINARY}: ${err.message}`)));
  });
  const close = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      try { process.kill(-child.pid, 'SIGKILL'); } catch { /* already gone */ }
    }
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await spawned;
    const ready = await waitFor(async () => {
      if (child.exitCode !== null) throw new Error(`prometheus exited (${child.exitCode}): ${stderr}`);
      return (await fetch(`${url}/-/ready`).catch(() => undefined))?.status === 200;
    }, 20_000, 100);
    if (!ready) throw new Error(`prometheus did not become ready on ${url}: ${stderr}`);
  } catch (err) {
    await close();
    throw err;
  }
  return {
    url,
    query: async (expr, time) => {
      const params = new URLSearchParams({ query: expr, ...(time !== undefined ? { time: String(time) } : {}) });
      return await (await fetch(`${url}/api/v1/query`, { method: 'POST', body: params })).json() as QueryResult;
    },
    log: () => stderr,
    close,
  };
}
