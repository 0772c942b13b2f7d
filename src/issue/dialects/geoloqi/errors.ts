/**
 * Geoloqi errors, everywhere in this dialect: `{"error_code": <status>, "error": "<code>", "error_description": "…"}`.
 */
import type { AuthReason, ErrorCode, TrackgateError } from '../../../errors.js';
import type { IssueReply } from '../../types.js';
import { WireError, wireCodeOf } from '../../wire-error.js';

export function geoError(
  status: number, code: string, description: string, tgCode: ErrorCode, reason: AuthReason, detail?: string, headers?: Record<string, string>,
): WireError {
  return new WireError(code, tgCode, description, {
    status, reason, ...(detail !== undefined ? { detail } : {}), ...(headers !== undefined ? { headers } : {}),
  });
}

export const duplicateUsername = () => geoError(409, 'duplicate_username', 'A user already exists with this username.', 'TG_ERR_BAD_REQUEST', 'invalid', 'username taken');
export const duplicateKey = () => geoError(409, 'duplicate_key', 'A user already exists with this key.', 'TG_ERR_BAD_REQUEST', 'invalid', 'key taken');
/** `user/delete` of an id this application has no user with (unknown, another application's, or deleted meanwhile). */
export const notFound = (detail: string) => geoError(404, 'not_found', 'No such user.', 'TG_ERR_NOT_FOUND', 'invalid', detail);
export const badField = (message: string) => geoError(400, 'invalid_request', message, 'TG_ERR_BAD_REQUEST', 'malformed');

export function renderGeoloqiError(err: TrackgateError): IssueReply {
  const status = err.status;
  return { status, body: { error_code: status, error: wireCodeOf(err) ?? geoCodeOf(err), error_description: err.message } };
}

/** Geoloqi `error` codes for trackgate's own errors (body parsing, throttling, store outages …). */
function geoCodeOf(err: TrackgateError): string {
  switch (err.code) {
    case 'TG_ERR_THROTTLED': return 'slow_down';
    case 'TG_ERR_METHOD_NOT_ALLOWED': return 'method_not_allowed';
    case 'TG_ERR_INVALID_CREDENTIALS':
    case 'TG_ERR_EXPIRED_CREDENTIALS':
      return 'invalid_grant';
    default:
      return err.status >= 500 ? (err.status === 503 ? 'temporarily_unavailable' : 'server_error') : 'invalid_request';
  }
}
