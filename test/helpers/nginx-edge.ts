/**
 * Real nginx (Debian's /usr/sbin/nginx, installed by .ci/run) in front of a trackgate in decision mode, run
 * with deploy/edge/nginx/trackgate-auth.conf as it is in the repo: only its @@PLACEHOLDERS@@ are replaced. It
 * listens on a free 127.0.0.1 port and is killed by `close` (and with the test process).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.js';
import { waitFor } from './wait.js';
import { renderNginxEdgeConf } from '../../deploy/edge/nginx/render.mjs';

export const NGINX = '/usr/sbin/nginx';

export interface NginxEdge {
  url: string;
  /** The rendered config (for assertions on what ran). */
  conf: string;
  /** What nginx wrote to stderr. */
  stderr(): string;
  close(): Promise<void>;
}

export interface NginxEdgeOptions {
  upstream: string;
  decision: string;
  proxy: string;
}

export async function startNginxEdge(o: NginxEdgeOptions): Promise<NginxEdge> {
  const dir = mkdtempSync(join(tmpdir(), 'trackgate-nginx-'));
  const port = await freePort();
  // Run as root, nginx's workers drop to `nobody`: they must be able to write the cache and temporary files.
  chmodSync(dir, 0o755);
  for (const sub of ['cache', 'tmp']) { mkdirSync(join(dir, sub)); chmodSync(join(dir, sub), 0o777); }
  const conf = renderNginxEdgeConf({
    LISTEN: `127.0.0.1:${port}`, UPSTREAM: o.upstream, TRACKGATE_DECISION: o.decision, TRACKGATE_PROXY: o.proxy,
    CACHE_DIR: join(dir, 'cache'), PREFIX_DIRS: join(dir, 'tmp'),
  });
  const confFile = join(dir, 'nginx.conf');
  writeFileSync(confFile, process.env.NGINX_DEBUG ? conf.replace('error_log stderr warn;', 'error_log stderr info;') : conf);
  let err = '';
  const child: ChildProcess = spawn(NGINX, ['-p', dir, '-e', 'stderr', '-c', confFile, '-g', `daemon off; pid ${join(dir, 'nginx.pid')};`], { stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr!.on('data', (c: Buffer) => { err += c.toString('utf8'); });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const kill = (): void => { child.kill('SIGKILL'); };
  process.once('exit', kill);
  const up = await waitFor(() => new Promise<boolean>((resolve) => {
    if (child.exitCode !== null) { resolve(false); return; }
    const s = connect(port, '127.0.0.1', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  }), 10000, 50);
  if (!up) { kill(); await exited; throw new Error(`nginx did not start: ${err}`); }
  return {
    url: `http://127.0.0.1:${port}`, conf, stderr: () => err,
    close: async () => {
      process.removeListener('exit', kill);
      if (child.exitCode === null) { child.kill('SIGTERM'); await exited; }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
