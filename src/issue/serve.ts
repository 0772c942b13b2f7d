/**
 * Serving a token endpoint on the proxy port: builds the IssueRequest, runs the route, renders errors in
 * the dialect's own shape, and writes the reply. Token endpoint responses are never cached by clients.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { TrackgateError, toTrackgateError } from '../errors.js';
import type { AuthFailureContext } from '../authn/pipeline.js';
import type { NodeRequestView } from '../proxy/request-view.js';
import type { Runtime } from '../proxy/runtime.js';
import { readBody } from './body.js';
import { expectsContinue } from '../proxy/handler.js';
import type { IssueMatch } from './router.js';
import type { IssueReply, IssueRequest } from './types.js';

export async function serveIssue(
  match: IssueMatch, rt: Runtime, req: IncomingMessage, res: ServerResponse, view: NodeRequestView, failure: AuthFailureContext,
): Promise<{ status: number; error?: TrackgateError }> {
  let bodyPromise: Promise<Record<string, unknown>> | undefined;
  const ireq: IssueRequest = {
    view,
    body: () => {
      if (bodyPromise === undefined && expectsContinue(req)) res.writeContinue();
      return (bodyPromise ??= readBody(req));
    },
    authenticate: async () => {
      try {
        return await rt.pipeline.authenticate(view, failure);
      } catch (err) {
        if (err instanceof TrackgateError && err.code === 'TG_ERR_NO_CREDENTIALS') return undefined;
        throw err;
      }
    },
    challengeOf: (formId) => rt.pipeline.challengeOf(formId, view),
  };
  let reply: IssueReply;
  let error: TrackgateError | undefined;
  try {
    if (match.route === undefined) {
      throw new TrackgateError('TG_ERR_METHOD_NOT_ALLOWED', 'method not allowed', { headers: { allow: match.allow.join(', ') } });
    }
    reply = await match.route.handle(ireq);
  } catch (err) {
    error = toTrackgateError(err);
    reply = match.dialect.renderError(error, ireq);
    reply.headers = { ...error.headers, ...reply.headers };
  }
  // Drain an unread body so the connection can be reused.
  if (bodyPromise === undefined && !req.complete) req.resume();
  writeReply(res, reply);
  return { status: reply.status, ...(error !== undefined ? { error } : {}) };
}

export function writeReply(res: ServerResponse, reply: IssueReply): void {
  const isText = typeof reply.body === 'string';
  const payload = reply.body === undefined ? '' : isText ? (reply.body as string) : JSON.stringify(reply.body);
  const headers: Record<string, string | string[] | number> = {
    'cache-control': 'no-store',
    pragma: 'no-cache',
    'content-length': Buffer.byteLength(payload),
    ...(reply.body !== undefined && !isText ? { 'content-type': 'application/json; charset=utf-8' } : {}),
    ...reply.headers,
  };
  res.writeHead(reply.status, headers);
  res.end(payload);
}
