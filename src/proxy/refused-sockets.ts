/**
 * Connections refused on arrival (limits.maxConnectionsPerClient). Node attaches the HTTP parser before the
 * server's 'connection' listeners run, so a request the client already sent is still parsed and handed to
 * the request and upgrade handlers: they look a socket up here and drop it instead of handling it.
 */
import type { Duplex } from 'node:stream';

const refused = new WeakSet<Duplex>();

/** Marks `socket` as refused: nothing that arrives on it is to be handled. */
export function markRefused(socket: Duplex): void {
  refused.add(socket);
}

/** Whether `socket` was refused; it is then destroyed, and the caller returns at once. */
export function dropIfRefused(socket: Duplex): boolean {
  if (!refused.has(socket)) return false;
  socket.destroy();
  return true;
}
