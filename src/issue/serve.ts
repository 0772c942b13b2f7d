/**
 * Answering a matched token endpoint: runs the route and renders a failure in the dialect's own shape. Pure:
 * the proxy's adapter (src/proxy/token-endpoint.ts) reads and writes the HTTP around it.
 */
import { TrackgateError, toTrackgateError } from '../errors.js';
import type { IssueMatch } from './router.js';
import type { IssueReply, IssueRequest } from './types.js';

/** The reply to `req`; a failed one carries its error (`reply.error`), its headers merged in. */
export async function serveIssue(match: IssueMatch, req: IssueRequest): Promise<IssueReply> {
  let reply: IssueReply;
  try {
    if (match.route === undefined) {
      throw new TrackgateError('TG_ERR_METHOD_NOT_ALLOWED', 'method not allowed', { headers: { allow: match.allow.join(', ') } });
    }
    reply = await match.route.handle(req);
  } catch (err) {
    const error = toTrackgateError(err);
    reply = { ...match.dialect.renderError(error, req), error };
  }
  if (reply.error !== undefined) reply.headers = { ...reply.error.headers, ...reply.headers };
  return reply;
}
