/**
 * Telematics platform user service (seed: telematics-api-authorization.txt):
 *
 * `POST /v1/Auth/Login`, headers `InstanceId` + `InstanceKey`, body (JSON or `application/json-patch+json`,
 * field names case-insensitive, as the seed itself writes them both ways):
 *
 * | who   | InstanceId            | loginFields                   | password / InstanceKey header               |
 * |-------|-----------------------|-------------------------------|---------------------------------------------|
 * | user  | the user group's      | `{"deviceToken": …}` (a device of the group) | both the group's InstanceKey |
 * | admin | the API instance's    | `{"Email": …}` (an admin of that instance)   | the admin's password / the admin's InstanceKey |
 *
 * → `200 {"Result": {"DeviceToken", "AccessToken": {"Token": <JWT>, "ExpiresIn": <s>}, "RefreshToken"}, "Status": 200, "Title": "", "Errors": []}`
 *
 * `POST /v1/Auth/RefreshToken` `{"RefreshToken": …}` (the `AccessToken` may come along) rotates both (same
 * envelope). An access token sent along may have expired but must be one of the refresh token's family (else
 * 401, and the refresh token is not spent). Rotation, the retry grace window and reuse detection are refresh.ts's. Refreshing does
 * not revoke the previous access token: it stays valid until its own expiry; revoking the family kills it.
 *
 * ExpiresIn: the seed says "the accesstoken expires every 2 hours" but its sample answer shows
 * `"ExpiresIn": 1209600` (14 days, plausibly the refresh token's lifetime or a stale sample). trackgate
 * follows the prose: access tokens live `accessTtlSeconds` (default 7200) and ExpiresIn reports the real
 * remaining lifetime in seconds, so a client scheduling its refresh from ExpiresIn is never late. An operator
 * whose clients rely on the sample sets `accessTtlSeconds: 1209600` (ExpiresIn then matches it).
 *
 * DeviceToken: for a device login, the device token the client presented (it is the client's own; the seed
 * asks clients to keep all three tokens). An admin has no device token, and trackgate issues nothing the
 * platform does not define: admins get `""` (a string, so the envelope's types never change; not the
 * instance id, which a client storing "the DeviceToken" would then send as one and be refused). A refresh
 * hands the device token back too, so a client storing all three tokens keeps it: the family keeps it sealed
 * under each refresh token's value (refresh.ts `kept`; the store alone cannot yield it, the accounts file
 * holds a digest). A family issued before that echoes a `DeviceToken` header of its own device, else `""`.
 *
 * One file per endpoint: `login.ts`, `refresh-token.ts`.
 *
 * Errors: `{"Result": null, "Status": <HTTP status>, "Title": <reason phrase>, "Errors": [{"Code": <trackgate
 * error code>, "Message": …}]}`: 400 malformed, 401 bad credentials or tokens, 429 throttled (Retry-After).
 */
import type { TrackgateError } from '../../../errors.js';
import { defineDialect, type IssueReply, type IssueRequest } from '../../types.js';
import { login } from './login.js';
import { ID, telematicsOptions } from './options.js';
import { refreshToken } from './refresh-token.js';
import { envelope } from './pairs.js';
import { samplePair } from '../../sample-pair.js';

export const telematics = defineDialect({
  id: ID,
  options: telematicsOptions,
  create(options, deps) {
    const ctx = { options, deps };
    const base = options.prefix;
    const sample = (): unknown => envelope(ctx, samplePair(deps.now()), '').body;
    return {
      id: ID,
      routes: [
        {
          method: 'POST', path: `${base}/Login`, handle: (req) => login(ctx, req),
          doc: { summary: 'Device (deviceToken + InstanceKey) or admin (Email + password) login: JWT access and refresh tokens in the Result envelope.', fields: { loginFields: true, password: true }, headers: { InstanceId: true, InstanceKey: true }, sample },
        },
        {
          method: 'POST', path: `${base}/RefreshToken`, handle: (req) => refreshToken(ctx, req),
          doc: { summary: 'Rotates both tokens (Result envelope).', fields: { accessToken: false, refreshToken: true }, sample },
        },
      ],
      renderError,
    };
  },
});

function renderError(err: TrackgateError, req: IssueRequest): IssueReply {
  return {
    status: err.status,
    body: { Result: null, Status: err.status, Title: req.statusText(err.status) ?? 'Error', Errors: [{ Code: err.code, Message: err.message }] },
  };
}
