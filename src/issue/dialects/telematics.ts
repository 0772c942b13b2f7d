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
 * `POST /v1/Auth/RefreshToken` `{"AccessToken": …, "RefreshToken": …}` rotates both (same envelope). The
 * access token may have expired but must be one of the refresh token's family (else 401, and the refresh
 * token is not spent). Rotation, the retry grace window and reuse detection are refresh.ts's. Refreshing does
 * not revoke the previous access token: it stays valid until its own expiry; revoking the family kills it.
 *
 * ExpiresIn: the seed says "the accesstoken expires every 2 hours" but its sample answer shows
 * `"ExpiresIn": 1209600` (14 days, plausibly the refresh token's lifetime or a stale sample). trackgate
 * follows the prose: access tokens live `accessTtlSeconds` (default 7200) and ExpiresIn reports the real
 * remaining lifetime in seconds, so a client scheduling its refresh from ExpiresIn is never late.
 *
 * DeviceToken: for a device login, the device token the client presented (it is the client's own; the seed
 * asks clients to keep all three tokens). An admin has no device token, and trackgate issues nothing the
 * platform does not define: admins get `""` (a string, so the envelope's types never change; not the
 * instance id, which a client storing "the DeviceToken" would then send as one and be refused). trackgate
 * keeps device tokens only as digests, so a refresh can echo the device token only when the request carries
 * it in a `DeviceToken` header (as transitional clients do) and it is that family's device; otherwise `""`.
 *
 * Errors: `{"Result": null, "Status": <HTTP status>, "Title": <reason phrase>, "Errors": [{"Code": <trackgate
 * error code>, "Message": …}]}`: 400 malformed, 401 bad credentials or tokens, 429 throttled (Retry-After).
 */
import { z } from 'zod';
import { lookupDigest } from '../../accounts/digest-token.js';
import { MAX_TOKEN_LENGTH } from '../../authn/stored-token.js';
import { TrackgateError } from '../../errors.js';
import type { ThrottleKey } from '../../verify/throttle.js';
import { accessJwt, secondsLeft } from '../access-jwt.js';
import type { TokenPair } from '../refresh.js';
import { subjectOf, type Subject } from '../tokens.js';
import { defineDialect, type Dialect, type IssueReply, type IssueRequest } from '../types.js';

const ID = 'telematics';

export const telematics = defineDialect({
  id: ID,
  options: z.object({
    enabled: z.boolean().default(true).describe('Serve the telematics user service: `POST <prefix>/Login` and `POST <prefix>/RefreshToken`.'),
    prefix: z.string().regex(/^\/[^?#]*[^/]$/).default('/v1/Auth').describe('Path prefix of the Login and RefreshToken endpoints (the seed: `/v1/Auth`).'),
    accessTtlSeconds: z.number().int().min(60).max(30 * 86400).default(7200).describe('Access token (JWT) lifetime, `ExpiresIn` (the seed: "expires every 2 hours").'),
    refreshTtlSeconds: z.number().int().min(60).max(365 * 86400).default(30 * 86400).describe('Refresh token lifetime.'),
    jwtIssuer: z.string().min(1).default('trackgate').describe('`iss` claim of the access tokens.'),
    jwtAudience: z.string().min(1).default('trackgate:telematics').describe('`aud` claim of the access tokens; keep it different from `identity.audience`.'),
  }),
  create(options, deps) {
    const base = options.prefix;
    const jwt = (subject: Subject) => accessJwt(deps, subject, { issuer: options.jwtIssuer, audience: options.jwtAudience });

    /** `{deviceToken}` of user logins only; the device token is never stored. */
    const envelope = (pair: TokenPair, deviceToken: string): IssueReply => ({
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
    });

    /** The DeviceToken header, when it is the device of this family's subject (see the header comment). */
    const echoedDeviceToken = (pair: TokenPair, req: IssueRequest): string => {
      const header = req.view.headers.devicetoken;
      const instance = pair.subject.instance;
      if (pair.subject.kind !== 'device' || instance === undefined || typeof header !== 'string' || header === '' || header.length > MAX_TOKEN_LENGTH) return '';
      return deps.accounts().device(instance, lookupDigest(header))?.device.id === pair.subject.subject ? header : '';
    };

    const issue = async (subject: Subject) => deps.refresh.issuePair(subject, {
      issuer: ID, accessTtlSeconds: options.accessTtlSeconds, refreshTtlSeconds: options.refreshTtlSeconds, accessValue: jwt(subject),
    });

    const renderPair = (pair: TokenPair, req: IssueRequest): IssueReply => envelope(pair, echoedDeviceToken(pair, req));
    const dialect: Dialect = {
      id: ID,
      routes: [
        {
          method: 'POST', path: `${base}/Login`,
          async handle(req) {
            const instanceId = header(req, 'instanceid');
            const instanceKey = header(req, 'instancekey');
            if (instanceId === undefined || instanceKey === undefined) throw malformed('InstanceId and InstanceKey headers required');
            const body = await req.body();
            const loginFields = field(body, 'loginFields');
            if (typeof loginFields !== 'object' || loginFields === null || Array.isArray(loginFields)) {
              throw malformed('loginFields must be an object with Email or deviceToken');
            }
            const email = str(loginFields as Record<string, unknown>, 'Email');
            const deviceToken = str(loginFields as Record<string, unknown>, 'deviceToken');
            const password = str(body, 'password');
            if (password === undefined) throw malformed('password required');
            if ((email === undefined) === (deviceToken === undefined)) throw malformed('loginFields needs exactly one of Email and deviceToken');
            if (deviceToken !== undefined) {
              const subject = await deviceLogin(req, instanceId, instanceKey, deviceToken, password);
              return envelope(await issue(subject), deviceToken);
            }
            const subject = await adminLogin(req, instanceId, instanceKey, email!, password);
            return envelope(await issue(subject), '');
          },
        },
        {
          method: 'POST', path: `${base}/RefreshToken`,
          async handle(req) {
            const body = await req.body();
            const access = str(body, 'AccessToken');
            const refresh = str(body, 'RefreshToken');
            if (access === undefined || access === '' || refresh === undefined || refresh === '') throw malformed('AccessToken and RefreshToken required');
            if (refresh.length > MAX_TOKEN_LENGTH) throw invalid('invalid refresh token', 'refresh token longer than any issued one');
            const [accessRec, presented] = await Promise.all([deps.tokens.lookup(access), deps.refresh.present(refresh)]);
            const refreshRec = presented.record;
            if (refreshRec === undefined || refreshRec.type !== 'refresh' || refreshRec.issuer !== ID) throw invalid('invalid refresh token', 'unknown refresh token');
            // An expired access token is fine (that is why one refreshes); it must be of the same family.
            if (accessRec === undefined || accessRec.type !== 'access' || accessRec.family === undefined || accessRec.family !== refreshRec.family) {
              throw invalid('invalid access token', 'access token not of the refresh token\'s family');
            }
            const pair = await deps.refresh.rotate(presented, jwt(subjectOf(refreshRec)));
            return renderPair(pair, req);
          },
        },
      ],
      renderError(err, req) {
        return {
          status: err.status,
          body: { Result: null, Status: err.status, Title: req.statusText(err.status) ?? 'Error', Errors: [{ Code: err.code, Message: err.message }] },
        };
      },
    };
    return dialect;

    /**
     * "Authorize as User": password and InstanceKey header are both the group's InstanceKey. One hash check
     * whether the group and device exist or not (the two values are compared first: they are the client's own).
     */
    async function deviceLogin(req: IssueRequest, instanceId: string, instanceKey: string, deviceToken: string, password: string): Promise<Subject> {
      if (deviceToken === '' || deviceToken.length > MAX_TOKEN_LENGTH) throw malformed('deviceToken must be a non-empty token');
      const keys: ThrottleKey[] = [{ scope: 'user', value: `telematics-device\0${instanceId}\0${lookupDigest(deviceToken)}` }, { scope: 'ip', value: req.view.remoteAddress }];
      await deps.throttle.check(keys);
      const accounts = deps.accounts();
      const group = accounts.userGroup(instanceId);
      const found = accounts.device(instanceId, lookupDigest(deviceToken));
      const started = deps.passwords.start();
      const [keyOk] = await deps.passwords.verify([{ hash: group?.instanceKey, secret: password }], started);
      let why: string | undefined;
      if (group === undefined) why = 'unknown instance';
      else if (password !== instanceKey) why = 'InstanceKey header differs from the password';
      else if (!keyOk) why = 'wrong instance key';
      else if (found === undefined) why = 'unknown device in this instance';
      if (why !== undefined || found === undefined) {
        if (keyOk) await deps.passwords.failed(started); // the key was right: the time must not say so
        await deps.throttle.fail(keys);
        throw invalid('invalid credentials', why ?? 'unknown device');
      }
      await deps.throttle.succeed(keys);
      return { subject: found.device.id, kind: 'device', instance: found.group.instanceId };
    }

    /** "Authorize as Admin": the admin's password, and the InstanceKey header against the admin's instance key. */
    async function adminLogin(req: IssueRequest, instanceId: string, instanceKey: string, email: string, password: string): Promise<Subject> {
      const keys: ThrottleKey[] = [{ scope: 'user', value: `telematics-admin\0${instanceId}\0${email.toLowerCase()}` }, { scope: 'ip', value: req.view.remoteAddress }];
      await deps.throttle.check(keys);
      const admin = deps.accounts().admin(instanceId, email);
      // Both secrets are always checked, so the time taken says nothing about which one was wrong.
      const [passwordOk, keyOk] = await deps.passwords.verify([{ hash: admin?.password, secret: password }, { hash: admin?.instanceKey, secret: instanceKey }]);
      if (admin === undefined || !passwordOk || !keyOk) {
        await deps.throttle.fail(keys);
        throw invalid('invalid credentials', admin === undefined ? 'unknown admin' : passwordOk ? 'wrong admin instance key' : 'wrong admin password');
      }
      await deps.throttle.succeed(keys);
      return { subject: admin.email, kind: 'admin', instance: admin.instanceId };
    }
  },
});

function header(req: IssueRequest, name: string): string | undefined {
  const v = req.view.headers[name];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** A field by case-insensitive name (`LoginFields`/`loginFields`); the same name twice with different cases → 400. */
function field(obj: Record<string, unknown>, name: string): unknown {
  const want = name.toLowerCase();
  let found: unknown;
  let n = 0;
  for (const [k, v] of Object.entries(obj)) {
    if (k.toLowerCase() !== want) continue;
    found = v;
    n++;
  }
  if (n > 1) throw malformed(`field ${name} given more than once`);
  return found;
}

function str(obj: Record<string, unknown>, name: string): string | undefined {
  const v = field(obj, name);
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw malformed(`${name} must be a string`);
  return v;
}

function malformed(message: string): TrackgateError {
  return new TrackgateError('TG_ERR_BAD_REQUEST', message, { reason: 'malformed' });
}

function invalid(message: string, detail: string): TrackgateError {
  return new TrackgateError('TG_ERR_INVALID_CREDENTIALS', message, { reason: 'invalid', detail });
}
