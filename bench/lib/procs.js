/**
 * Child processes of the benchmark: each server is started in its own process group (so it and every
 * worker it forks are stopped together), optionally pinned with taskset, and always stopped on exit,
 * on error and on SIGINT/SIGTERM. Also reads CPU time and peak RSS from /proc.
 */
import { spawn, spawnSync } from 'node:child_process';
import { openSync, closeSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';

const groups = new Set();

export function have(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

export const TASKSET = have('taskset') && spawnSync('taskset', ['-c', '0', 'true']).status === 0;
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** argv prefixed with `taskset -c <cpu>` when pinning is available and asked for. */
export function pinned(cpu, argv) {
  return TASKSET && cpu !== undefined ? ['taskset', '-c', String(cpu), ...argv] : argv;
}

/**
 * Starts a long-running server in a new process group; stdout/stderr go to `logFile`. Returns
 * `{ pid, child, stop() }`; the process group is registered for cleanup.
 */
export function startServer(name, argv, { cpu, logFile, env, cwd } = {}) {
  const fd = openSync(logFile, 'a');
  const full = pinned(cpu, argv);
  const child = spawn(full[0], full.slice(1), { detached: true, stdio: ['ignore', fd, fd], env: env ?? process.env, cwd });
  closeSync(fd);
  const pid = child.pid;
  if (pid === undefined) throw new Error(`${name}: could not start ${full[0]}`);
  groups.add(pid);
  let exited = false;
  const exitP = new Promise((resolve) => child.once('exit', (code, signal) => { exited = true; resolve({ code, signal }); }));
  return {
    name, pid, child, logFile,
    get exited() { return exited; },
    exit: exitP,
    async stop(graceMs = 5000) {
      if (!exited) {
        killGroup(pid, 'SIGTERM');
        const t = setTimeout(() => killGroup(pid, 'SIGKILL'), graceMs);
        await exitP;
        clearTimeout(t);
      }
      // Workers of a master that died first (nginx, apache) still belong to the group.
      killGroup(pid, 'SIGKILL');
      groups.delete(pid);
    },
  };
}

function killGroup(pgid, signal) {
  try { process.kill(-pgid, signal); } catch { /* already gone */ }
}

/** Stops every process group still registered (synchronously: usable from 'exit'). */
export function killAll() {
  for (const pgid of groups) {
    killGroup(pgid, 'SIGTERM');
  }
  if (groups.size > 0) spawnSync('sleep', ['0.3']);
  for (const pgid of groups) killGroup(pgid, 'SIGKILL');
  groups.clear();
}

let installed = false;
export function installCleanup() {
  if (installed) return;
  installed = true;
  process.on('exit', killAll);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(sig, () => { killAll(); process.exit(130); });
  }
}

/** Runs a command to completion, capturing output. */
export function run(argv, { cpu, input, timeoutMs = 600_000, env } = {}) {
  const full = pinned(cpu, argv);
  return new Promise((resolve, reject) => {
    const child = spawn(full[0], full.slice(1), { stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'], detached: true, env: env ?? process.env });
    groups.add(child.pid);
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    const t = setTimeout(() => killGroup(child.pid, 'SIGKILL'), timeoutMs);
    child.on('error', (e) => { clearTimeout(t); groups.delete(child.pid); reject(e); });
    child.on('close', (code) => { clearTimeout(t); groups.delete(child.pid); resolve({ code, stdout: out, stderr: err }); });
    if (input !== undefined) { child.stdin.on('error', () => undefined); child.stdin.end(input); }
  });
}

/** A free TCP port on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

/** Resolves once 127.0.0.1:port accepts connections. */
export async function waitForPort(port, { timeoutMs = 15_000, proc } = {}) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (proc?.exited) throw new Error(`${proc.name} exited during start-up (see ${proc.logFile})`);
    const ok = await new Promise((resolve) => {
      const c = connect(port, '127.0.0.1');
      c.once('connect', () => { c.destroy(); resolve(true); });
      c.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`port ${port} not open after ${timeoutMs} ms${proc ? ` (${proc.name}, see ${proc.logFile})` : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * `perf stat` counting instructions works here (many VMs refuse hardware counters). Instructions per request
 * barely move with machine load, unlike rps and CPU time: the stable column of the report.
 */
export const PERF = have('perf') && spawnSync('perf', ['stat', '-x', ',', '-e', 'instructions', 'true'], { encoding: 'utf8' }).stderr
  .split('\n').some((l) => /^\d+,/.test(l));

/**
 * Starts counting user+kernel instructions of every process in group `pgid`; `stop()` resolves the count
 * (undefined when perf is unavailable or failed).
 */
export function countInstructions(pgid) {
  const pids = PERF ? groupPids(pgid) : [];
  if (pids.length === 0) return { stop: async () => undefined };
  const child = spawn('perf', ['stat', '-x', ',', '-e', 'instructions', '-p', pids.join(',')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => { err += d; });
  const exited = new Promise((resolve) => child.once('close', resolve));
  return {
    async stop() {
      child.kill('SIGINT');
      await exited;
      const line = err.split('\n').find((l) => /^\d+,/.test(l) && l.includes('instructions'));
      return line === undefined ? undefined : Number(line.split(',')[0]);
    },
  };
}

/**
 * Pids of every process in process group `pgid`, or in any of several (a server under test made of two
 * processes, e.g. nginx and trackgate in decision mode): every per-group reading below accepts either.
 */
export function groupPids(pgid) {
  const want = new Set([pgid].flat());
  const out = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const f = parseStat(readFileSync(`/proc/${d}/stat`, 'utf8'));
      if (want.has(f.pgrp)) out.push(Number(d));
    } catch { /* exited meanwhile */ }
  }
  return out;
}

function parseStat(text) {
  // The command name (field 2) may contain spaces and parentheses: split after the last ')'.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state): field n is rest[n - 3].
  return { ppid: Number(rest[1]), pgrp: Number(rest[2]), utime: Number(rest[11]), stime: Number(rest[12]) };
}

/** Total user+system CPU seconds of a process group (live processes only). */
export function groupCpuSeconds(pgid) {
  let ticks = 0;
  for (const pid of groupPids(pgid)) {
    try {
      const f = parseStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
      ticks += f.utime + f.stime;
    } catch { /* exited */ }
  }
  return ticks / CLK_TCK;
}

function statusKiB(pid, field) {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : 0;
}

/** Resets the peak-RSS mark (VmHWM) of every process of the group; false when the kernel refuses. */
export function resetPeakRss(pgid) {
  let ok = true;
  for (const pid of groupPids(pgid)) {
    try { writeFileSync(`/proc/${pid}/clear_refs`, '5'); } catch { ok = false; }
  }
  return ok;
}

/** Sum of VmHWM (peak RSS) over the group, in MiB. */
export function groupPeakRssMiB(pgid) {
  let kib = 0;
  for (const pid of groupPids(pgid)) {
    try { kib += statusKiB(pid, 'VmHWM'); } catch { /* exited */ }
  }
  return kib / 1024;
}

/** Sum of VmRSS over the group, in MiB. */
export function groupRssMiB(pgid) {
  let kib = 0;
  for (const pid of groupPids(pgid)) {
    try { kib += statusKiB(pid, 'VmRSS'); } catch { /* exited */ }
  }
  return kib / 1024;
}
