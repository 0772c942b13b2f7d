/**
 * An upstream on 127.0.0.1 that misbehaves on purpose, byte by byte: a raw TCP server (node:http would refuse
 * to write most of these) whose current `fault` decides what each request gets. `ok` answers a small 200 with
 * keep-alive (and completes a WebSocket handshake, then stays silent); the others are the broken answers a real upstream gives on a bad day. `stop()` closes the port
 * (connections refused) and `start()` opens the same port again.
 */
import { createHash } from 'node:crypto';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';

/** What the upstream does with each request head it reads. */
export type Fault =
  | 'ok'
  /** TCP RST as soon as the request arrives. */
  | 'reset'
  /** Closes the connection without a byte of answer. */
  | 'empty-reply'
  /** Answers 200, but only after `slowMs` (set it above trackgate's `upstream.headersTimeoutMs`). */
  | 'slow-headers'
  /** Sends the head and part of the body, then nothing more (hangs past `upstream.bodyTimeoutMs`). */
  | 'stall-mid-body'
  /** Content-Length 100000, 1000 bytes, then closes. */
  | 'short-body'
  /** A status line that is not HTTP. */
  | 'invalid-status-line'
  /** Binary noise instead of a response. */
  | 'noise'
  /** A chunked body whose chunk size is not hex. */
  | 'bad-chunking'
  /** A chunk size larger than any integer. */
  | 'chunk-size-overflow'
  /** One 128 KiB response header. */
  | 'huge-headers'
  /** Content-Length and Transfer-Encoding both (a smuggling-shaped response). */
  | 'cl-and-te'
  /** Two different Content-Length values. */
  | 'conflicting-lengths'
  /** A well-formed refusal: 404 with a chunked body, the connection kept open (as any server would). */
  | 'chunked-404'
  /** 413 and close as soon as the head arrives, the request body unread. */
  | 'early-413';

export interface FaultyUpstream {
  readonly url: string;
  readonly port: number;
  fault: Fault;
  /** Delay of `slow-headers`. */
  slowMs: number;
  /** Requests read so far. */
  readonly requests: number;
  stop(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

const OK = 'HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\nok';
const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** A WebSocket handshake's answer (RFC 6455 §4.2.2) to a request head carrying `Sec-WebSocket-Key`. */
function switching(head: string): string | undefined {
  const key = /\r\nsec-websocket-key: *([^\r]+)/i.exec(head)?.[1];
  if (key === undefined) return undefined;
  const accept = createHash('sha1').update(key.trim() + WS_GUID).digest('base64');
  return `HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: ${accept}\r\n\r\n`;
}

function answer(fault: Fault, head: string, sock: Socket, slowMs: number, timers: Set<NodeJS.Timeout>): void {
  switch (fault) {
    case 'ok': sock.write(switching(head) ?? OK); return;
    case 'reset': sock.resetAndDestroy(); return;
    case 'empty-reply': sock.end(); return;
    case 'slow-headers': {
      const t = setTimeout(() => { timers.delete(t); if (!sock.destroyed) sock.write(OK); }, slowMs);
      timers.add(t);
      return;
    }
    case 'stall-mid-body': sock.write(`HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n${'x'.repeat(1000)}`); return;
    case 'short-body': sock.end(`HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n${'x'.repeat(1000)}`); return;
    case 'invalid-status-line': sock.end('HTTP/1.1 2OO OKAY\r\ncontent-length: 2\r\n\r\nok'); return;
    case 'noise': sock.end(Buffer.from([0x00, 0xff, 0x13, 0x37, 0x0d, 0x0a, 0x0d, 0x0a, 0x80, 0x81])); return;
    case 'bad-chunking': sock.end('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\nworld\r\n0\r\n\r\n'); return;
    case 'chunk-size-overflow': sock.end('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\nfffffffffffffffffffff\r\nx\r\n0\r\n\r\n'); return;
    case 'huge-headers': sock.end(`HTTP/1.1 200 OK\r\nx-huge: ${'h'.repeat(128 * 1024)}\r\ncontent-length: 2\r\n\r\nok`); return;
    case 'cl-and-te': sock.end('HTTP/1.1 200 OK\r\ncontent-length: 2\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n'); return;
    case 'conflicting-lengths': sock.end('HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 5\r\n\r\nok'); return;
    case 'early-413': sock.end('HTTP/1.1 413 Payload Too Large\r\ncontent-length: 0\r\nconnection: close\r\n\r\n'); return;
    case 'chunked-404': sock.write('HTTP/1.1 404 Not Found\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n9\r\nnot here.\r\n0\r\n\r\n'); return;
  }
}

export async function startFaultyUpstream(): Promise<FaultyUpstream> {
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let server: Server | undefined;
  let port = 0;
  let requests = 0;
  const up = {
    url: '', port: 0, fault: 'ok' as Fault, slowMs: 1000,
    get requests() { return requests; },
    start: async (): Promise<void> => {
      const srv = createServer((sock) => {
        sockets.add(sock);
        sock.on('close', () => sockets.delete(sock));
        sock.on('error', () => undefined);
        let buf = '';
        sock.on('data', (d: Buffer) => {
          buf += d.toString('latin1');
          // A request is its head: the test's GETs have no body, and a POST's body (a run of `x`) holds no blank line.
          let end: number;
          while ((end = buf.indexOf('\r\n\r\n')) >= 0 && !sock.destroyed) {
            const head = buf.slice(0, end);
            buf = buf.slice(end + 4);
            requests++;
            answer(up.fault, head, sock, up.slowMs, timers);
          }
        });
      });
      // The port was ours a moment ago: retry while the kernel still holds it.
      for (let attempt = 1; ; attempt++) {
        try {
          await new Promise<void>((resolve, reject) => {
            srv.once('error', reject);
            srv.listen(port, '127.0.0.1', () => { srv.removeListener('error', reject); resolve(); });
          });
          break;
        } catch (err) {
          if (attempt >= 20) throw err;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      server = srv;
      port = (srv.address() as AddressInfo).port;
    },
    stop: async (): Promise<void> => {
      const srv = server;
      server = undefined;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      for (const s of sockets) s.destroy();
      if (srv !== undefined) await new Promise<void>((r) => srv.close(() => r()));
    },
    close: async (): Promise<void> => { await up.stop(); },
  };
  await up.start();
  up.port = port;
  up.url = `http://127.0.0.1:${port}`;
  return up;
}
