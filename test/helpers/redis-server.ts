/**
 * A real `redis-server` (the Debian package, installed by .ci/run) for a test: a free 127.0.0.1 port, no
 * persistence (`--save '' --appendonly no`), its own temp dir. `stop()` and `start()` again keep the port, so a
 * test can take Redis away from running trackgates and bring it back (empty: nothing was persisted).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.js';
import { sleep } from './wait.js';

export interface RedisServer {
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  readonly dir: string;
  /** Whether the process is up. */
  readonly running: boolean;
  /** Starts it again on the same port (after `stop()`). */
  start(): Promise<void>;
  /** SIGTERM, and waits for the exit. */
  stop(): Promise<void>;
  /** SIGKILL (a crash: nothing is saved or handed over), and waits for the exit. */
  kill(): Promise<void>;
  /** SIGSTOP: the server keeps its connections but answers nothing (a hung Redis). */
  pause(): void;
  /** SIGCONT after `pause()`. */
  resume(): void;
  /** Sends one inline command and resolves with the raw reply (e.g. `CLIENT KILL TYPE pubsub`). */
  command(line: string): Promise<string>;
  /** Stops it and removes its dir. */
  close(): Promise<void>;
}

const BINARY = process.env.REDIS_SERVER ?? (existsSync('/usr/bin/redis-server') ? '/usr/bin/redis-server' : 'redis-server');
export const SENTINEL_BINARY = process.env.REDIS_SENTINEL ?? (existsSync('/usr/bin/redis-sentinel') ? '/usr/bin/redis-sentinel' : 'redis-sentinel');

export interface RedisServerOptions {
  /** Appended to the default arguments (e.g. `--replicaof`, `--tls-port`, `--cluster-enabled yes`). */
  extraArgs?: string[];
  /** Instead of redis-server and its default arguments: a sentinel, given its whole command line per port. */
  sentinel?: (port: number, dir: string) => string[];
}

export async function startRedisServer(opts: RedisServerOptions = {}): Promise<RedisServer> {
  const dir = mkdtempSync(join(tmpdir(), 'trackgate-redis-'));
  const binary = opts.sentinel !== undefined ? SENTINEL_BINARY : BINARY;
  let port = 0;
  let child: ChildProcess | undefined;

  const launch = async (p: number): Promise<void> => {
    const args = opts.sentinel !== undefined ? opts.sentinel(p, dir) : ['--port', String(p), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
      '--dir', dir, '--daemonize', 'no', '--loglevel', 'warning', ...(opts.extraArgs ?? [])];
    const proc = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    proc.stdout?.on('data', (c: Buffer) => { output += c.toString('utf8'); });
    proc.stderr?.on('data', (c: Buffer) => { output += c.toString('utf8'); });
    const exited = new Promise<never>((_, reject) => {
      proc.once('error', (err) => reject(new Error(`cannot run ${binary}: ${err.message}`)));
      proc.once('exit', (code) => reject(new Error(`redis-server exited (${code}) on port ${p}: ${output.trim()}`)));
    });
    exited.catch(() => undefined);
    child = proc;
    const deadline = Date.now() + 10_000;
    for (;;) {
      const reply = await Promise.race([inline(p, 'PING').catch(() => ''), exited]);
      // NOAUTH: up, with a password (requirepass) the test gave it.
      if (reply.startsWith('+PONG') || reply.startsWith('-NOAUTH')) return;
      if (Date.now() > deadline) {
        proc.kill('SIGKILL');
        throw new Error(`redis-server on port ${p} did not answer PING: ${output.trim()}`);
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  };

  // A free port can be taken between finding it and redis-server binding it: try a few.
  for (let attempt = 1; ; attempt++) {
    const p = await freePort();
    try {
      await launch(p);
      port = p;
      break;
    } catch (err) {
      if (attempt >= 5) {
        rmSync(dir, { recursive: true, force: true });
        throw err;
      }
    }
  }

  const stop = async (signal: NodeJS.Signals = 'SIGTERM'): Promise<void> => {
    const proc = child;
    child = undefined;
    if (proc === undefined || proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill('SIGCONT');
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
      proc.once('exit', () => { clearTimeout(t); resolve(); });
      proc.kill(signal);
    });
  };

  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    get running() { return child !== undefined && child.exitCode === null && child.signalCode === null; },
    start: async () => {
      if (child !== undefined) return;
      // The port was ours a moment ago; retry while the old socket lingers.
      for (let attempt = 1; ; attempt++) {
        try {
          await launch(port);
          return;
        } catch (err) {
          if (attempt >= 20) throw err;
          await sleep(100);
        }
      }
    },
    stop: () => stop(),
    kill: () => stop('SIGKILL'),
    pause: () => { child?.kill('SIGSTOP'); },
    resume: () => { child?.kill('SIGCONT'); },
    command: (line) => inline(port, line),
    close: async () => {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}


/** One inline command on a fresh connection; resolves with the first reply chunk. */
function inline(port: number, line: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = createConnection({ host: '127.0.0.1', port });
    const t = setTimeout(() => { sock.destroy(); reject(new Error('timeout')); }, 2000);
    sock.once('error', (err) => { clearTimeout(t); reject(err); });
    sock.once('connect', () => sock.write(`${line}\r\n`));
    sock.once('data', (d: Buffer) => { clearTimeout(t); sock.end(); resolve(d.toString('utf8')); });
  });
}
