/**
 * An immutable, indexed view of one accounts file. A reload builds a new directory and swaps it in whole,
 * so a request never sees half of an old file and half of a new one.
 */
import { createHash } from 'node:crypto';
import type {
  AccountsFile, AdminRecord, ApplicationRecord, DeviceRecord, UserGroupRecord, UserRecord,
} from './schema.js';

/** Hash functions of HTTP Digest `userhash` lookups, with their node:crypto names. */
const USERHASH_FUNCTIONS = { 'MD5': 'md5', 'SHA-256': 'sha256', 'SHA-512-256': 'sha512-256' } as const;

export class AccountDirectory {
  readonly #users = new Map<string, UserRecord>();
  /** By subject (`id`, else the username): what an issued token names. The first user of a subject wins. */
  readonly #bySubject = new Map<string, UserRecord>();
  readonly #byWebKey = new Map<string, UserRecord>();
  readonly #admins = new Map<string, AdminRecord>();
  readonly #groups = new Map<string, UserGroupRecord>();
  readonly #devices = new Map<string, { group: UserGroupRecord; device: DeviceRecord }>();
  readonly #apps = new Map<string, ApplicationRecord>();
  /** Digest userhash indexes, built on first use per hash function (most files never need them). */
  readonly #byUserhash = new Map<keyof typeof USERHASH_FUNCTIONS, Map<string, UserRecord>>();

  constructor(readonly file: AccountsFile) {
    for (const u of file.users) {
      this.#users.set(u.username.normalize('NFC'), u);
      const subject = u.id ?? u.username;
      if (!this.#bySubject.has(subject)) this.#bySubject.set(subject, u);
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
  /** The user an issued token's `subject` names (its `id`, or its username when it has none). */
  userBySubject(subject: string): UserRecord | undefined {
    return this.#bySubject.get(subject);
  }
  /**
   * Finds a user with Digest material by an RFC 7616 `userhash` username: hex H(username ":" realm), the
   * realm being the one of the user's Digest material.
   */
  userByDigestUserhash(hash: keyof typeof USERHASH_FUNCTIONS, userhash: string): UserRecord | undefined {
    let index = this.#byUserhash.get(hash);
    if (index === undefined) {
      index = new Map();
      for (const u of this.file.users) {
        if (u.digest === undefined) continue;
        const h = createHash(USERHASH_FUNCTIONS[hash]).update(`${u.username.normalize('NFC')}:${u.digest.realm}`, 'utf8').digest('hex');
        index.set(h, u);
      }
      this.#byUserhash.set(hash, index);
    }
    return index.get(userhash.toLowerCase());
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
