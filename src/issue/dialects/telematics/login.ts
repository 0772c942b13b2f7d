/**
 * `POST <prefix>/Login`: headers `InstanceId` + `InstanceKey`, body `{"loginFields": {"deviceToken"} | {"Email"},
 * "password"}`: a device of a user group (password and InstanceKey both the group's key) or an admin of an API
 * instance (the admin's password and instance key) gets a new pair in the Result envelope.
 */
import { lookupDigest } from '../../../accounts/digest-token.js';
import { MAX_TOKEN_LENGTH } from '../../../authn/stored-token.js';
import type { ThrottleKey } from '../../../store/throttle.js';
import type { Subject } from '../../tokens.js';
import type { IssueReply, IssueRequest } from '../../types.js';
import { field, header, invalid, malformed, str } from './fields.js';
import type { TelematicsContext } from './options.js';
import { envelope, issuePair } from './pairs.js';

export async function login(ctx: TelematicsContext, req: IssueRequest): Promise<IssueReply> {
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
    const subject = await deviceLogin(ctx, req, instanceId, instanceKey, deviceToken, password);
    return envelope(ctx, await issuePair(ctx, subject, deviceToken), deviceToken);
  }
  const subject = await adminLogin(ctx, req, instanceId, instanceKey, email!, password);
  return envelope(ctx, await issuePair(ctx, subject), '');
}

/**
 * "Authorize as User": password and InstanceKey header are both the group's InstanceKey. One hash check
 * whether the group and device exist or not (the two values are compared first: they are the client's own).
 */
async function deviceLogin({ deps }: TelematicsContext, req: IssueRequest, instanceId: string, instanceKey: string, deviceToken: string, password: string): Promise<Subject> {
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
async function adminLogin({ deps }: TelematicsContext, req: IssueRequest, instanceId: string, instanceKey: string, email: string, password: string): Promise<Subject> {
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
