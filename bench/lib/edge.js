/**
 * trackgate in decision mode behind nginx, the way deploy/edge/nginx/trackgate-auth.conf ships: the repo's file
 * rendered by deploy/edge/nginx/render.mjs (the e2e test's renderer), one line changed (below), nginx and
 * trackgate both pinned to the proxy CPU, so the pair gets the one core a proxy under test gets alone.
 */
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderNginxEdgeConf } from '../../deploy/edge/nginx/render.mjs';
import { CPU_PROXY, startTrackgate } from './harness.js';
import { freePort, startServer, waitForPort } from './procs.js';

/**
 * The shipped file says `worker_processes auto` (one per CPU); the bench's nginx rows run one worker on their
 * one pinned CPU, and a second worker on that CPU would only add context switches. The only line changed.
 */
const WORKERS = ['worker_processes auto;', 'worker_processes 1;'];

/** Writes the rendered config under `dir/<name>` and starts nginx pinned to the proxy CPU. */
export async function startNginxEdge(dir, name, { upstreamPort, decisionPort, proxyPort }) {
  const root = join(dir, name);
  mkdirSync(root, { recursive: true });
  chmodSync(root, 0o755);
  // Started by root, nginx's workers run as `nobody` (the file has no `user`): they write the cache and temp files.
  for (const sub of ['cache', 'tmp']) { mkdirSync(join(root, sub)); chmodSync(join(root, sub), 0o777); }
  const port = await freePort();
  const rendered = renderNginxEdgeConf({
    LISTEN: `127.0.0.1:${port}`, UPSTREAM: `127.0.0.1:${upstreamPort}`, TRACKGATE_DECISION: `127.0.0.1:${decisionPort}`,
    TRACKGATE_PROXY: `127.0.0.1:${proxyPort}`, CACHE_DIR: join(root, 'cache'), PREFIX_DIRS: join(root, 'tmp'),
  });
  if (!rendered.includes(WORKERS[0])) throw new Error(`${name}: deploy/edge/nginx/trackgate-auth.conf no longer says "${WORKERS[0]}"`);
  const file = join(root, 'nginx.conf');
  writeFileSync(file, rendered.replace(WORKERS[0], WORKERS[1]));
  const proc = startServer(name, ['nginx', '-p', root, '-e', 'stderr', '-c', file, '-g', `daemon off; pid ${join(root, 'nginx.pid')};`], {
    cpu: CPU_PROXY, logFile: join(root, 'stderr.log'),
  });
  await waitForPort(port, { proc });
  return { port, proc };
}

/**
 * A trackgate with `decision.listen` (its config: the bench's, plus `overrides`) and nginx in front of it. The
 * target's `pgid` lists both process groups: CPU, instructions and RSS are the pair's.
 */
export async function startDecisionEdge(name, tgCtx, overrides = {}) {
  const decisionPort = await freePort();
  const tg = await startTrackgate(`trackgate-${name}`, tgCtx, { ...overrides, decision: { ...overrides.decision, listen: `127.0.0.1:${decisionPort}` } });
  try {
    const nginx = await startNginxEdge(tgCtx.dir, `nginx-${name}`, { upstreamPort: tgCtx.upstreamPort, decisionPort, proxyPort: tg.port });
    return { name: `nginx+trackgate-${name}`, port: nginx.port, pgid: [nginx.proc.pid, tg.pgid], procs: [nginx.proc, tg.proc], trackgate: tg };
  } catch (err) {
    await tg.proc.stop();
    throw err;
  }
}
