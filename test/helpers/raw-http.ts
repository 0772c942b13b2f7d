/**
 * Raw HTTP/1.x over `node:net`, for requests `fetch` refuses to send or rewrites: one request on a fresh
 * connection, a keep-alive connection written request by request, and a tolerant response parser.
 */
import { connect, type Socket } from 'node:net';

export interface RawResponse {
  status: number;
  /** The reason phrase of the status line. */
  reason: string;
  /** Lower-cased names; repeated headers joined with ', '. */
  headers: Record<string, string>;
  body: Buffer;
}

export interface RawResult {
  responses: RawResponse[];
  /** Whether the server closed (or reset) the connection before `timeoutMs`. */
  closed: boolean;
  /** A socket error (e.g. ECONNRESET), if any. */
  error: string | undefined;
  /** Everything received. */
  raw: Buffer;
}

/**
 * Parses as many complete HTTP/1.x responses as `buf` holds. A response without Content-Length and not
 * chunked is complete only when `eof` (body until close).
 */
export function parseResponses(buf: Buffer, eof: boolean, bodiless: ReadonlySet<number> = new Set()): RawResponse[] {
  const out: RawResponse[] = [];
  let pos = 0;
  for (;;) {
    const headEnd = buf.indexOf('\r\n\r\n', pos);
    if (headEnd < 0) return out;
    const lines = buf.subarray(pos, headEnd).toString('latin1').split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3}) ?(.*)$/.exec(lines[0] ?? '');
    if (!m) throw new Error(`not an HTTP response: ${JSON.stringify(lines[0])}`);
    const headers: Record<string, string> = {};
    for (const l of lines.slice(1)) {
      const i = l.indexOf(':');
      const k = l.slice(0, i).trim().toLowerCase();
      const v = l.slice(i + 1).trim();
      headers[k] = headers[k] === undefined ? v : `${headers[k]}, ${v}`;
    }
    const status = Number(m[1]);
    let bodyStart = headEnd + 4;
    let body: Buffer;
    if (bodiless.has(out.length) || status === 204 || status === 304 || (status >= 100 && status < 200)) {
      body = Buffer.alloc(0);
    } else if (headers['content-length'] !== undefined) {
      const n = Number(headers['content-length']);
      if (buf.length < bodyStart + n) return out;
      body = buf.subarray(bodyStart, bodyStart + n);
      bodyStart += n;
    } else if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
      const parts: Buffer[] = [];
      let p = bodyStart;
      for (;;) {
        const le = buf.indexOf('\r\n', p);
        if (le < 0) return out;
        const size = parseInt(buf.subarray(p, le).toString('latin1'), 16);
        if (buf.length < le + 2 + size + 2) return out;
        if (size === 0) { p = le + 4; break; }
        parts.push(buf.subarray(le + 2, le + 2 + size));
        p = le + 2 + size + 2;
      }
      body = Buffer.concat(parts);
      bodyStart = p;
    } else {
      if (!eof) return out;
      body = buf.subarray(bodyStart);
      bodyStart = buf.length;
    }
    pos = bodyStart;
    if (status === 100) continue; // interim response (Expect: 100-continue)
    out.push({ status, reason: m[2] ?? '', headers, body });
    if (status === 101) return out;
  }
}

/** parseResponses that reports a garbled answer as no response instead of throwing. */
function tryParse(buf: Buffer, eof: boolean, bodiless?: ReadonlySet<number>): RawResponse[] {
  try { return parseResponses(buf, eof, bodiless); } catch { return []; }
}

/**
 * Writes `payload` on a fresh connection and collects the answer. Resolves once `expect` responses are
 * complete and, with `waitClose`, the server has closed the connection (or `timeoutMs` passed).
 * `bodiless`: indexes of responses that have no body whatever their headers say (answers to HEAD).
 */
