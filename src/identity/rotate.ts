/**
 * The steps of a signing-key rotation on a private JWK set (`trackgate keys rotate`), each refused until it
 * is safe:
 *
 * 1. `add`: a new key joins the set, published but not signing, stamped `published_at`;
 * 2. `promote`: once it has been published `identity.minPublishSeconds` (upstreams' JWKS caches have it), it
 *    becomes the first key (the one that signs when `identity.activeKid` is unset), stamped `activated_at`;
 * 3. `retire`: once every header the old keys signed has expired (`identity.ttlSeconds` + 60 s of clock skew
 *    after the promotion), they leave the set.
 *
 * Pure functions over the parsed file; the CLI (src/commands/keys-cli.ts) reads, validates and writes it.
 */
import { generateJwk, KEY_META, metaTime, type SigningAlg } from './keys.js';
import { RETAIN_SKEW_SECONDS } from './signing-keys.js';

export type Jwk = Record<string, unknown> & { kid: string };
export interface JwkSet { keys: Jwk[] }

export interface RotationSettings {
  minPublishSeconds: number;
  ttlSeconds: number;
  /** `identity.activeKid` from the config, when set (it wins over the order of the file). */
  activeKid?: string | undefined;
}

export interface StepResult {
  jwks: JwkSet;
  /** What was done and what comes next, one line each. */
  lines: string[];
}

/** A step that is not safe yet (or cannot apply); the message says why and from when it is allowed. */
export class RotationRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RotationRefused';
  }
}

const iso = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
/** A time a step is allowed from, rounded up to the second it is printed in: following the message never fails. */
const isoFrom = (ms: number): string => iso(Math.ceil(ms / 1000) * 1000);
const published = (k: Jwk): number | undefined => metaTime(k, KEY_META.publishedAt, 'keys file');
const activated = (k: Jwk): number | undefined => metaTime(k, KEY_META.activatedAt, 'keys file');

function activeOf(set: JwkSet, s: RotationSettings): Jwk {
  const k = s.activeKid === undefined ? set.keys[0] : set.keys.find((j) => j.kid === s.activeKid);
  if (k === undefined) throw new RotationRefused(`identity.activeKid "${s.activeKid}" is not in the keys file`);
  return k;
}

/** When `key` may be promoted: published long enough (a key without `published_at` cannot be judged). */
function promoteAllowedAt(key: Jwk, s: RotationSettings): number | undefined {
  const p = published(key);
  return p === undefined ? undefined : p + s.minPublishSeconds * 1000;
}

/** When the keys other than the active one may leave the set: the headers they signed have expired. */
function retireAllowedAt(active: Jwk, s: RotationSettings): number | undefined {
  const a = activated(active);
  return a === undefined ? undefined : a + (s.ttlSeconds + RETAIN_SKEW_SECONDS) * 1000;
}

/** The newest key added after the signing key took over (never promoted itself): the one to promote. */
function waiting(set: JwkSet, active: Jwk): Jwk | undefined {
  const since = activated(active) ?? Number.NEGATIVE_INFINITY;
  return set.keys.filter((k) => k !== active && activated(k) === undefined && (published(k) ?? Number.NEGATIVE_INFINITY) >= since).at(-1);
}

export function addKey(set: JwkSet, alg: SigningAlg, now: number, s: RotationSettings): StepResult {
  const key = generateJwk(alg, now) as Jwk;
  const at = now + s.minPublishSeconds * 1000;
  return {
    jwks: { keys: [...set.keys, key] },
    lines: [
      `added key ${key.kid} (${alg}): published from the next reload, not signing; published_at ${iso(now)}`,
      `next: deploy the keys file now; promote allowed from ${isoFrom(at)} (identity.minPublishSeconds ${s.minPublishSeconds}): trackgate keys rotate promote ${key.kid}`,
    ],
  };
}

