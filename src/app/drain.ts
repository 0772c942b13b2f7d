/**
 * Draining the proxy port on shutdown: stop accepting, let in-flight requests finish within the grace
 * period, close idle keep-alive connections after a short pause, then cut whatever is left.
 */
import type { Server } from 'node:http';
import { Server as NetServer } from 'node:net';
import type { Logger } from '../observability/log.js';

/** How long a draining instance leaves idle keep-alive connections open before closing them. */
const DRAIN_IDLE_CLOSE_MS = 500;
/** How often the drain looks at what is left. */
const DRAIN_POLL_MS = 25;

export interface DrainWork {
  /** Requests being answered. */
  inflight(): number;
  /** Client connections open, idle or not. */
  openConnections(): number;
  /** Runs once the server's connections are cut, before waiting for the listener to close. */
  cut(): void;
}

/**
 * Drains `server` (the caller has already made every response say `Connection: close`) and resolves once it
 * has closed. In-flight requests get up to `graceMs`.
 */
export async function drainProxyServer(server: Server, work: DrainWork, graceMs: number, logger: Logger): Promise<void> {
  // Stop accepting, but without http.Server.close(), which also closes every idle keep-alive connection
  // at once: a client reusing one at that moment gets a reset. Instead busy clients leave on their own;
  // connections still idle after DRAIN_IDLE_CLOSE_MS are closed (clients that idle that long are not about to send).
  const closed = new Promise<void>((resolve) => { if (!server.listening) resolve(); else NetServer.prototype.close.call(server, () => resolve()); });
  const started = Date.now();
  const deadline = started + graceMs;
  const idleCloseAt = started + Math.min(DRAIN_IDLE_CLOSE_MS, graceMs);
  while (Date.now() < deadline && (work.inflight() > 0 || (work.openConnections() > 0 && Date.now() < idleCloseAt))) {
    await new Promise((r) => setTimeout(r, DRAIN_POLL_MS));
    if (Date.now() >= idleCloseAt) server.closeIdleConnections();
  }
  if (work.inflight() > 0) logger.warn({ inflight: work.inflight() }, 'grace period over; closing remaining connections');
  server.closeIdleConnections();
  server.closeAllConnections();
  work.cut();
  await closed;
  // http.Server.close() also stops Node's connection sweep timer (connectionsCheckingInterval).
  server.close(() => undefined);
}
