/**
 * Request buffering (as nginx and envoy do): a body of up to `bufferBytes` is read whole before the request
 * may take an upstream connection, so a client trickling a small body holds only its own socket and a few
 * KiB of memory, never an upstream slot. A larger body (or one arriving when the process-wide buffer
 * budget is spent) is streamed: what was read is put back in front of the request stream and the rest
 * follows as it arrives. While the body is read the client must keep up a minimum pace
 * (`ProgressWatch`), else 408.
 */
import type { IncomingMessage } from 'node:http';
import type { Transform } from 'node:stream';
import { TrackgateError } from '../errors.js';
import { BodyLimit } from './body-limit.js';
import type { ProgressWatch, WatchLimits } from './progress-watch.js';

/** Bytes of request bodies held in memory by this process, against a fixed bound. */
export class BufferBudget {
  #used = 0;
  constructor(private readonly max: () => number) {}
  get used(): number { return this.#used; }
  take(n: number): boolean {
    if (this.#used + n > this.max()) return false;
    this.#used += n;
    return true;
  }
  give(n: number): void { this.#used -= n; }
}

export interface BodyReadOptions {
  /** Bodies up to this size are read whole first; 0 streams every body. */
  bufferBytes: number;
  maxBytes: number;
  budget: BufferBudget;
  watch: ProgressWatch;
  limits: WatchLimits;
  /**
   * The body must be read whole (it is inspected before forwarding): past `bufferBytes` this error, the
   * process budget spent 503, instead of streaming the rest.
   */
  whole?: () => TrackgateError;
}

/**
 * A request body, ready to send: `buffer` (whole, its bytes counted in the budget until `release`) or
 * `stream` (read as it arrives, watched for pace by `watchStream` once it flows upstream).
 */
export type ReadyBody = { buffer: Buffer; stream?: undefined; held: number } | { buffer?: undefined; stream: Transform; held: 0 };

export type BodyReady = (err: TrackgateError | undefined, body?: ReadyBody) => void;

/** A body stream that stopped: its error carries a code `upstreamError` maps to a client error. */
export function bodyTimeout(why: 'idle' | 'rate'): TrackgateError {
  return new TrackgateError('TG_ERR_BODY_TIMEOUT', 'request body too slow', {
    detail: why === 'idle' ? 'body_idle: no request body data within limits.bodyIdleTimeoutMs' : 'body_rate: request body below limits.bodyMinBytesPerSecond',
  });
}

/** Reads (the start of) `req`'s body; `done` is called once. */
export function readBody(req: IncomingMessage, opts: BodyReadOptions, done: BodyReady): void {
  if (opts.bufferBytes <= 0 && opts.whole === undefined) { done(undefined, { stream: streamOf(req, opts.maxBytes), held: 0 }); return; }
  const chunked = req.headers['transfer-encoding'] !== undefined;
  const socket = req.socket;
  const chunks: Buffer[] = [];
  let seen = 0;
  /** Bytes taken from the budget (all of `seen` while buffering). */
  let held = 0;
  let settled = false;
  const finish = (err: TrackgateError | undefined, body?: ReadyBody): void => {
    if (settled) return;
    settled = true;
    watch.remove();
    req.removeListener('data', onData);
    req.removeListener('end', onEnd);
    req.removeListener('close', onClose);
    if (err !== undefined) opts.budget.give(held);
    done(err, body);
  };
  const onData = (c: Buffer): void => {
    if (chunked && seen + c.length > opts.maxBytes) {
      finish(new TrackgateError('TG_ERR_BODY_TOO_LARGE', 'request body too large', { detail: 'streamed body over limit' }));
      return;
    }
    seen += c.length;
    chunks.push(c);
    if (seen <= opts.bufferBytes && opts.budget.take(c.length)) { held += c.length; return; }
    if (opts.whole !== undefined) {
      finish(seen > opts.bufferBytes ? opts.whole() : new TrackgateError('TG_ERR_OVERLOADED', 'too many request bodies in memory; retry shortly', {
        detail: 'buffer_budget: limits.bufferTotalBytes spent while reading a body that must be read whole', headers: { 'retry-after': '1' },
      }));
      return;
    }
    // Too large to buffer, or the budget is spent: put back what was read and stream the rest.
    req.pause();
    opts.budget.give(held);
    held = 0;
    req.removeListener('data', onData);
    req.unshift(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, seen));
    finish(undefined, { stream: streamOf(req, opts.maxBytes), held: 0 });
  };
  const onEnd = (): void => {
    finish(undefined, { buffer: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, seen), held });
  };
  const onClose = (): void => {
    if (!req.complete) finish(new TrackgateError('TG_ERR_BAD_REQUEST', 'client closed request', { detail: 'client disconnected while sending the body', status: 499 }));
  };
  const watch = opts.watch.add({
    progress: () => socket.bytesRead,
    blocked: () => false,
    stalled: (why) => finish(bodyTimeout(why)),
  }, opts.limits);
  req.on('data', onData);
  req.on('end', onEnd);
  req.on('close', onClose);
}

/** The body as a stream for undici: through a BodyLimit, so a stall can fail it without closing the socket. */
function streamOf(req: IncomingMessage, maxBytes: number): Transform {
  return req.pipe(new BodyLimit(maxBytes));
}

/**
 * Watches a streamed body's pace while it flows upstream; a stall destroys the stream with a body-timeout
 * error (the forwarder then answers 408). Returns the handle to remove when the request is over.
 */
export function watchStream(req: IncomingMessage, stream: Transform, watch: ProgressWatch, limits: WatchLimits): { remove(): void } {
  const socket = req.socket;
  const h = watch.add({
    progress: () => socket.bytesRead,
    // Data waiting in our buffers means the upstream is the slow one.
    blocked: () => req.readableLength > 0 || stream.readableLength > 0 || req.readableFlowing === false,
    stalled: (why) => { req.unpipe(stream); stream.destroy(bodyTimeout(why)); },
  }, limits);
  const remove = (): void => h.remove();
  req.once('end', remove);
  stream.once('close', remove);
  return h;
}
