/** The Digest form's failures: unreadable (400), wrong (401, fresh challenges) and stale (401 `stale=true`). */
import { TrackgateError } from '../../../errors.js';

export function malformed(what: string): TrackgateError {
  return new TrackgateError('TG_ERR_MALFORMED_CREDENTIALS', `malformed Digest credentials: ${what}`, { detail: `digest: ${what}`, reason: 'malformed' });
}

export function invalid(detail: string): TrackgateError {
  return new TrackgateError('TG_ERR_INVALID_CREDENTIALS', 'invalid credentials', { detail: `digest: ${detail}`, reason: 'invalid' });
}

export function stale(detail: string): TrackgateError {
  return new TrackgateError('TG_ERR_EXPIRED_CREDENTIALS', 'Digest nonce is stale', { detail: `digest: ${detail}`, reason: 'stale' });
}

/** A request the credential cannot be checked against (a `uri` of another target, `auth-int` with a body): 400. */
export function badRequest(message: string, detail: string): TrackgateError {
  return new TrackgateError('TG_ERR_BAD_REQUEST', message, { detail: `digest: ${detail}`, reason: 'malformed' });
}
