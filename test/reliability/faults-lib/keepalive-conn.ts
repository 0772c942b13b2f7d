/**
 * A light HTTP/1.1 keep-alive client connection for connection floods: one socket (optionally bound to a given
 * 127.x source address), one request at a time, the answer's status read from a response framed by
 * Content-Length. Thousands of these cost one socket each and no timers.
 */
import { connect, type Socket } from 'node:net';

export interface Answer {
  status: number;
  /** Whether the server asked to close the connection (`Connection: close`). */
  close: boolean;
}

export class KeepAliveConn {
  readonly #socket: Socket;
  #buf = Buffer.alloc(0);
  #waiting: { resolve: (a: Answer) => void; reject: (e: Error) => void } | undefined;
  closed = false;

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.on('data', (c: Buffer) => { this.#buf = Buffer.concat([this.#buf, c]); this.#parse(); });
    socket.on('close', () => {
      this.closed = true;
      this.#waiting?.reject(new Error('connection closed before the answer'));
      this.#waiting = undefined;
    });
    socket.on('error', () => undefined);
  }

  static open(port: number, localAddress?: string): Promise<KeepAliveConn> {
    return new Promise((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port, ...(localAddress !== undefined ? { localAddress } : {}) });
      s.once('connect', () => { s.removeListener('error', reject); resolve(new KeepAliveConn(s)); });
      s.once('error', reject);
    });
  }

  /** Writes one request (a complete request head, and body if any) and resolves with its answer. */
  request(raw: string): Promise<Answer> {
    if (this.#waiting !== undefined) return Promise.reject(new Error('one request at a time'));
    if (this.closed) return Promise.reject(new Error('connection closed'));
    return new Promise((resolve, reject) => {
      this.#waiting = { resolve, reject };
      this.#socket.write(raw);
    });
  }

  close(): void { this.#socket.destroy(); }

  #parse(): void {
    const headEnd = this.#buf.indexOf('\r\n\r\n');
    if (headEnd < 0 || this.#waiting === undefined) return;
    const head = this.#buf.subarray(0, headEnd).toString('latin1');
    const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
    if (this.#buf.length < headEnd + 4 + length) return;
    this.#buf = this.#buf.subarray(headEnd + 4 + length);
    const w = this.#waiting;
    this.#waiting = undefined;
    w.resolve({ status: Number(head.slice(9, 12)), close: /\r\nconnection: *close/i.test(head) });
  }
}
