/**
 * Issued tokens on the proxy path: the syntax every token carrier accepts, reading all values of a carrier
 * (so one request cannot smuggle two different tokens under one name), and the store lookup that turns a
 * token into an Identity. Shared by the session-token, oauth and Bearer forms.
 *
 * A token is found by the lookup digest of its value (`lookupDigest`), never compared in clear: a wrong token
 * costs one hash and one indexed read whatever its prefix, so there is nothing to time.
 */
import { lookupDigest } from '../accounts/digest-token.js';
import { TrackgateError } from '../errors.js';
import { StringPool } from '../verify/string-pool.js';
import type { AuthnDeps, Identity, IdentityKind, RequestView } from './types.js';

/** Longest token accepted on any carrier; legacy tokens are far shorter, so longer is not a token. */
export const MAX_TOKEN_LENGTH = 512;
// C0 controls and DEL: never part of a token, and a sign of header/log injection attempts.
const CONTROL_RE = /[\u0000-\u001f\u007f]/;
/** The kinds, each mapped to its one constant string: a cached identity then holds no copy read from a row. */
const KINDS: ReadonlyMap<string, IdentityKind> = new Map((['user', 'device', 'app', 'admin', 'anonymous'] as const).map((k) => [k, k]));

/** A malformed-credentials error; `detail` names the carrier, never the value. */
export function malformedToken(detail: string, message = 'malformed token'): TrackgateError {
  return new TrackgateError('TG_ERR_MALFORMED_CREDENTIALS', message, { reason: 'malformed', detail });
}

/** Throws malformed when `token` cannot be a token: empty, longer than {@link MAX_TOKEN_LENGTH}, control characters. */
export function checkTokenSyntax(token: string, carrier: string): void {
  if (token.length === 0) throw malformedToken(`${carrier}: empty token`);
  if (token.length > MAX_TOKEN_LENGTH) throw malformedToken(`${carrier}: token longer than ${MAX_TOKEN_LENGTH} characters`);
  if (CONTROL_RE.test(token)) throw malformedToken(`${carrier}: token contains control characters`);
}

/**
 * Every value of query parameter `name` (decoded as the RequestView decodes it). Cheap when absent: the
 * query is only re-parsed when the first value exists.
 */
export function queryValues(req: RequestView, name: string): string[] {
  if (req.query(name) === undefined) return [];
  const q = req.url.indexOf('?');
  return new URLSearchParams(q < 0 ? '' : req.url.slice(q + 1)).getAll(name);
}

/** Every value of cookie `name`, parsed as `proxy/cookies.ts` parses them (quotes removed). */
export function cookieValues(req: RequestView, name: string): string[] {
  if (req.cookie(name) === undefined) return [];
  const header = req.headers.cookie ?? '';
  const out: string[] = [];
  for (const pair of header.split(';')) {
    const eq = pair.indexOf('=');
    if (eq < 0 || pair.slice(0, eq).trim() !== name) continue;
    let value = pair.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    out.push(value);
  }
  return out;
}

/**
 * The one token a request carries across `found` (carrier label → values), or undefined when none does.
 * The same value in several carriers (the GPS seed's `?_token=X` + `Cookie: token=X`) is one credential;
 * two different values are ambiguous (400). Each value is syntax-checked.
 */
export function singleToken(found: readonly (readonly [carrier: string, values: readonly string[]])[]): string | undefined {
  let token: string | undefined;
  let from: string | undefined;
  for (const [carrier, values] of found) {
    for (const v of values) {
      checkTokenSyntax(v, carrier);
      if (token === undefined) { token = v; from = carrier; continue; }
      if (v !== token) {
        throw new TrackgateError('TG_ERR_AMBIGUOUS_CREDENTIALS', 'request carries more than one credential', {
          reason: 'ambiguous', detail: `different tokens in ${from} and ${carrier}`,
        });
      }
    }
  }
  return token;
}

export interface StoredTokenPolicy {
  /** Record types accepted (`session`, `access`); anything else, `refresh` included, is invalid here. */
  readonly types: readonly string[];
  /** `scheme` of the resulting identity (the `scheme` claim). */
  readonly scheme: string;
}

/**
 * Looks an issued token up in the store and returns the frozen Identity it stands for, carrying
 * `tokenDigest` (so a revocation evicts its cache entries) and `expiresAt` (so the cache and the identity
 * header never outlive it). Throws 401 `invalid` (unknown, wrong type, revoked), 401 `expired`, or 503
 * `unavailable` when the store does not answer.
 */
export async function identityFromStoredToken(
  deps: Pick<AuthnDeps, 'store' | 'now'>, token: string, policy: StoredTokenPolicy,
): Promise<Identity> {
  const digest = lookupDigest(token);
  let rec;
  try {
    rec = await deps.store.getToken(digest);
  } catch (err) {
    throw new TrackgateError('TG_ERR_SOURCE_UNAVAILABLE', 'authentication source unavailable', {
      reason: 'unavailable', detail: `token store (${deps.store.engine}): ${err instanceof Error ? err.message : String(err)}`, cause: err,
    });
  }
  const invalid = (detail: string) => new TrackgateError('TG_ERR_INVALID_CREDENTIALS', 'invalid credentials', { reason: 'invalid', detail });
  if (rec === undefined) throw invalid('unknown token');
  if (!policy.types.includes(rec.type)) throw invalid(`token of type ${rec.type} not accepted by ${policy.scheme}`);
  if (rec.revokedAt !== undefined) throw invalid('revoked token');
  if (rec.expiresAt <= deps.now()) {
    throw new TrackgateError('TG_ERR_EXPIRED_CREDENTIALS', 'credentials expired', { reason: 'expired', detail: 'expired token' });
  }
  const kind = KINDS.get(rec.kind);
  if (kind === undefined) throw invalid(`stored token has unknown kind ${JSON.stringify(rec.kind)}`);
  // One literal with every field, so all stored-token identities share one shape; interned account and instance
  // names, so the many identities of one account share one copy instead of each holding its row's.
  return Object.freeze({
    subject: rec.subject,
    scheme: policy.scheme,
    kind,
    account: rec.account === undefined ? undefined : SHARED_NAMES.intern(rec.account),
    instance: rec.instance === undefined ? undefined : SHARED_NAMES.intern(rec.instance),
    actor: typeof rec.data?.act === 'string' ? SHARED_NAMES.intern(rec.data.act) : undefined,
    dialect: SHARED_NAMES.intern(rec.issuer),
    expiresAt: rec.expiresAt,
    tokenDigest: rec.digest,
  });
}

/** Account and instance names of cached identities (few distinct values, held by many entries). */
const SHARED_NAMES = new StringPool(10_000);
