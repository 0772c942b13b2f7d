/**
 * HTTP Basic (RFC 7617) against the accounts file: a user's password, or one of the user's GPS REST v2
 * web-service keys used as the password. User-ids and passwords are UTF-8 (`charset="UTF-8"` challenge).
 */
import { z } from 'zod';
import { TrackgateError } from '../../errors.js';
import { lookupDigest } from '../../accounts/digest-token.js';
import { authorizationParams } from '../authorization-header.js';
import { defineAuthenticator } from '../module.js';
import type { Credential, Identity } from '../types.js';

/**
 * The raw `base64(user-id ":" password)`: it is the cache key as it stands, so a cached credential is never
 * decoded; `verify` decodes it (and rejects a malformed one) on a cache miss.
 */
export interface BasicCredential extends Credential {
  readonly token: string;
}

const BASE64_RE = /^[A-Za-z0-9+/]*={0,2}$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });
// C0 controls and DEL are never part of a user-id or password (RFC 7617 §2).
const CONTROL_RE = /[\u0000-\u001f\u007f]/;

/** Decodes `base64(user-id ":" password)`; throws a malformed-credentials error when it is not one. */
export function decodeBasic(token: string): { username: string; password: string } {
  if (token.length === 0 || token.length % 4 !== 0 || !BASE64_RE.test(token)) {
    throw malformed('credentials are not valid base64');
  }
  let decoded: string;
  try {
    decoded = utf8.decode(Buffer.from(token, 'base64'));
  } catch {
    throw malformed('credentials are not valid UTF-8');
  }
  const colon = decoded.indexOf(':');
  if (colon < 0) throw malformed('credentials have no ":" separator');
  if (CONTROL_RE.test(decoded)) throw malformed('credentials contain control characters');
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

function malformed(detail: string): TrackgateError {
  return new TrackgateError('TG_ERR_MALFORMED_CREDENTIALS', 'malformed Basic credentials', { detail, reason: 'malformed' });
}

export const basic = defineAuthenticator({
  id: 'basic',
  options: z.object({
    enabled: z.boolean().default(true).describe('Accept HTTP Basic credentials.'),
    realm: z.string().default('trackgate').describe('Realm announced in the Basic challenge.'),
    webServiceKeys: z.boolean().default(true).describe('Accept a GPS REST v2 web-service key as the Basic password.'),
  }),
  carriers: () => ({ headers: ['authorization'] }),
  create(options, deps) {
    const challenge = `Basic realm="${options.realm.replace(/["\\]/g, '\\$&')}", charset="UTF-8"`;
    return {
      id: 'basic',
      extract(req): BasicCredential | undefined {
        const params = authorizationParams(req, 'Basic');
        // With an InstanceId header, Basic is the telematics variant (forms/instance.ts), not an account login,
        // as long as that form is on; when it is off, a stray InstanceId header changes nothing.
        if (params === undefined || (req.headers.instanceid !== undefined && deps.formEnabled?.('instance') !== false)) return undefined;
        return { scheme: 'basic', cacheParts: [params], token: params };
      },
      async verify(cred: BasicCredential, req): Promise<Identity> {
        const { username, password } = decodeBasic(cred.token);
        const keys = [{ scope: 'user' as const, value: username }, { scope: 'ip' as const, value: req.remoteAddress }];
        await deps.throttle?.check(keys);
        const user = deps.accounts().user(username);
        // A web-service key is a lookup digest (no hash to evaluate); anything else is a timed password check.
        const ok = (user !== undefined && options.webServiceKeys && user.webServiceKeys.includes(lookupDigest(password)))
          || await deps.passwords.verifyOne(user?.password, password, undefined, async () => deps.throttle?.fail(keys));
        // A failure here came from verifyOne, which recorded it with the throttle before its padding.
        if (!ok || user === undefined) {
          throw new TrackgateError('TG_ERR_INVALID_CREDENTIALS', 'invalid credentials', {
            reason: 'invalid', detail: user === undefined ? 'unknown user' : 'wrong password',
          });
        }
        await deps.throttle?.succeed(keys);
        return Object.freeze({
          subject: user.id ?? user.username,
          scheme: 'basic',
          kind: 'user' as const,
          ...(user.accounts[0] !== undefined ? { account: user.accounts[0] } : {}),
        });
      },
      challenge: () => challenge,
    };
  },
});
