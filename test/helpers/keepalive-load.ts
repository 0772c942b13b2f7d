/**
 * Keep-alive clients that send requests back to back (one connection each, reused), as a load balancer's
 * pool would, for the SIGTERM tests. A refused connection is not a failure: the client goes to the other
 * replica (`fallback`), as it would once the endpoint is removed. A reset, a hang-up or an error status on
 * a request that was sent is a failure.
 */
import { Agent, request } from 'node:http';

export interface LoadResult {
  /** Requests answered 200 (by either replica). */
  ok: number;
  /** Requests answered by the draining replica with `Connection: close`. */
  closeHeaders: number;
  /** Clients that moved to the fallback after a refused connection. */
  failovers: number;
  /** One entry per failed request: its error code or status. */
  failures: string[];
}

function once(agent: Agent, url: string, headers: Record<string, string>): Promise<{ status: number; connection: string | undefined } | { error: string }> {
  return new Promise((resolve) => {
    const req = request(url, { agent, headers }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection }));
      res.on('error', (e: NodeJS.ErrnoException) => resolve({ error: e.code ?? e.message }));
    });
    req.on('error', (e: NodeJS.ErrnoException) => resolve({ error: e.code ?? e.message }));
    req.end();
  });
}

export function keepAliveLoad(opts: { primary: string; fallback: string; clients: number; path: string; headers?: Record<string, string> }): { stop(): Promise<LoadResult> } {
  const result: LoadResult = { ok: 0, closeHeaders: 0, failovers: 0, failures: [] };
  let running = true;
  const loops = Array.from({ length: opts.clients }, async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    let base = opts.primary;
    try {
      while (running) {
        const r = await once(agent, `${base}${opts.path}`, opts.headers ?? {});
        if ('status' in r) {
          if (r.status === 200) result.ok++; else result.failures.push(String(r.status));
          if (base === opts.primary && r.connection === 'close') result.closeHeaders++;
          continue;
        }
        if (r.error === 'ECONNREFUSED' && base === opts.primary) {
          result.failovers++;
          base = opts.fallback;
          continue;
        }
        result.failures.push(r.error);
      }
    } finally {
      agent.destroy();
    }
  });
  return {
    stop: async () => {
      running = false;
      await Promise.all(loops);
      return result;
    },
  };
}
