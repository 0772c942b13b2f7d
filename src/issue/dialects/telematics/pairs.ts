/** Telematics pairs: issued with JWT access tokens, answered in the `Result` envelope. */
import { lookupDigest } from '../../../accounts/digest-token.js';
import { MAX_TOKEN_LENGTH } from '../../../authn/stored-token.js';
import { secondsLeft } from '../../access-jwt.js';
import type { TokenPair } from '../../refresh.js';
import type { Subject } from '../../tokens.js';
import type { IssueReply, IssueRequest } from '../../types.js';
import { accessValueFor, ID, type TelematicsContext } from './options.js';

/** `deviceToken`: a device login's, kept (sealed) by the family so that every refresh hands it back. */
export function issuePair(ctx: TelematicsContext, subject: Subject, deviceToken?: string): Promise<TokenPair> {
  const { options, deps } = ctx;
  return deps.refresh.issuePair(subject, {
    issuer: ID, accessTtlSeconds: options.accessTtlSeconds, refreshTtlSeconds: options.refreshTtlSeconds, accessValue: accessValueFor(ctx, subject),
    ...(deviceToken !== undefined ? { kept: deviceToken } : {}),
  });
}

/** `deviceToken`: of device logins only (admins get `""`). */
export function envelope({ deps }: TelematicsContext, pair: TokenPair, deviceToken: string): IssueReply {
  return {
    status: 200,
    body: {
      Result: {
        DeviceToken: deviceToken,
        AccessToken: { Token: pair.access.value, ExpiresIn: secondsLeft(pair.access.expiresAt, deps.now()) },
        RefreshToken: pair.refresh.value,
      },
      Status: 200,
      Title: '',
      Errors: [],
    },
  };
}

/**
 * A refreshed pair: the envelope with the family's kept device token. A family issued before device tokens were
 * kept has none: then the DeviceToken header is echoed when it is this family's device.
 */
export function renderPair(ctx: TelematicsContext, pair: TokenPair, req: IssueRequest): IssueReply {
  return envelope(ctx, pair, pair.kept ?? echoedDeviceToken(ctx, pair, req));
}

function echoedDeviceToken({ deps }: TelematicsContext, pair: TokenPair, req: IssueRequest): string {
  const header = req.view.headers.devicetoken;
  const instance = pair.subject.instance;
  if (pair.subject.kind !== 'device' || instance === undefined || typeof header !== 'string' || header === '' || header.length > MAX_TOKEN_LENGTH) return '';
  return deps.accounts().device(instance, lookupDigest(header))?.device.id === pair.subject.subject ? header : '';
}
