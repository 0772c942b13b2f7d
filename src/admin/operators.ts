/**
 * Operator login for the admin port's `/admin/` paths: HTTP Basic against an htpasswd file of operators
 * (`admin.operatorsFile`; bcrypt, scrypt, argon2id … as `trackgate hash-password` or `htpasswd -B` write them).
 * Basic, because a browser opening the operator page asks for it by itself and sends it with the page's own
 * requests; the secrets are checked by the password verifier (equal work and time for every failure, an unknown
 * name included) under the brute-force throttle, as every other password check.
 *
 * A verified login is taken again for {@link VERIFIED_MS} without a hash check (the page's own requests).
 * The file is read again when its modification time or size changes (checked at each `/admin/` request, which
 * are few), so adding an operator needs no reload, in a single process and in the cluster primary alike.
 * No file configured: the paths answer 403, naming the key to set.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import type { PasswordVerifier } from '../accounts/password-verifier.js';
import { parseHtpasswd } from '../accounts/htpasswd.js';
import { decodeBasic } from '../authn/forms/basic.js';
import { TrackgateError } from '../errors.js';
import type { Throttle, ThrottleKey } from '../store/throttle.js';

export const OPERATOR_REALM = 'trackgate operator';
export const OPERATOR_CHALLENGE = `Basic realm="${OPERATOR_REALM}", charset="UTF-8"`;

export interface OperatorGateDeps {
  /** The operators file (absolute), or undefined when none is configured. */
  file(): string | undefined;
  passwords: Pick<PasswordVerifier, 'verifyOne'>;
  throttle?: Throttle;
  /** Epoch milliseconds (tests inject a clock). */
  now?(): number;
}

/** How long a verified login is taken again without a hash check. */
export const VERIFIED_MS = 60_000;
/** Most verified logins remembered (operators are few; past it the memory is dropped whole). */
const MAX_VERIFIED = 1000;

export class OperatorGate {
  #loaded: { file: string; stamp: string; hashes: Map<string, string> } | undefined;
  /**
   * Logins verified lately, by a keyed digest of the Authorization value (never the value): the operator page
   * sends its login with each of its requests every few seconds, and one slow hash each would compete with the
   * proxy's password checks for `passwords.maxConcurrentHashes`. Emptied whenever the file changes.
   */
  readonly #verified = new Map<string, { name: string; until: number }>();
  readonly #key = randomBytes(32);

  constructor(private readonly deps: OperatorGateDeps) {}

  /** Resolves with the operator's name, or rejects with a TrackgateError (401 with the challenge, 403, 429, 503). */
  async check(req: Pick<IncomingMessage, 'headers' | 'socket'>): Promise<string> {
    const hashes = this.#hashes();
    const header = req.headers.authorization;
    const digest = header === undefined ? undefined : createHmac('sha256', this.#key).update(header).digest('base64url');
    const now = this.deps.now?.() ?? Date.now();
    const seen = digest === undefined ? undefined : this.#verified.get(digest);
    if (seen !== undefined && seen.until > now) return seen.name;
    const cred = basicCredentials(header);
    if (cred === undefined) throw unauthorized('operator login required');
    const keys: ThrottleKey[] = [{ scope: 'user', value: `operator\0${cred.name}` }, { scope: 'ip', value: req.socket.remoteAddress ?? '' }];
    await this.deps.throttle?.check(keys);
    const ok = await this.deps.passwords.verifyOne(hashes.get(cred.name), cred.secret);
    if (!ok) {
      await this.deps.throttle?.fail(keys);
      throw unauthorized('invalid operator credentials', hashes.has(cred.name) ? 'wrong operator password' : 'unknown operator', 'TG_ERR_INVALID_CREDENTIALS');
    }
    await this.deps.throttle?.succeed(keys);
    if (this.#verified.size >= MAX_VERIFIED) this.#verified.clear();
    this.#verified.set(digest!, { name: cred.name, until: now + VERIFIED_MS });
    return cred.name;
  }

  #hashes(): Map<string, string> {
    const file = this.deps.file();
    if (file === undefined) {
      throw new TrackgateError('TG_ERR_FORBIDDEN', 'no operators configured: set admin.operatorsFile', { reason: 'forbidden', detail: 'admin.operatorsFile not set' });
    }
    let stamp: string;
    try {
      const st = statSync(file);
      stamp = `${st.mtimeMs}:${st.size}`;
    } catch (err) {
      throw new TrackgateError('TG_ERR_SOURCE_UNAVAILABLE', 'operator list unavailable', { reason: 'unavailable', detail: `admin.operatorsFile: ${(err as Error).message}` });
    }
    if (this.#loaded?.file !== file || this.#loaded.stamp !== stamp) {
      const { entries } = parseHtpasswd(readFileSync(file));
      this.#loaded = { file, stamp, hashes: new Map(entries.map((e) => [e.username, e.password])) };
      // A removed operator or a changed password stops working at once.
      this.#verified.clear();
    }
    return this.#loaded.hashes;
  }
}

function unauthorized(message: string, detail = 'no or unreadable Basic credentials', code: 'TG_ERR_NO_CREDENTIALS' | 'TG_ERR_INVALID_CREDENTIALS' = 'TG_ERR_NO_CREDENTIALS'): TrackgateError {
  return new TrackgateError(code, message, { reason: code === 'TG_ERR_NO_CREDENTIALS' ? 'no_credentials' : 'invalid', detail, headers: { 'www-authenticate': OPERATOR_CHALLENGE } });
}

/** `Basic base64(name:secret)`, decoded by the Basic form's own decoder (RFC 7617, UTF-8), or undefined. */
function basicCredentials(header: string | undefined): { name: string; secret: string } | undefined {
  if (header === undefined) return undefined;
  const m = /^Basic +(\S+) *$/i.exec(header);
  if (m === null) return undefined;
  try {
    const { username, password } = decodeBasic(m[1]!);
    return username === '' ? undefined : { name: username, secret: password };
  } catch {
    return undefined;
  }
}
