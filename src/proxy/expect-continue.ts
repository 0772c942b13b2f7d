/** `Expect: 100-continue`: the client waits for `100 Continue` before it sends its body. */
import type { IncomingMessage } from 'node:http';

export function expectsContinue(req: IncomingMessage): boolean {
  const e = req.headers.expect;
  return e !== undefined && e.toLowerCase() === '100-continue';
}
