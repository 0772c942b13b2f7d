/**
 * Hostile slow clients for the slow-client tests: a request whose body trickles in (a byte now and then),
 * and a slowloris that never finishes its request head. Raw sockets on 127.0.0.1 (or another loopback
 * address, so a test can tell attackers and other clients apart by address).
 */
import { connect, type Socket } from 'node:net';

export interface SlowClient {
  socket: Socket;
  /** Everything the server sent back. */
  received(): string;
  /** Whether the server closed the connection. */
  closed(): boolean;
  stop(): void;
}

function open(port: number, localAddress: string | undefined, first: string | Buffer, trickle: string | Buffer | undefined, everyMs: number): SlowClient {
  const socket = connect({ host: '127.0.0.1', port, ...(localAddress !== undefined ? { localAddress } : {}) });
  let got = '';
  let closed = false;
  socket.on('data', (c: Buffer) => { got += c.toString('latin1'); });
  socket.on('close', () => { closed = true; clearInterval(timer); });
  socket.on('error', () => undefined);
  socket.on('connect', () => socket.write(first));
  const timer = setInterval(() => { if (trickle !== undefined && !closed && socket.writable) socket.write(trickle); }, everyMs);
  return { socket, received: () => got, closed: () => closed, stop: () => { clearInterval(timer); socket.destroy(); } };
}

/**
 * A request with a declared body of `declared` bytes of which `first` are sent at once, then one byte
 * every `everyMs`.
 */
export function slowBody(port: number, opts: { path: string; declared: number; first?: number; everyMs?: number; headers?: Record<string, string>; localAddress?: string }): SlowClient {
  const extra = Object.entries(opts.headers ?? {}).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  const head = `POST ${opts.path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: ${opts.declared}\r\n${extra}\r\n`;
  return open(port, opts.localAddress, Buffer.concat([Buffer.from(head), Buffer.alloc(opts.first ?? 1, 0x61)]), 'a', opts.everyMs ?? 500);
}

/** A request head sent one header line fragment every `everyMs`, never finished. */
export function slowloris(port: number, opts: { everyMs?: number; localAddress?: string } = {}): SlowClient {
  return open(port, opts.localAddress, 'GET / HTTP/1.1\r\nHost: x\r\n', 'X-a: b\r\n', opts.everyMs ?? 500);
}
