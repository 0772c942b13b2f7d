/** What the Digest checks read off the request besides the credential. */
import type { RequestView } from '../../types.js';

/** Whether the Digest `uri` names the request target: the same string, or an absolute URI with its path and query. */
export function uriMatches(uri: string, target: string): boolean {
  if (uri === target) return true;
  const m = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*/.exec(uri);
  if (m === null) return false;
  const rest = uri.slice(m[0].length);
  return rest === target || (rest === '' && target === '/');
}

/** Whether the request has (or may have) a body; an `auth-int` response can only be checked without one. */
export function hasBody(req: RequestView): boolean {
  if (req.headers['transfer-encoding'] !== undefined) return true;
  const cl = req.headers['content-length'];
  return cl !== undefined && Number(cl) !== 0;
}
