/**
 * An immutable, indexed view of one accounts file. A reload builds a new directory and swaps it in whole,
 * so a request never sees half of an old file and half of a new one.
 */
import type {
  AccountsFile, AdminRecord, ApplicationRecord, DeviceRecord, UserGroupRecord, UserRecord,
} from './schema.js';

export class AccountDirectory {
  readonly #users = new Map<string, UserRecord>();
  readonly #byWebKey = new Map<string, UserRecord>();
  readonly #admins = new Map<string, AdminRecord>();
  readonly #groups = new Map<string, UserGroupRecord>();
  readonly #devices = new Map<string, { group: UserGroupRecord; device: DeviceRecord }>();
  readonly #apps = new Map<string, ApplicationRecord>();

  constructor(readonly file: AccountsFile) {
    for (const u of file.users) {
      this.#users.set(u.username.normalize('NFC'), u);
      for (const k of u.webServiceKeys) this.#byWebKey.set(k, u);
    }
    for (const a of file.admins) this.#admins.set(adminKey(a.instanceId, a.email), a);
    for (const g of file.userGroups) {
      this.#groups.set(g.instanceId, g);
      for (const d of g.devices) this.#devices.set(`${g.instanceId}\0${d.deviceToken}`, { group: g, device: d });
    }
    for (const app of file.applications) this.#apps.set(app.clientId, app);
  }

  static empty(): AccountDirectory {
    return new AccountDirectory({ users: [], admins: [], userGroups: [], applications: [] });
  }

  user(username: string): UserRecord | undefined {
    return this.#users.get(username.normalize('NFC'));
  }
  /** Finds a user by the lookup digest of a web-service key. */
  userByWebServiceKey(digest: string): UserRecord | undefined {
    return this.#byWebKey.get(digest);
  }
  admin(instanceId: string, email: string): AdminRecord | undefined {
    return this.#admins.get(adminKey(instanceId, email));
  }
  userGroup(instanceId: string): UserGroupRecord | undefined {
    return this.#groups.get(instanceId);
  }
  /** Finds a device by its group and the lookup digest of its device token. */
  device(instanceId: string, tokenDigest: string): { group: UserGroupRecord; device: DeviceRecord } | undefined {
    return this.#devices.get(`${instanceId}\0${tokenDigest}`);
  }
  application(clientId: string): ApplicationRecord | undefined {
    return this.#apps.get(clientId);
  }
}

function adminKey(instanceId: string, email: string): string {
  return `${instanceId}\0${email.toLowerCase()}`;
}
