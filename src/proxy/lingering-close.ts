/**
 * A lingering close (as nginx does): a response sent while the request body is still arriving is ended only
 * once the rest of that body has been read and dropped. Closing a socket with unread bytes in it makes the
 * kernel answer with a reset, and a client still writing its upload then loses the answer it was sent. The
 * drain is bounded: `limits.lingerMaxBytes`, `limits.lingerTimeoutMs`, and the body pace (`ProgressWatch`),
 * so it is no hole for a slow client; past a bound the connection closes as before.
 */
import type { IncomingMessage } from 'node:http';
import type { ProgressWatch, WatchLimits } from './progress-watch.js';

export interface LingerLimits {
  timeoutMs: number;
  maxBytes: number;
  pace: WatchLimits;
}

/**
 * Calls `end` (which ends the response, closing the connection) once `req`'s body is over, the client has
 * gone, or a bound is reached; at once if nothing of the body is left to read.
 */
export function endAfterBody(req: IncomingMessage, watch: ProgressWatch, limits: LingerLimits, end: () => void): void {
  if (req.complete || req.destroyed || limits.timeoutMs <= 0 || limits.maxBytes <= 0) { end(); return; }
  const socket = req.socket;
  const cap = socket.bytesRead + limits.maxBytes;
  let over = false;
  const finish = (): void => {
    if (over) return;
    over = true;
    clearTimeout(timer);
    h.remove();
    req.removeListener('data', onData);
    req.removeListener('end', finish);
    req.removeListener('close', finish);
    req.pause(); // past a bound: read no more, so the close is not held back by a fast sender
    end();
  };
  const onData = (): void => { if (socket.bytesRead > cap) finish(); };
  const timer = setTimeout(finish, limits.timeoutMs).unref();
  const h = watch.add({ progress: () => socket.bytesRead, blocked: () => false, stalled: finish }, limits.pace);
  req.unpipe();
  req.on('data', onData);
  req.once('end', finish);
  req.once('close', finish);
  req.resume();
}
