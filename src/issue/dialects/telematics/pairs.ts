/** Telematics pairs: issued with JWT access tokens, answered in the `Result` envelope. */
import { lookupDigest } from '../../../accounts/digest-token.js';
import { MAX_TOKEN_LENGTH } from '../../../authn/stored-token.js';
import { secondsLeft } from '../../access-jwt.js';
import type { TokenPair } from '../../refresh.js';
import type { Subject } from '../../tokens.js';
import type { IssueReply, IssueRequest } from '../../types.js';
import { accessValueFor, ID, type TelematicsContext } from './options.js';

export function issuePair(ctx: TelematicsContext, subject: Subject): Promise<TokenPair> {
  const { options, deps } = ctx;
  return deps.refresh.issuePair(subject, {
    issuer: ID, accessTtlSeconds: options.accessTtlSeconds, refreshTtlSeconds: options.refreshTtlSeconds, accessValue: accessValueFor(ctx, subject),
  });
}

/** `deviceToken`: of user logins only; the device token is never stored. */
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

/** A refreshed pair: the envelope, echoing the DeviceToken header when it is this family's device. */
export function renderPair(ctx: TelematicsContext, pair: TokenPair, req: IssueRequest): IssueReply {
  return envelope(ctx, pair, echoedDeviceToken(ctx, pair, req));
}

function echoedDeviceToken({ deps }: TelematicsContext, pair: TokenPair, req: IssueRequest): string {
  const header = req.view.headers.devicetoken;
  const instance = pair.subject.instance;
  if (pair.subject.kind !== 'device' || instance === undefined || typeof header !== 'string' || header === '' || header.length > MAX_TOKEN_LENGTH) return '';
  return deps.accounts().device(instance, lookupDigest(header))?.device.id === pair.subject.subject ? header : '';
}
