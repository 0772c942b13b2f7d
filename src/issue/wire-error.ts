/**
 * A TrackgateError that also names itself in a dialect's own error vocabulary (RFC 6749 `invalid_grant`,
 * Geoloqi `duplicate_key`): thrown by a dialect's handlers, read back by its `renderError`. Errors that are
 * not WireErrors (body parsing, throttling, store outages) are mapped from their TrackgateError code.
 */
import { TrackgateError, type ErrorCode, type TrackgateErrorOptions } from '../errors.js';

export class WireError extends TrackgateError {
  constructor(readonly wireCode: string, code: ErrorCode, message: string, options?: TrackgateErrorOptions) {
    super(code, message, options);
  }
}

/** The dialect's own code of `err`, if its handler named one. */
export function wireCodeOf(err: TrackgateError): string | undefined {
  return err instanceof WireError ? err.wireCode : undefined;
}
