/**
 * The primary's worker processes: forks them (node:cluster; connections to the shared proxy port are handed
 * out round-robin, Node's default on Linux), gives each an IPC channel, restarts one that exits unexpectedly
 * (with a backoff), and stops them all on shutdown.
 */
import cluster, { type Worker } from 'node:cluster';
import type { Logger } from '../observability/log.js';
import { IpcChannel, type IpcSend } from './ipc.js';
import { METHOD, type ListeningParams } from './protocol.js';

/** First restart delay after a crash; doubled per crash in a row, up to {@link RESTART_MAX_MS}. */
const RESTART_BASE_MS = 200;
const RESTART_MAX_MS = 10_000;
/** A worker that ran this long before exiting starts its backoff over. */
const STABLE_MS = 10_000;
/** After the drain deadline, time killed workers get to be reaped. */
const KILL_WAIT_MS = 2000;

export interface WorkerPoolOptions {
  size: number;
  /** The worker entry script (cluster.setupPrimary `exec`). */
  exec: string;
  /** Extra environment for the workers (on top of this process's). */
  env?: NodeJS.ProcessEnv;
  logger: Logger;
  /** Registers the primary's handlers (bootstrap, shared state) on a new worker's channel. */
  serve(channel: IpcChannel): void;
  /** A crashed worker is being replaced. */
  onRestart(): void;
}

interface Slot {
  worker: Worker | undefined;
  channel: IpcChannel | undefined;
  listening: ListeningParams | undefined;
  startedAt: number;
  /** Crashes in a row (reset once a worker ran {@link STABLE_MS}). */
  crashes: number;
  restartTimer: NodeJS.Timeout | undefined;
}

export class WorkerPool {
  readonly #opts: WorkerPoolOptions;
  readonly #slots: Slot[];
  #started = false;
  #stopping = false;
  #start: { resolve(p: ListeningParams): void; reject(e: Error): void } | undefined;
  #allExited: (() => void)[] = [];

  constructor(opts: WorkerPoolOptions) {
    this.#opts = opts;
    this.#slots = Array.from({ length: opts.size }, () => ({
      worker: undefined, channel: undefined, listening: undefined, startedAt: 0, crashes: 0, restartTimer: undefined,
    }));
    // Workers run their own entry, not this process's argv (`trackgate demo` must not start a demo per worker).
    cluster.setupPrimary({ exec: opts.exec, args: [] });
  }

  /** Forks every worker; resolves with the proxy address once all listen, rejects if one exits first. */
  start(): Promise<ListeningParams> {
    return new Promise((resolve, reject) => {
      this.#start = { resolve, reject };
      for (const slot of this.#slots) this.#fork(slot);
    });
  }

  /** Channels of the workers listening now. */
  listening(): IpcChannel[] {
    return this.#slots.flatMap((s) => (s.listening !== undefined && s.channel !== undefined ? [s.channel] : []));
  }

  pids(): number[] {
    return this.#slots.flatMap((s) => (s.worker?.process.pid !== undefined ? [s.worker.process.pid] : []));
  }

  #fork(slot: Slot): void {
    const worker = cluster.fork(this.#opts.env);
    const send: IpcSend = (msg, onError) => {
      if (!worker.isConnected()) { onError(new Error('worker disconnected')); return; }
      worker.send(msg, undefined, undefined, (err) => { if (err) onError(err); });
    };
    const channel = new IpcChannel(send);
    this.#opts.serve(channel);
    channel.handle(METHOD.listening, (p: ListeningParams) => {
      slot.listening = p;
      this.#maybeStarted(p);
    });
    Object.assign(slot, { worker, channel, listening: undefined, startedAt: Date.now(), restartTimer: undefined });
    worker.on('message', (msg: unknown) => channel.receive(msg));
    // EPIPE and the like on the channel: the 'exit' handler deals with the worker.
    worker.on('error', (err) => this.#opts.logger.warn({ worker: worker.id, err: err.message }, 'worker channel error'));
    worker.on('exit', (code, signal) => this.#exited(slot, worker, code, signal));
  }

  #maybeStarted(p: ListeningParams): void {
    if (this.#started || this.#slots.some((s) => s.listening === undefined)) return;
    this.#started = true;
    this.#start?.resolve(p);
  }

  #exited(slot: Slot, worker: Worker, code: number | null, signal: string | null): void {
    if (slot.worker !== worker) return;
    slot.channel?.close(`worker exited (${signal ?? code})`);
    Object.assign(slot, { worker: undefined, channel: undefined, listening: undefined });
    if (this.#stopping) {
      if (this.#slots.every((s) => s.worker === undefined)) for (const f of this.#allExited.splice(0)) f();
      return;
    }
    if (!this.#started) {
      this.#start?.reject(new Error(`worker ${worker.id} exited during start-up (${signal ?? `code ${code}`}); its error is above`));
      return;
    }
    if (Date.now() - slot.startedAt >= STABLE_MS) slot.crashes = 0;
    const delay = Math.min(RESTART_BASE_MS * 2 ** slot.crashes, RESTART_MAX_MS);
    slot.crashes++;
    this.#opts.logger.error({ worker: worker.id, workerPid: worker.process.pid, code, signal, restartInMs: delay }, 'worker exited unexpectedly; restarting it');
    slot.restartTimer = setTimeout(() => {
      slot.restartTimer = undefined;
      if (this.#stopping) return;
      this.#opts.onRestart();
      this.#fork(slot);
    }, delay);
  }

  /**
   * Asks every worker to drain and exit (each runs the app's graceful close); after `timeoutMs` kills the rest.
   * Resolves true when all exited on their own in time.
   */
  async stop(timeoutMs: number): Promise<boolean> {
    this.#stopping = true;
    for (const s of this.#slots) { clearTimeout(s.restartTimer); s.restartTimer = undefined; }
    const exited = this.#whenAllExited();
    for (const s of this.#slots) {
      if (s.worker === undefined) continue;
      // A worker still starting may not listen to its channel yet; SIGTERM reaches it either way.
      if (s.listening !== undefined) s.channel?.notify(METHOD.shutdown);
      else s.worker.process.kill('SIGTERM');
    }
    const clean = await Promise.race([exited.then(() => true), delay(timeoutMs).then(() => false)]);
    if (clean) return true;
    this.#opts.logger.warn({ pids: this.pids(), timeoutMs }, 'workers did not exit in time; killing them');
    this.kill();
    await Promise.race([exited, delay(KILL_WAIT_MS)]);
    return false;
  }

  /** SIGKILLs every worker (a second signal, a failed start). */
  kill(): void {
    this.#stopping = true;
    for (const s of this.#slots) {
      clearTimeout(s.restartTimer);
      s.worker?.process.kill('SIGKILL');
    }
  }

  #whenAllExited(): Promise<void> {
    if (this.#slots.every((s) => s.worker === undefined)) return Promise.resolve();
    return new Promise((resolve) => this.#allExited.push(resolve));
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}
