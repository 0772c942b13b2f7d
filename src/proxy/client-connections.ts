/**
 * Open proxy-port connections, in all and per client address, so that one address cannot hold more than
 * `limits.maxConnectionsPerClient` sockets (and file descriptors), and shutdown knows when none is left.
 */
import type { Socket } from 'node:net';

export class ClientConnections {
  #open = 0;
  readonly #byAddress = new Map<string, number>();

  /** Open connections now. */
  get open(): number { return this.#open; }

  /** Open connections of one address. */
  of(address: string): number { return this.#byAddress.get(address) ?? 0; }

  /**
   * Counts a new connection; false (and not counted) when its address already has `max` (0 = no limit).
   * A counted socket is uncounted when it closes.
   */
  admit(socket: Socket, max: number): boolean {
    const address = socket.remoteAddress ?? '';
    const n = this.#byAddress.get(address) ?? 0;
    if (max > 0 && n >= max) return false;
    this.#byAddress.set(address, n + 1);
    this.#open++;
    socket.once('close', () => {
      this.#open--;
      const left = (this.#byAddress.get(address) ?? 1) - 1;
      if (left <= 0) this.#byAddress.delete(address); else this.#byAddress.set(address, left);
    });
    return true;
  }
}
