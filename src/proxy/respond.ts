/** Writing trackgate's own error responses: a short JSON body, the error's headers, never a secret. */
import type { ServerResponse } from 'node:http';
import type { TrackgateError } from '../errors.js';

/**
 * `endLater`: when the request body is still arriving, the answer is written whole but the response is ended
 * by `endLater` (a lingering close, lingering-close.ts) rather than at once.
 */
export function sendError(res: ServerResponse, err: TrackgateError, requestId?: string, endLater?: (end: () => void) => void): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify(err.toBody());
  const headers: Record<string, string | string[] | number> = {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'private, no-store',
    ...err.headers,
  };
  if (requestId !== undefined) headers['x-request-id'] = requestId;
  // A rejected request whose body was not read leaves the connection out of step: close it. (A request
  // without a body is complete once its headers are, even while `complete` is still false because this
  // runs synchronously inside the request event.)
  if (err.status === 413 || err.status === 431 || err.code === 'TG_ERR_DUPLICATE_HEADER' || err.code === 'TG_ERR_AMBIGUOUS_FRAMING' || unreadBody(res)) {
    headers.connection = 'close';
  }
  res.writeHead(err.status === 499 ? 400 : err.status, headers);
  if (endLater !== undefined && unreadBody(res)) {
    res.write(body);
    endLater(() => res.end());
    return;
  }
  res.end(body);
}

function unreadBody(res: ServerResponse): boolean {
  const req = res.req;
  if (req === undefined || req.complete) return false;
  const cl = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (cl !== undefined && cl !== '0');
}

/** A raw HTTP/1.1 error response on a socket that has no ServerResponse (parse errors, upgrades). */
export function rawErrorResponse(err: TrackgateError): string {
  const body = JSON.stringify(err.toBody());
  const extra = Object.entries(err.headers ?? {})
    .flatMap(([k, v]) => (Array.isArray(v) ? v : [v]).map((x) => `${k}: ${x}\r\n`)).join('');
  return `HTTP/1.1 ${err.status} ${STATUS_TEXT[err.status] ?? 'Error'}\r\ncontent-type: application/json\r\n`
    + `content-length: ${Buffer.byteLength(body)}\r\ncache-control: private, no-store\r\n${extra}connection: close\r\n\r\n${body}`;
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed', 408: 'Request Timeout',
  413: 'Payload Too Large', 429: 'Too Many Requests', 431: 'Request Header Fields Too Large', 500: 'Internal Server Error',
  502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout',
};
