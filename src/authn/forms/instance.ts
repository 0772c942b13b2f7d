/**
 * Telematics instance credentials (telematics-api-authorization), against the accounts file:
 *
 * | request | principal |
 * |---|---|
 * | `InstanceId` + `InstanceKey` + `DeviceToken` headers | a device of that user group |
 * | `InstanceId` + `Authorization: Basic base64(deviceToken:instanceKey)` ("Login: User DeviceToken, Password: User Group InstanceKEY") | a device of that user group |
 * | `InstanceId` + `Authorization: Basic base64(email:password)` ("Login: API Login, Password: API Password") | an admin of that API instance |
 * | the same plus an `InstanceKey` header | admin or device; the header key is verified too |
 *
 * With Basic, whether the login is an admin e-mail or a device token is decided by the accounts file (an
 * admin of that instance with that e-mail, else a device). Instance keys and passwords are password hashes,
 * device tokens lookup digests; every path runs the same number of hash checks, so an unknown instance,
 * device or admin costs what a known one does.
 *
 * Every failed check is counted by the brute-force throttle, per principal and per client address, under the
 * same keys as the telematics Login endpoint (src/issue/dialects/telematics.ts), so alternating between the two
 * gains an attacker nothing. A device is keyed by its instance and device token, not its group's shared
 * InstanceKey, so one misconfigured field device cannot lock out its whole group; an admin by instance and e-mail.
 *
 * When the request carries an `Authorization` header of another scheme (Bearer, OAuth, Digest), this form is
 * not responsible: telematics clients in transition send their `InstanceId`/`InstanceKey`/`DeviceToken`
 * headers along with the Bearer JWT, and the JWT is the credential then (the headers are still stripped).
 * `InstanceId` with the rest missing (no key, no device token, no Basic), or `InstanceKey`/`DeviceToken`
 * without `InstanceId`, is 400: the request speaks this scheme but cannot name a principal, and no
 * retry with the same credentials could succeed, which is what a 401 would invite.
 */
import { z } from 'zod';
import { TrackgateError } from '../../errors.js';
import { lookupDigest } from '../../accounts/digest-token.js';
import { authorizationParams } from '../authorization-header.js';
import { defineAuthenticator } from '../module.js';
import { checkTokenSyntax, malformedToken } from '../stored-token.js';
import type { Credential, Identity, RequestView } from '../types.js';
import type { ThrottleKey } from '../../store/throttle.js';
import { decodeBasic } from './basic.js';

export type InstanceCredential = Credential & { readonly instanceId: string } & (
  | { readonly mode: 'headers'; readonly instanceKey: string; readonly deviceToken: string }
  | { readonly mode: 'basic'; readonly login: string; readonly password: string; readonly instanceKey: string | undefined }
);

function header(req: RequestView, name: string): string | undefined {
  const v = req.headers[name];
  return typeof v === 'string' ? v : undefined;
}

function invalid(detail: string): TrackgateError {
  return new TrackgateError('TG_ERR_INVALID_CREDENTIALS', 'invalid credentials', { reason: 'invalid', detail });
}

