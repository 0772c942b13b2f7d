/**
 * One request on its own connection (`Connection: close`), read to the end, and what the client got, in one
 * word: a complete answer (`502 TG_ERR_UPSTREAM_UNAVAILABLE` for trackgate's JSON errors, else its status, plus
 * ` +CL+TE` when its framing is ambiguous), `cut` (part of an answer, then the connection closed or reset:
 * nothing a client could take for a whole response; a body delimited by the close is whole only if the close
 * was clean), `closed` (closed without a byte), `garbled` (bytes no HTTP client
 * could frame), or `hung` (nothing decided within the time limit: a client left waiting).
 */
import { connect } from 'node:net';

export interface Probe {
  /** Bytes received so far. */
  readonly received: number;
  readonly outcome: Promise<string>;
}

/** `upgrade`: the answer is complete at its first response (a 101 leaves the connection open). */
export function probe(port: number, head: string, timeoutMs = 10_000, opts: { upgrade?: boolean } = {}): Probe {
  const chunks: Buffer[] = [];
  let received = 0;
  const outcome = new Promise<string>((resolve) => {
    const sock = connect({ host: '127.0.0.1', port });
    let settled = false;
    let reset = false;
    const settle = (closed: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      resolve(classify(Buffer.concat(chunks), closed, reset));
    };
    const timer = setTimeout(() => settle(false), timeoutMs);
    sock.on('data', (c: Buffer) => {
      chunks.push(c);
      received += c.length;
      if (opts.upgrade === true && classify(Buffer.concat(chunks), false) !== 'hung') settle(false);
    });
    sock.on('error', () => { reset = true; });
    sock.on('close', () => settle(true));
    sock.on('connect', () => sock.write(head));
  });
  return { get received() { return received; }, outcome };
}

interface Framed { status: number; headers: Record<string, string>; body: Buffer }

/** The first response in `raw`: framed, `undefined` while incomplete, or `'garbled'`. */
function firstResponse(raw: Buffer, closed: boolean, reset: boolean): Framed | undefined | 'garbled' {
  const headEnd = raw.indexOf('\r\n\r\n');
  if (headEnd < 0) return undefined;
  const [statusLine, ...lines] = raw.subarray(0, headEnd).toString('latin1').split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(statusLine ?? '');
  if (m === null) return 'garbled';
  const headers: Record<string, string> = {};
  for (const l of lines) {
    const i = l.indexOf(':');
    if (i <= 0) return 'garbled';
    const k = l.slice(0, i).trim().toLowerCase();
    headers[k] = headers[k] === undefined ? l.slice(i + 1).trim() : `${headers[k]}, ${l.slice(i + 1).trim()}`;
  }
  const status = Number(m[1]);
  const rest = raw.subarray(headEnd + 4);
  if (status === 101 || status === 204 || status === 304) return { status, headers, body: Buffer.alloc(0) };
  if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
    const parts: Buffer[] = [];
    for (let p = 0; ;) {
      const le = rest.indexOf('\r\n', p);
      if (le < 0) return undefined;
      const sizeText = rest.subarray(p, le).toString('latin1').split(';')[0]!.trim();
      if (!/^[0-9a-fA-F]{1,8}$/.test(sizeText)) return 'garbled';
      const size = parseInt(sizeText, 16);
      if (rest.length < le + 2 + size + 2) return undefined;
      if (size === 0) return { status, headers, body: Buffer.concat(parts) };
      parts.push(rest.subarray(le + 2, le + 2 + size));
      p = le + 2 + size + 2;
    }
  }
  if (headers['content-length'] !== undefined) {
    if (!/^\d+$/.test(headers['content-length'])) return 'garbled';
    const n = Number(headers['content-length']);
    return rest.length >= n ? { status, headers, body: rest.subarray(0, n) } : undefined;
  }
  return closed && !reset ? { status, headers, body: rest } : undefined;
}

/** `closed`: the connection has ended; `reset`: with an error (ECONNRESET) rather than a clean close. */
export function classify(raw: Buffer, closed: boolean, reset = false): string {
  const r = firstResponse(raw, closed, reset);
  if (r === 'garbled') return r;
  if (r === undefined) return !closed ? 'hung' : raw.length === 0 ? 'closed' : 'cut';
  const ambiguous = r.headers['content-length'] !== undefined && r.headers['transfer-encoding'] !== undefined ? ' +CL+TE' : '';
  if (r.headers['content-type'] === 'application/json') {
    try {
      const body = JSON.parse(r.body.toString('utf8')) as { error?: unknown };
      if (typeof body.error === 'string') return `${r.status} ${body.error}${ambiguous}`;
    } catch { /* not trackgate's */ }
  }
  return `${r.status}${ambiguous}`;
}
