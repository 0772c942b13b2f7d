/**
 * Runs the real `trackgate --config FILE` (bin/trackgate.js → dist/) as a child process, one process or, with
 * `workers` > 1, a primary and its workers: waits for the `trackgate listening` line, keeps every JSON log line
 * of the primary and its workers (they share stdout; each line carries `pid`, workers' also `worker`), and can
 * kill the whole process tree.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { BIN, CLEAN_ENV } from './cli.js';
import { onLines } from './lines.js';
import { waitFor } from './wait.js';

export type LogRecord = Record<string, unknown> & { msg?: string; pid?: number; worker?: number; role?: string };

export interface ClusterProc {
  child: ChildProcess;
  configFile: string;
  /** `http://127.0.0.1:<proxy port>` */
  proxy: string;
  admin: string;
  records: LogRecord[];
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Pids of every worker that logged `worker listening` so far. */
  workerPids(): number[];
  /** The first log line matching `pred`, waiting for it up to `timeoutMs`. */
  waitFor(pred: (r: LogRecord) => boolean, timeoutMs?: number): Promise<LogRecord>;
  /** SIGKILLs the primary and every worker seen (for afterAll/afterEach; safe to call twice). */
  kill(): void;
}

export async function startCluster(opts: { dir: string; name: string; config: Record<string, unknown>; env?: NodeJS.ProcessEnv; nodeFlags?: string[]; startTimeoutMs?: number }): Promise<ClusterProc> {
  const configFile = join(opts.dir, `${opts.name}.yaml`);
  writeFileSync(configFile, stringify(opts.config));
  const child = spawn(process.execPath, [...(opts.nodeFlags ?? []), BIN, '--config', configFile], { cwd: opts.dir, env: { ...CLEAN_ENV, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const records: LogRecord[] = [];
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (c: string) => { stderr += c; });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal }));
  });
  onLines(child.stdout!, (line) => {
    try { records.push(JSON.parse(line) as LogRecord); } catch { /* not a log line */ }
  });
  const workerPids = (): number[] => [...new Set(records.filter((r) => r.msg === 'worker listening').map((r) => r.pid!))];
  const kill = (): void => {
    for (const pid of [child.pid, ...workerPids()]) {
      if (pid === undefined) continue;
      try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
    }
  };
  const proc: ClusterProc = {
    child, configFile, proxy: '', admin: '', records, stderr: () => stderr, exited, workerPids, kill,
    waitFor: async (pred, timeoutMs = 3000) => {
      const r = await waitFor(() => records.find(pred), timeoutMs, 20);
      if (r === undefined) throw new Error(`no such log line within ${timeoutMs} ms`);
      return r;
    },
  };
  const timeoutMs = opts.startTimeoutMs ?? 15000;
  try {
    const started = await new Promise<LogRecord>((resolve, reject) => {
      const t = setInterval(() => {
        const r = records.find((x) => x.msg === 'trackgate listening');
        if (r !== undefined) { clearInterval(t); resolve(r); }
      }, 20);
      void exited.then(({ code, signal }) => { clearInterval(t); reject(new Error(`trackgate exited (${code ?? signal}) before listening: ${stderr}`)); });
      setTimeout(() => { clearInterval(t); reject(new Error(`trackgate did not start within ${timeoutMs} ms: ${stderr}`)); }, timeoutMs);
    });
    proc.proxy = `http://${String(started.proxy)}`;
    proc.admin = `http://${String(started.admin)}`;
  } catch (err) {
    kill();
    throw err;
  }
  return proc;
}