export const instance = defineAuthenticator({
  id: 'instance',
  options: z.object({
    enabled: z.boolean().default(false).describe('Accept telematics InstanceId/InstanceKey/DeviceToken headers and their Basic variants (devices of a user group, API admins).'),
  }),
  carriers: () => ({ headers: ['instanceid', 'instancekey', 'devicetoken', 'authorization'] }),
  create(_options, deps) {
    return {
      id: 'instance',
      extract(req): InstanceCredential | undefined {
        const instanceId = header(req, 'instanceid');
        const instanceKey = header(req, 'instancekey');
        const deviceToken = header(req, 'devicetoken');
        // Not this form's (the common case on every request): nothing to parse.
        if (instanceId === undefined && instanceKey === undefined && deviceToken === undefined) return undefined;
        const authorization = req.headers.authorization;
        const basic = authorizationParams(req, 'Basic');
        if (authorization !== undefined && basic === undefined) return undefined;
        if (instanceId === undefined) {
          if (instanceKey === undefined && deviceToken === undefined) return undefined;
          // Basic without InstanceId is the basic form's; the stray headers are stripped all the same.
          if (basic !== undefined) return undefined;
          throw malformedToken('InstanceKey or DeviceToken header without InstanceId', 'incomplete instance credentials');
        }
        checkTokenSyntax(instanceId, 'header InstanceId');
        if (instanceKey !== undefined) checkTokenSyntax(instanceKey, 'header InstanceKey');
        if (deviceToken !== undefined) checkTokenSyntax(deviceToken, 'header DeviceToken');
        if (basic !== undefined) {
          const { username: login, password } = decodeBasic(basic);
          if (deviceToken !== undefined && deviceToken !== login) {
            throw new TrackgateError('TG_ERR_AMBIGUOUS_CREDENTIALS', 'request carries more than one credential', {
              reason: 'ambiguous', detail: 'DeviceToken header differs from the Basic login',
            });
          }
          return {
            scheme: 'instance', mode: 'basic', instanceId, login, password, instanceKey,
            cacheParts: ['basic', instanceId, login, password, ...(instanceKey === undefined ? [] : [instanceKey])],
          };
        }
        if (instanceKey === undefined || deviceToken === undefined) {
          throw malformedToken(`InstanceId without ${instanceKey === undefined ? 'InstanceKey' : 'DeviceToken'}`, 'incomplete instance credentials');
        }
        return {
          scheme: 'instance', mode: 'headers', instanceId, instanceKey, deviceToken,
          cacheParts: ['headers', instanceId, instanceKey, deviceToken],
        };
      },
      async verify(cred: InstanceCredential, req): Promise<Identity> {
        const login = cred.mode === 'basic' ? cred.login : cred.deviceToken;
        const admin = cred.mode === 'basic' ? deps.accounts().admin(cred.instanceId, login) : undefined;
        const principal = admin !== undefined
          ? `telematics-admin\0${cred.instanceId}\0${login.toLowerCase()}`
          : `telematics-device\0${cred.instanceId}\0${lookupDigest(login)}`;
        const keys: ThrottleKey[] = [{ scope: 'user', value: principal }, { scope: 'ip', value: req.remoteAddress }];
        await deps.throttle?.check(keys);
        try {
          const identity = await (async (): Promise<Identity> => {
            if (cred.mode === 'headers') return device(cred.instanceId, cred.deviceToken, cred.instanceKey, undefined);
            if (admin === undefined) return device(cred.instanceId, cred.login, cred.password, cred.instanceKey);
            // Both secrets are always checked, so the time taken says nothing about which one was wrong.
            const [passwordOk, keyOk = true] = await deps.passwords.verify([
              { hash: admin.password, secret: cred.password },
              ...(cred.instanceKey === undefined ? [] : [{ hash: admin.instanceKey, secret: cred.instanceKey }]),
            ]);
            if (!passwordOk || !keyOk) throw invalid(passwordOk ? 'wrong admin instance key' : 'wrong admin password');
            return Object.freeze({ subject: admin.email, scheme: 'instance', kind: 'admin' as const, instance: admin.instanceId });
          })();
          await deps.throttle?.succeed(keys);
          // The wire variant (headers or Basic) is the inventory's dialect: who still sends InstanceKey headers.
          return Object.freeze({ ...identity, dialect: cred.mode });
        } catch (err) {
          if (err instanceof TrackgateError && err.reason === 'invalid') await deps.throttle?.fail(keys);
          throw err;
        }
      },
    };

    /**
     * A device of user group `instanceId`: `key` must be the group's InstanceKey, and so must `headerKey`
     * (an InstanceKey header next to Basic). One hash per key sent, whether the group and device exist or not.
     */
    async function device(instanceId: string, deviceToken: string, key: string, headerKey: string | undefined): Promise<Identity> {
      const accounts = deps.accounts();
      const group = accounts.userGroup(instanceId);
      const found = accounts.device(instanceId, lookupDigest(deviceToken));
      const checks = [key, ...(headerKey === undefined ? [] : [headerKey])].map((secret) => ({ hash: group?.instanceKey, secret }));
      const started = deps.passwords.start();
      const results = await deps.passwords.verify(checks, started);
      if (group === undefined) throw invalid('unknown instance');
      if (results.includes(false)) throw invalid('wrong instance key');
      if (found === undefined) {
        await deps.passwords.failed(started, checks.length); // the key was right: the time must not say so
        throw invalid('unknown device in this instance');
      }
      return Object.freeze({ subject: found.device.id, scheme: 'instance', kind: 'device' as const, instance: group.instanceId });
    }
  },
});
