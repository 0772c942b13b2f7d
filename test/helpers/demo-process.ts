/**
 * `trackgate demo` (what `npm start` runs: bin/trackgate.js → dist/, config/trackgate.yaml, the bundled demo
 * service behind it) as a child process on free ports, with its own store file. For the browser tests.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, CLEAN_ENV, ROOT } from './cli.js';
import { onLines } from './lines.js';
import { freePort } from './ports.js';
import { waitFor } from './wait.js';

export interface DemoProcess {
  /** `http://127.0.0.1:<proxy port>` */
  proxy: string;
  admin: string;
  /** Kills the process and removes its store. */
  stop(): Promise<void>;
}

/** `env`: extra environment, given the admin port's URL (a CORS origin, say). */
export async function startDemo(env: (admin: string) => NodeJS.ProcessEnv = () => ({})): Promise<DemoProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'trackgate-demo-'));
  // The demo derives the JWKS URL its service fetches from the admin address: it must be a real port up front.
  const [proxyPort, adminPort] = [await freePort(), await freePort()];
  const admin = `http://127.0.0.1:${adminPort}`;
  const child: ChildProcess = spawn(process.execPath, [BIN, 'demo', '--config', join(ROOT, 'config/trackgate.yaml')], {
    cwd: dir,
    env: {
      ...CLEAN_ENV,
      TRACKGATE_LISTEN: `127.0.0.1:${proxyPort}`,
      TRACKGATE_ADMIN_LISTEN: `127.0.0.1:${adminPort}`,
      TRACKGATE_STORE: `sqlite:${join(dir, 'store.sqlite')}`,
      ...env(admin),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let listening = false;
  let output = '';
  onLines(child.stdout!, (line) => {
    if (line.includes('"trackgate listening"')) listening = true;
  });
  child.stderr!.setEncoding('utf8').on('data', (c: string) => { output += c; });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(() => {
      if (child.exitCode !== null) throw new Error(`trackgate demo exited (${child.exitCode}): ${output}`);
      return listening || undefined;
    }, 20_000, 50);
    if (!listening) throw new Error(`trackgate demo did not start within 20 s: ${output}`);
  } catch (err) {
    await stop();
    throw err;
  }
  return { proxy: `http://127.0.0.1:${proxyPort}`, admin, stop };
}