export function rawRequest(
  port: number,
  payload: string | Buffer | (string | Buffer)[],
  opts: { expect?: number; waitClose?: boolean; timeoutMs?: number; bodiless?: ReadonlySet<number>; localAddress?: string } = {},
): Promise<RawResult> {
  const expect = opts.expect ?? 1;
  const timeoutMs = opts.timeoutMs ?? 5000;
  return new Promise((resolve) => {
    // Another loopback address (127.0.0.2) as the source: a peer that is not 127.0.0.1 to trackgate.
    const sock = connect({ host: '127.0.0.1', port, ...(opts.localAddress !== undefined ? { localAddress: opts.localAddress } : {}) });
    const chunks: Buffer[] = [];
    let error: string | undefined;
    let closed = false;
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      const raw = Buffer.concat(chunks);
      sock.destroy();
      resolve({ responses: tryParse(raw, closed, opts.bodiless), closed, error, raw });
    };
    const timer = setTimeout(finish, timeoutMs);
    sock.on('data', (c: Buffer) => {
      chunks.push(c);
      if (!opts.waitClose && tryParse(Buffer.concat(chunks), false, opts.bodiless).length >= expect) finish();
    });
    sock.on('error', (e: NodeJS.ErrnoException) => { error = e.code ?? e.message; });
    sock.on('close', () => { closed = true; finish(); });
    sock.on('connect', () => {
      for (const p of Array.isArray(payload) ? payload : [payload]) sock.write(p);
    });
  });
}

/** A connection on which requests can be written one after the other (keep-alive). */
export class RawConnection {
  readonly socket: Socket;
  #buf = Buffer.alloc(0);
  #consumed = 0;
  #bodiless = new Set<number>();
  #requests = 0;
  closed = false;
  #waiters: (() => void)[] = [];

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (c: Buffer) => { this.#buf = Buffer.concat([this.#buf, c]); this.#wake(); });
    socket.on('close', () => { this.closed = true; this.#wake(); });
    socket.on('error', () => undefined);
  }

  static open(port: number): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port });
      s.once('connect', () => resolve(new RawConnection(s)));
      s.once('error', reject);
    });
  }

  #wake(): void { for (const w of this.#waiters.splice(0)) w(); }

  /** Waits for the next `n` responses on this connection. */
  async next(n = 1, timeoutMs = 5000): Promise<RawResponse[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const all = parseResponses(this.#buf, this.closed, this.#bodiless);
      if (all.length - this.#consumed >= n) {
        const got = all.slice(this.#consumed, this.#consumed + n);
        this.#consumed += n;
        return got;
      }
      if (this.closed) throw new Error(`connection closed after ${all.length} responses`);
      if (Date.now() > deadline) throw new Error('timed out waiting for a response');
      await new Promise<void>((r) => { this.#waiters.push(r); setTimeout(r, 50); });
    }
  }

  write(data: string | Buffer): void { this.socket.write(data); }

  /** Writes one request; `bodiless` when its answer has no body whatever its headers say (HEAD). */
  send(request: string, opts: { bodiless?: boolean } = {}): void {
    if (opts.bodiless) this.#bodiless.add(this.#requests);
    this.#requests++;
    this.socket.write(request);
  }
  close(): void { this.socket.destroy(); }
}

/** Port of a `http://127.0.0.1:<port>` URL. */
export const portOf = (url: string): number => Number(new URL(url).port);

/**
 * A GET with exactly these header lines on a fresh connection (`Host: 127.0.0.1:<port>` first unless a line sets
 * Host, `Connection: close` last unless a line sets Connection), for headers `fetch` would refuse or rewrite.
 */
export function rawGet(port: number, target: string, headerLines: readonly string[], opts: { timeoutMs?: number; localAddress?: string } = {}): Promise<RawResult> {
  const host = headerLines.some((l) => /^host:/i.test(l)) ? [] : [`Host: 127.0.0.1:${port}`];
  const conn = headerLines.some((l) => /^connection:/i.test(l)) ? [] : ['Connection: close'];
  return rawRequest(port, `${[`GET ${target} HTTP/1.1`, ...host, ...headerLines, ...conn].join('\r\n')}\r\n\r\n`, opts);
}

/** Header names a recorded request arrived with, lower-cased, in order. */
export const headerNames = (rawHeaders: readonly string[]): string[] => rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
