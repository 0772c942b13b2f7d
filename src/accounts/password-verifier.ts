/**
 * The one way a password-like secret looked up by name is checked on the request path, so that a failure
 * says nothing about which names exist or which hash a name has (no user enumeration by timing):
 *
 * - every failed check performs the same work: one key-derivation evaluation. A user's own scrypt, bcrypt or
 *   argon2id hash is that evaluation; an unknown name, a user without a password and a failed cheap legacy
 *   hash (apr1, {SHA}) evaluate the reference KDF instead (scrypt, `passwords.referenceScryptLn`);
 * - and then ends no earlier than the failure floor after it began: the floor is the slowest evaluation this
 *   process has measured lately (every one is timed, and each accounts file's hash profiles are timed when
 *   it is loaded), times a margin, within `passwords.failureFloorMs` and `passwords.maxFailureFloorMs`. The
 *   wait is a timer, not CPU: a flood of failures costs no more hashing than before.
 *
 * A successful check is not padded: its time tells only someone who already sent the right password
 * anything, and legitimate logins with cheap legacy hashes stay fast.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { AccountDirectory } from './directory.js';
import { HashSlots } from './hash-slots.js';
import { hashFormat, hashPassword, verifyPassword } from './password.js';

export interface PasswordTimingOptions {
  /** Lower bound of the failure floor, ms (0: the measured floor alone). */
  failureFloorMs: number;
  /** Upper bound of the failure floor, ms. */
  maxFailureFloorMs: number;
  /** log2 N of the reference scrypt evaluation. */
  referenceScryptLn: number;
  /** Hash evaluations at once in this process; more wait their turn. */
  maxConcurrentHashes: number;
}

/** One secret to check: `hash` undefined when the name is unknown or has no such secret. */
export interface SecretCheck {
  readonly hash: string | undefined;
  readonly secret: string;
}

/** What a check did, for metrics and the structural tests: `own` or `reference` KDF evaluations, and the padding. */
export type PasswordCheckEvent =
  | { type: 'hash'; work: 'own' | 'reference' | 'cheap'; seconds: number }
  | { type: 'failure'; paddedSeconds: number };

export interface PasswordVerifierDeps {
  options: () => PasswordTimingOptions;
  onEvent?: (e: PasswordCheckEvent) => void;
  /** Monotonic milliseconds and a sleep; injectable so tests can see the padding without timing anything. */
  clock?: () => number;
  wait?: (ms: number) => Promise<unknown>;
}

/** Formats whose own evaluation is a slow KDF; the others are followed by the reference when they fail. */
const SLOW_FORMATS = new Set(['scrypt', 'bcrypt', 'argon2id']);
/** The floor exceeds the slowest recent evaluation by this factor, so ordinary jitter stays under it. */
const MARGIN = 1.25;
/**
 * How fast a slow evaluation's influence on the floor fades: slowly, so under bursty load the floor stays near
 * the slowest recent evaluation instead of dropping between bursts (when the next burst's evaluations would outlast it).
 */
const HALF_LIFE_MS = 600_000;
const REFERENCE_PASSWORD = 'trackgate-timing-reference';

export class PasswordVerifier {
  readonly #clock: () => number;
  readonly #wait: (ms: number) => Promise<unknown>;
  readonly #slots: HashSlots;
  /** Reference hashes by scrypt cost, made on first use. */
  readonly #references = new Map<number, Promise<string>>();
  /** The slowest evaluation timed when the current accounts file was calibrated (does not fade). */
  #calibrated = 0;
  /** The slowest recent evaluation, fading with HALF_LIFE_MS. */
  #recent = 0;
  #recentAt = 0;

  constructor(private readonly deps: PasswordVerifierDeps) {
    this.#clock = deps.clock ?? (() => performance.now());
    this.#wait = deps.wait ?? sleep;
    this.#slots = new HashSlots(() => deps.options().maxConcurrentHashes);
  }

  /** A time stamp to pass to {@link failed} by a check that does its own comparison (Digest). */
  start(): number {
    return this.#clock();
  }

