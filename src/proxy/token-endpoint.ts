/**
 * The HTTP side of a token endpoint on the proxy port: builds the IssueRequest from the Node request (the
 * body read on demand, bounded, after `100 Continue`), lets src/issue/ answer it, drains an unread body and
 * writes the reply. Token endpoint responses are never cached by clients.
 */
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import { TrackgateError } from '../errors.js';
import type { AuthFailureContext } from '../authn/pipeline.js';
import { MAX_FORM_BYTES, parseBody } from '../issue/body.js';
import type { IssueMatch } from '../issue/router.js';
import { serveIssue } from '../issue/serve.js';
import type { IssueReply, IssueRequest } from '../issue/types.js';
import { expectsContinue } from './expect-continue.js';
import type { NodeRequestView } from './request-view.js';
import type { Runtime } from './runtime.js';

export async function serveTokenEndpoint(
  match: IssueMatch, rt: Runtime, req: IncomingMessage, res: ServerResponse, view: NodeRequestView, failure: AuthFailureContext,
): Promise<{ status: number; error?: TrackgateError }> {
  let bodyPromise: Promise<Record<string, unknown>> | undefined;
  const ireq: IssueRequest = {
    view,
    body: () => {
      if (bodyPromise === undefined && expectsContinue(req)) res.writeContinue();
      return (bodyPromise ??= readFields(req));
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
    statusText: (status) => STATUS_CODES[status],
  };
  const reply = await serveIssue(match, ireq);
  // Drain an unread body so the connection can be reused.
  if (bodyPromise === undefined && !req.complete) req.resume();
  writeReply(res, reply);
  return { status: reply.status, ...(reply.error !== undefined ? { error: reply.error } : {}) };
}

/** The body's fields, read whole up to MAX_FORM_BYTES. */
async function readFields(req: IncomingMessage, max = MAX_FORM_BYTES): Promise<Record<string, unknown>> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > max) {
    throw new TrackgateError('TG_ERR_BODY_TOO_LARGE', 'request body too large');
  }
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > max) throw new TrackgateError('TG_ERR_BODY_TOO_LARGE', 'request body too large');
      chunks.push(chunk as Buffer);
    }
  } catch (err) {
    // The client went away or its framing broke mid-body (`aborted`): its fault, not an internal error.
    if (err instanceof TrackgateError) throw err;
    throw new TrackgateError('TG_ERR_BAD_REQUEST', 'request body incomplete', { detail: `body: ${(err as Error).message}` });
  }
  return parseBody(Buffer.concat(chunks), req.headers['content-type']);
}

function writeReply(res: ServerResponse, reply: IssueReply): void {
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
