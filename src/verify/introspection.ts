/**
 * OAuth 2.0 Token Introspection (RFC 7662) client: `POST token=…&token_type_hint=access_token` with HTTP Basic
 * client authentication (RFC 6749 §2.3.1: id and secret form-encoded, then base64), over one undici keep-alive
 * Pool. Any answer other than a 200 JSON object in time is the endpoint being unavailable (503, not cached);
 * `active: false` is a verdict (401, cached briefly as a negative).
 */
import { Pool } from 'undici';
import { TrackgateError } from '../errors.js';
import type { Identity, IdentityKind } from '../identity/identity.js';
import { describeError, failureKind, readLimited, sourcePoolOptions, sourceUnavailable } from './http-source.js';
import { missingScopes, type VerifiedToken } from './external-jwt.js';

export interface IntrospectionOptions {
  readonly url: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly timeoutMs: number;
  readonly connections: number;
  readonly maxBytes: number;
}

/** How an active introspection answer becomes an identity. */
export interface IntrospectionMapping {
  /** `scheme` claim of the identity. */
  readonly scheme: string;
  /** `kind` of a token with a `sub`; a token with only `client_id` is an `app`. */
  readonly kind: IdentityKind;
  readonly subjectPrefix: string;
  readonly accountField?: string | undefined;
  /** When set, the answer's `aud` must contain it. */
  readonly audience?: string | undefined;
  readonly requiredScopes: readonly string[];
}

const MAX_FIELD = 256;
const CONTROL_RE = /[\u0000-\u001f\u007f]/;

export class Introspector {
  readonly #pool: Pool;
  readonly #path: string;
  readonly #authorization: string;
  /** Calls made (for tests and logs). */
  calls = 0;

  constructor(private readonly opts: IntrospectionOptions) {
    const url = new URL(opts.url);
    this.#path = `${url.pathname}${url.search}`;
    this.#pool = new Pool(url.origin, sourcePoolOptions(opts.connections, opts.timeoutMs));
    this.#authorization = `Basic ${Buffer.from(`${formEncode(opts.clientId)}:${formEncode(opts.clientSecret)}`, 'utf8').toString('base64')}`;
  }

  /** The endpoint's JSON answer for `token`; throws 503 `unavailable` when there is none. */
  async introspect(token: string): Promise<Record<string, unknown>> {
    this.calls++;
    const body = new URLSearchParams({ token, token_type_hint: 'access_token' }).toString();
    let status: number;
    let raw: Buffer;
    try {
      const res = await this.#pool.request({
        path: this.#path, method: 'POST', body, signal: AbortSignal.timeout(this.opts.timeoutMs),
        headers: {
          authorization: this.#authorization,
          'content-type': 'application/x-www-form-urlencoded',
          accept: 'application/json',
        },
      });
      status = res.statusCode;
      if (status !== 200) {
        await res.body.dump().catch(() => undefined);
        throw sourceUnavailable('introspection', `HTTP ${status}`);
      }
      raw = await readLimited(res.body, this.opts.maxBytes, res.headers['content-length']);
    } catch (err) {
      if (err instanceof TrackgateError) throw err;
      throw sourceUnavailable('introspection', `${failureKind(err)} (${describeError(err)})`, err);
    }
    let doc: unknown;
    try {
      doc = JSON.parse(raw.toString('utf8'));
    } catch {
      throw sourceUnavailable('introspection', 'answer is not JSON');
    }
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw sourceUnavailable('introspection', 'answer is not a JSON object');
    return doc as Record<string, unknown>;
  }

  close(): Promise<void> {
    return this.#pool.close();
  }
}

/**
 * An introspection answer → identity. `active` must be `true`; `exp` (expired → 401 expired, and the
 * identity's `expiresAt`), `nbf`, `token_type` (a refresh token is refused), `aud` (when configured),
 * `sub` (else `client_id` as an `app`) and `scope` are honoured.
 */
export function identityFromIntrospection(doc: Record<string, unknown>, map: IntrospectionMapping, nowMs: number): VerifiedToken {
  if (doc.active !== true) throw invalid('token not active');
  if (typeof doc.token_type === 'string' && /refresh/i.test(doc.token_type)) throw invalid('token_type is a refresh token');
  if (typeof doc.exp === 'number' && doc.exp * 1000 <= nowMs) {
    throw new TrackgateError('TG_ERR_EXPIRED_CREDENTIALS', 'credentials expired', { reason: 'expired', detail: 'introspection: exp in the past' });
  }
  if (typeof doc.nbf === 'number' && doc.nbf * 1000 > nowMs) throw invalid('nbf in the future');
  if (map.audience !== undefined) {
    const aud = typeof doc.aud === 'string' ? [doc.aud] : Array.isArray(doc.aud) ? doc.aud : [];
    if (!aud.includes(map.audience)) throw invalid('aud does not contain the configured audience');
  }
  let subject: string;
  let kind: IdentityKind = map.kind;
  if (doc.sub !== undefined) {
    if (!sane(doc.sub)) throw invalid('sub is not a sane string');
    subject = doc.sub;
  } else if (doc.client_id !== undefined) {
    if (!sane(doc.client_id)) throw invalid('client_id is not a sane string');
    subject = doc.client_id;
    kind = 'app';
  } else {
    throw invalid('neither sub nor client_id');
  }
  let account: string | undefined;
  if (map.accountField !== undefined) {
    const a = doc[map.accountField];
    if (sane(a)) account = a;
    else if (typeof a === 'number' && Number.isSafeInteger(a)) account = String(a);
  }
  const scopes = typeof doc.scope === 'string' ? doc.scope.split(' ').filter((s) => s !== '') : [];
  const identity: Identity = Object.freeze({
    subject: map.subjectPrefix + subject,
    scheme: map.scheme,
    kind,
    ...(account !== undefined ? { account } : {}),
    ...(typeof doc.exp === 'number' ? { expiresAt: doc.exp * 1000 } : {}),
  });
  return { identity, missingScopes: missingScopes(map.requiredScopes, scopes) };
}

function sane(v: unknown): v is string {
  return typeof v === 'string' && v !== '' && v.length <= MAX_FIELD && !CONTROL_RE.test(v);
}

function invalid(detail: string): TrackgateError {
  return new TrackgateError('TG_ERR_INVALID_CREDENTIALS', 'invalid credentials', { reason: 'invalid', detail: `introspection: ${detail}` });
}

/** application/x-www-form-urlencoded encoding of one value (RFC 6749 Appendix B). */
function formEncode(s: string): string {
  return new URLSearchParams([['v', s]]).toString().slice(2);
}
