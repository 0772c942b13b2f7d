/**
 * One request on its own connection (`Connection: close`), read to the end, and what the client got, in one
 * word: a complete answer (`502 TG_ERR_UPSTREAM_UNAVAILABLE` for trackgate's JSON errors, `200` for anything
 * else, plus ` +CL+TE` when its framing is ambiguous), `cut` (part of an answer, then the connection closed:
 * nothing a client could take for a whole response), `closed` (closed without a byte), or `hung` (nothing
 * decided within the time limit: a client left waiting).
 */
import { connect } from 'node:net';
import { parseResponses } from '../../proxy/_util.js';

export interface Probe {
  /** Bytes received so far. */
  readonly received: number;
  readonly outcome: Promise<string>;
}

export function probe(port: number, head: string, timeoutMs = 10_000): Probe {
  const chunks: Buffer[] = [];
  let received = 0;
  const outcome = new Promise<string>((resolve) => {
    const sock = connect({ host: '127.0.0.1', port });
    let settled = false;
    const settle = (closed: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      resolve(classify(Buffer.concat(chunks), closed));
    };
    const timer = setTimeout(() => settle(false), timeoutMs);
    sock.on('data', (c: Buffer) => { chunks.push(c); received += c.length; });
    sock.on('error', () => undefined);
    sock.on('close', () => settle(true));
    sock.on('connect', () => sock.write(head));
  });
  return { get received() { return received; }, outcome };
}

export function classify(raw: Buffer, closed: boolean): string {
  let responses;
  try {
    responses = parseResponses(raw, closed);
  } catch {
    return 'garbled';
  }
  const r = responses[0];
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