export function promoteKey(set: JwkSet, kid: string | undefined, now: number, s: RotationSettings, force: boolean): StepResult {
  const current = activeOf(set, s);
  const key = kid === undefined ? waiting(set, current) : set.keys.find((k) => k.kid === kid);
  if (key === undefined) throw new RotationRefused(kid === undefined ? 'no key waits for promotion (add one first: trackgate keys rotate add)' : `no key "${kid}" in the keys file`);
  if (key === current) throw new RotationRefused(`key ${key.kid} already signs`);
  const at = promoteAllowedAt(key, s);
  if (!force) {
    if (at === undefined) throw new RotationRefused(`key ${key.kid} has no published_at, so when upstreams got it is unknown; add keys with \`trackgate keys rotate add\` (or pass --force)`);
    if (now < at) {
      throw new RotationRefused(`key ${key.kid} was published at ${iso(published(key)!)} (${Math.floor((now - published(key)!) / 1000)} s ago); upstreams may not have fetched it yet. Promote allowed from ${isoFrom(at)} (identity.minPublishSeconds ${s.minPublishSeconds})`);
    }
  }
  const promoted: Jwk = { ...key, [KEY_META.activatedAt]: iso(now) };
  const lines = [`promoted key ${key.kid}: it signs from the next reload; ${current.kid} stays published`];
  if (s.activeKid !== undefined) lines.push(`warning: identity.activeKid (${s.activeKid}) is set in the config and wins over the file's order: set it to ${key.kid} in the same deployment`);
  lines.push(`next: deploy the keys file now; retire allowed from ${isoFrom(now + (s.ttlSeconds + RETAIN_SKEW_SECONDS) * 1000)} (identity.ttlSeconds ${s.ttlSeconds} + ${RETAIN_SKEW_SECONDS} s): trackgate keys rotate retire`);
  return { jwks: { keys: [promoted, ...set.keys.filter((k) => k !== key)] }, lines };
}

export function retireKeys(set: JwkSet, kids: readonly string[], now: number, s: RotationSettings, force: boolean): StepResult {
  const active = activeOf(set, s);
  const targets = kids.length === 0 ? set.keys.filter((k) => k !== active) : kids.map((kid) => {
    const k = set.keys.find((j) => j.kid === kid);
    if (k === undefined) throw new RotationRefused(`no key "${kid}" in the keys file`);
    return k;
  });
  if (targets.includes(active)) throw new RotationRefused(`key ${active.kid} signs; promote another key first`);
  if (targets.length === 0) throw new RotationRefused('no key to retire: only the signing key is in the file');
  const at = retireAllowedAt(active, s);
  // Like promote without published_at: with no activated_at, headers the others signed may still be valid.
  if (!force && at === undefined) {
    throw new RotationRefused(`key ${active.kid} has no activated_at: cannot tell when the old key stopped signing, so headers signed by ${targets.map((k) => k.kid).join(', ')} may still be valid; wait identity.ttlSeconds + ${RETAIN_SKEW_SECONDS} s after the switch (or pass --force)`);
  }
  if (!force && at !== undefined && now < at) {
    throw new RotationRefused(`key ${active.kid} was promoted at ${iso(activated(active)!)}; headers signed before by ${targets.map((k) => k.kid).join(', ')} may still be valid. Retire allowed from ${isoFrom(at)} (identity.ttlSeconds ${s.ttlSeconds} + ${RETAIN_SKEW_SECONDS} s)`);
  }
  return {
    jwks: { keys: set.keys.filter((k) => !targets.includes(k)) },
    lines: [
      `retired ${targets.map((k) => k.kid).join(', ')}: no longer published from the next reload; ${active.kid} signs`,
      'next: deploy the keys file; the rotation is complete',
    ],
  };
}

/** One line per key (role and stamps), then the next allowed step. */
export function rotationStatus(set: JwkSet, now: number, s: RotationSettings): string[] {
  const active = activeOf(set, s);
  const lines = set.keys.map((k) => {
    const p = published(k);
    const a = activated(k);
    return `${k.kid}  ${k === active ? 'signing' : 'published'}${p === undefined ? '' : `  published_at ${iso(p)}`}${a === undefined ? '' : `  activated_at ${iso(a)}`}`;
  });
  const newest = waiting(set, active);
  if (newest !== undefined) {
    const at = promoteAllowedAt(newest, s);
    lines.push(at === undefined ? `next: promote ${newest.kid} (no published_at: cannot tell when it is safe)`
      : `next: promote ${newest.kid} ${now < at ? `allowed from ${isoFrom(at)}` : 'allowed now'}`);
  } else if (set.keys.length > 1) {
    const at = retireAllowedAt(active, s);
    const others = set.keys.filter((k) => k !== active).map((k) => k.kid).join(', ');
    lines.push(at === undefined ? `next: retire ${others} refused without --force (no activated_at on ${active.kid}: cannot tell when the old key stopped signing)`
      : `next: retire ${others} ${now >= at ? 'allowed now' : `allowed from ${isoFrom(at)}`}`);
  } else {
    lines.push('next: add a key to start a rotation (trackgate keys rotate add)');
  }
  return lines;
}
