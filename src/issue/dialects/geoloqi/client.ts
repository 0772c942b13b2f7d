/**
 * The Geoloqi client: an accounts-file `applications` entry that authenticates with `client_id`/`client_secret`
 * in the body or with HTTP Basic (RFC 6749 §2.3.1), never both. The secret is a password hash, checked with the
 * same throttle as every password (per `client:<id>` and per address).
 */
import type { ApplicationRecord } from '../../../accounts/schema.js';
import { authorizationParams } from '../../../authn/authorization-header.js';
import { decodeBasic } from '../../../authn/forms/basic.js';
import type { ThrottleKey } from '../../../store/throttle.js';
import { stringField } from '../../body.js';
import type { IssueDeps, IssueRequest } from '../../types.js';
import { geoError } from './errors.js';

export interface Client {
  readonly app: ApplicationRecord;
  /** Whether the client secret was presented and verified (a confidential request). */
  readonly secretVerified: boolean;
}

/**
 * The application a request authenticates as: `client_id` [+ `client_secret`] in the body, or HTTP Basic
 * `client_id:client_secret` (form-encoded, RFC 6749 §2.3.1). `requireSecret`: a confidential grant.
 */
export async function authenticateClient(deps: IssueDeps, req: IssueRequest, body: Record<string, unknown>, requireSecret: boolean): Promise<Client> {
  let clientId = stringField(body, 'client_id');
  let secret = stringField(body, 'client_secret');
  const basic = authorizationParams(req.view, 'Basic');
  const viaBasic = basic !== undefined;
  if (basic !== undefined) {
    if (secret !== undefined || (clientId !== undefined && clientId !== '')) {
      throw geoError(400, 'invalid_request', 'client credentials in both the body and the Authorization header', 'TG_ERR_BAD_REQUEST', 'ambiguous');
    }
    let decoded: { username: string; password: string };
    try {
      decoded = decodeBasic(basic);
    } catch {
      throw geoError(400, 'invalid_request', 'malformed Basic client credentials', 'TG_ERR_BAD_REQUEST', 'malformed');
    }
    clientId = formDecode(decoded.username);
    secret = formDecode(decoded.password);
  }
  if (clientId === undefined || clientId === '') {
    throw geoError(400, 'invalid_request', 'client_id required', 'TG_ERR_BAD_REQUEST', 'malformed');
  }
  const headers = viaBasic ? { 'www-authenticate': 'Basic realm="geoloqi"' } : undefined;
  const invalidClient = (detail: string) => geoError(401, 'invalid_client', 'Invalid client credentials.', 'TG_ERR_INVALID_CREDENTIALS', 'invalid', detail, headers);
  const keys: ThrottleKey[] = [{ scope: 'user', value: `client:${clientId}` }, { scope: 'ip', value: req.view.remoteAddress }];
  if (secret === undefined || secret === '') {
    if (requireSecret) throw invalidClient('client_secret required for this grant');
    const app = deps.accounts().application(clientId);
    if (app === undefined) {
      await deps.throttle.fail([keys[1]!]);
      throw invalidClient('unknown client_id');
    }
    return { app, secretVerified: false };
  }
  await deps.throttle.check(keys);
  const app = deps.accounts().application(clientId);
  const ok = await deps.passwords.verifyOne(app?.clientSecret, secret, undefined, async () => deps.throttle.fail(keys));
  // A failure came from verifyOne, which recorded it with the throttle before its padding.
  if (!ok || app === undefined) {
    throw invalidClient(app === undefined ? 'unknown client_id' : 'wrong client_secret');
  }
  await deps.throttle.succeed(keys);
  return { app, secretVerified: true };
}

/** `application/x-www-form-urlencoded` decoding of Basic client credentials (RFC 6749 §2.3.1). */
function formDecode(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
}
