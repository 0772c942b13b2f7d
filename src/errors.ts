/**
 * Typed errors. Every failure trackgate reports carries a stable `code`, the HTTP status it maps to,
 * a client-safe `message`, and an optional operator `detail` that is written to logs only.
 *
 * The codes are listed in `docs/errors.md`; a test keeps the two in step.
 */

/** Stable error codes. Never reuse a retired code for a different meaning. */
export const ERROR_CODES = {
  TG_ERR_NO_CREDENTIALS: 401,
  TG_ERR_INVALID_CREDENTIALS: 401,
  TG_ERR_EXPIRED_CREDENTIALS: 401,
  TG_ERR_MALFORMED_CREDENTIALS: 400,
  TG_ERR_AMBIGUOUS_CREDENTIALS: 400,
  TG_ERR_FORBIDDEN: 403,
  TG_ERR_THROTTLED: 429,
  TG_ERR_SOURCE_UNAVAILABLE: 503,
  TG_ERR_BAD_REQUEST: 400,
  TG_ERR_DUPLICATE_HEADER: 400,
  TG_ERR_AMBIGUOUS_PATH: 400,
  TG_ERR_METHOD_OVERRIDE: 400,
  TG_ERR_INVALID_HOST: 400,
  TG_ERR_AMBIGUOUS_FRAMING: 400,
  TG_ERR_DUPLICATE_PARAMETER: 400,
  TG_ERR_HEADER_TOO_LARGE: 431,
  TG_ERR_BODY_TOO_LARGE: 413,
  TG_ERR_UPSTREAM_UNAVAILABLE: 502,
  TG_ERR_UPSTREAM_TIMEOUT: 504,
  TG_ERR_NOT_FOUND: 404,
  TG_ERR_METHOD_NOT_ALLOWED: 405,
  TG_ERR_STORE_UNAVAILABLE: 503,
  TG_ERR_SHUTTING_DOWN: 503,
  TG_ERR_OVERLOADED: 503,
  TG_ERR_BODY_TIMEOUT: 408,
  TG_ERR_INTERNAL: 500,
  TG_ERR_DECISION_REQUEST: 400,
  TG_ERR_DECISION_PEER: 403,
  TG_ERR_QUERY_CREDENTIAL: 400,
  TG_ERR_TOKEN_ENDPOINT_PATH: 421,
  TG_ERR_FORM_DENIED: 401,
  TG_ERR_WORKER_UNAVAILABLE: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/**
 * Why an authentication attempt failed: a small, fixed set usable as a metric label.
 * `ok` is used for successful attempts.
 */
export type AuthReason =
  | 'ok'
  | 'no_credentials'
  | 'malformed'
  | 'invalid'
  | 'expired'
  | 'stale'
  | 'ambiguous'
  | 'forbidden'
  | 'throttled'
  | 'unavailable'
  | 'denied';

export interface TrackgateErrorOptions {
  /** Operator detail: goes to logs only, never to the client. Must not contain secrets. */
  detail?: string;
  /** Auth failure reason for metrics and logs. */
  reason?: AuthReason;
  /** Extra response headers (e.g. `WWW-Authenticate`, `Retry-After`). */
  headers?: Record<string, string | string[]>;
  /** Override the default status of the code (e.g. RFC 6750 403 for insufficient_scope). */
  status?: number;
  cause?: unknown;
}

export class TrackgateError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly detail: string | undefined;
  readonly reason: AuthReason | undefined;
  readonly headers: Record<string, string | string[]> | undefined;

  constructor(code: ErrorCode, message: string, options: TrackgateErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TrackgateError';
    this.code = code;
    this.status = options.status ?? ERROR_CODES[code];
    this.detail = options.detail;
    this.reason = options.reason;
    this.headers = options.headers;
  }

  /** The short, machine-readable body a client sees. */
  toBody(): { error: ErrorCode; message: string } {
    return { error: this.code, message: this.message };
  }
}

export function isTrackgateError(err: unknown): err is TrackgateError {
  return err instanceof TrackgateError;
}

/** Wraps anything thrown into a TrackgateError without leaking its message to clients. */
export function toTrackgateError(err: unknown): TrackgateError {
  if (isTrackgateError(err)) return err;
  const detail = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  return new TrackgateError('TG_ERR_INTERNAL', 'internal error', { detail, cause: err });
}