  /**
   * Checks each secret in turn; when any is wrong, returns only after the floor (per check) has passed since
   * `started`. A caller that fails the attempt for another reason after every secret matched (an unknown
   * device with the right group key) must call {@link failed} itself: the time must not tell that the secrets were right.
   */
  async verify(checks: readonly SecretCheck[], started = this.#clock(), onFailure?: () => Promise<unknown>): Promise<boolean[]> {
    const results: boolean[] = [];
    for (const c of checks) results.push(await this.#one(c));
    if (results.some((ok) => !ok)) {
      // Recorded before the padding (the throttle's fail): guesses arriving during the wait are already refused.
      await onFailure?.();
      await this.failed(started, checks.length);
    }
    return results;
  }

  /** One secret; see {@link verify}. */
  async verifyOne(hash: string | undefined, secret: string, started = this.#clock(), onFailure?: () => Promise<unknown>): Promise<boolean> {
    return (await this.verify([{ hash, secret }], started, onFailure))[0]!;
  }

  /** Ends a failed check `checks` floors after `started`. */
  async failed(started: number, checks = 1): Promise<void> {
    const remaining = started + checks * this.floorMs() - this.#clock();
    this.deps.onEvent?.({ type: 'failure', paddedSeconds: Math.max(0, remaining) / 1000 });
    if (remaining > 0) await this.#wait(remaining);
  }

  /** The current failure floor, ms. */
  floorMs(): number {
    const o = this.deps.options();
    const measured = MARGIN * Math.max(this.#calibrated, this.#fadedRecent());
    return Math.min(o.maxFailureFloorMs, Math.max(o.failureFloorMs, measured));
  }

  /**
   * Times one wrong-password evaluation of each distinct hash profile of `dir` (and the reference), so the
   * floor covers the most expensive hash before anyone probes it. Run after each accounts load; never rejects.
   */
  async calibrate(dir: AccountDirectory): Promise<void> {
    const profiles = new Map<string, string>();
    const add = (hash: string | undefined): void => {
      if (hash === undefined || !SLOW_FORMATS.has(hashFormat(hash) ?? '')) return;
      profiles.set(profileOf(hash), hash);
    };
    const f = dir.file;
    for (const u of f.users) add(u.password);
    for (const a of f.admins) { add(a.password); add(a.instanceKey); }
    for (const g of f.userGroups) add(g.instanceKey);
    for (const a of f.applications) add(a.clientSecret);
    let slowest = 0;
    // Each profile on its own: one that cannot be evaluated here (argon2 binding missing) fails every check
    // with the reference KDF instead, and must not stop the timing of the others.
    const time = async (fn: () => Promise<unknown>): Promise<void> => {
      try {
        slowest = Math.max(slowest, await this.#timed(fn));
      } catch {
        // measured as the reference below
      }
    };
    await this.#referenceHash().catch(() => undefined); // made once, outside the timing
    await time(() => this.#reference(REFERENCE_PASSWORD));
    for (const hash of profiles.values()) await time(() => verifyPassword(hash, REFERENCE_PASSWORD));
    this.#calibrated = slowest;
  }

  async #one(c: SecretCheck): Promise<boolean> {
    const format = c.hash === undefined ? undefined : hashFormat(c.hash);
    if (c.hash !== undefined && format !== undefined && SLOW_FORMATS.has(format)) {
      const t0 = this.#clock();
      try {
        const ok = await this.#slots.run(() => verifyPassword(c.hash!, c.secret));
        this.#event('own', t0);
        return ok;
      } catch {
        // A hash this process cannot evaluate (argon2 binding missing): a failed check like any other, with
        // the reference KDF's work and the padding, never an error out of verify.
      }
    }
    if (c.hash !== undefined && (format === undefined || !SLOW_FORMATS.has(format))) {
      const t0 = this.#clock();
      const ok = await verifyPassword(c.hash, c.secret);
      this.#event('cheap', t0);
      if (ok) return true;
    }
    const t0 = this.#clock();
    await this.#slots.run(() => this.#reference(c.secret));
    this.#event('reference', t0);
    return false;
  }

  #event(work: 'own' | 'reference' | 'cheap', t0: number): void {
    const ms = this.#clock() - t0;
    if (work !== 'cheap') this.#observe(ms);
    this.deps.onEvent?.({ type: 'hash', work, seconds: ms / 1000 });
  }

  async #timed(fn: () => Promise<unknown>): Promise<number> {
    const t0 = this.#clock();
    await fn();
    const ms = this.#clock() - t0;
    this.#observe(ms);
    return ms;
  }

  #observe(ms: number): void {
    const now = this.#clock();
    this.#recent = Math.max(ms, this.#fadedRecent(now));
    this.#recentAt = now;
  }

  #fadedRecent(now = this.#clock()): number {
    return this.#recent * 2 ** (-(now - this.#recentAt) / HALF_LIFE_MS);
  }

  async #reference(secret: string): Promise<void> {
    await verifyPassword(await this.#referenceHash(), secret);
  }

  #referenceHash(): Promise<string> {
    const ln = this.deps.options().referenceScryptLn;
    let ref = this.#references.get(ln);
    if (ref === undefined) {
      ref = hashPassword(REFERENCE_PASSWORD, { ln, r: 8, p: 1 });
      this.#references.set(ln, ref);
    }
    return ref;
  }
}

/** The parameters that decide a hash's cost: everything before its salt. */
function profileOf(hash: string): string {
  if (hash.startsWith('$2')) return hash.slice(0, 7);
  return hash.split('$').slice(0, -2).join('$');
}
