/**
 * Access + refresh token pairs with refresh-token rotation (OAuth 2.0 Security BCP §4.14):
 * - every refresh spends the presented refresh token at once and issues a new pair in the same family;
 * - presenting a spent refresh token again revokes the whole family (a stolen token was used) — except
 *   within a short grace window, where the same refresh (a tracker retrying after a lost response, or two
 *   threads racing) gets the very same new pair back instead of a logout.
 *
 * Only digests are stored. To hand back "the same pair" the new pair is stored encrypted (AES-256-GCM)
 * under a key derived from the spent refresh token's value, which only its holder knows.
 * A secret of the client's own that the family hands back on every refresh (`kept`: the telematics device
 * token, which the accounts file holds only as a digest) is stored the same way, sealed under each refresh
 * token's value in turn.
 * The race: both callers create a pair, only one wins the atomic spend (`rotateToken`); the loser revokes
 * its own pair and answers with the winner's.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes, randomUUID } from 'node:crypto';
import { lookupDigest } from '../accounts/digest-token.js';
import { TrackgateError } from '../errors.js';
import type { Store, TokenRecord } from '../store/types.js';
import { subjectOf, TokenService, type Subject } from './tokens.js';

export interface IssuedToken {
  value: string;
  /** Epoch milliseconds. */
  expiresAt: number;
}

export interface TokenPair {
  access: IssuedToken;
  refresh: IssuedToken;
  /** The refresh family (stable across rotations). */
  family: string;
  subject: Subject;
  /** The dialect that issued the family (a refresh answers in that dialect's shape). */
  issuer: string;
  data?: Record<string, unknown>;
  /** The family's kept client secret ({@link PairOptions.kept}), if it has one. */
  kept?: string;
}

export interface PairOptions {
  issuer: string;
  accessTtlSeconds: number;
  refreshTtlSeconds: number;
  /** Dialect-specific values kept with the pair (e.g. the fleet login's guid), echoed on refresh. */
  data?: Record<string, unknown>;
  /** Pre-made access token value (e.g. a JWT); a random opaque value otherwise. */
  accessValue?: (family: string, expiresAt: number) => string;
  /**
   * A secret of the client's that every refresh of the family hands back (the telematics device token): stored
   * only sealed under the refresh token's value, so the store alone cannot yield it.
   */
  kept?: string;
}

/** A refresh token as presented, with its digest and what the store holds for it (read once per refresh). */
export interface PresentedRefresh {
  readonly value: string;
  readonly digest: string;
  readonly record: TokenRecord | undefined;
}

export class RefreshRotation {
  constructor(
    private readonly tokens: TokenService,
    private readonly store: Store,
    private readonly graceSeconds: () => number,
    private readonly now: () => number,
  ) {}

  async issuePair(subject: Subject, opts: PairOptions, family: string = randomUUID()): Promise<TokenPair> {
    const accessExp = this.now() + opts.accessTtlSeconds * 1000;
    const access = await this.tokens.issue(
      { ...subject, type: 'access', issuer: opts.issuer, ttlSeconds: opts.accessTtlSeconds, family, ...(opts.data ? { data: opts.data } : {}) },
      opts.accessValue?.(family, accessExp),
    );
    const refreshValue = TokenService.newValue();
    const refresh = await this.tokens.issue({
      ...subject, type: 'refresh', issuer: opts.issuer, ttlSeconds: opts.refreshTtlSeconds, family,
      data: {
        ...opts.data, accessTtlSeconds: opts.accessTtlSeconds, refreshTtlSeconds: opts.refreshTtlSeconds,
        ...(opts.kept !== undefined ? { kept: seal(refreshValue, 'kept', opts.kept) } : {}),
      },
    }, refreshValue);
    return {
      access: { value: access.value, expiresAt: access.record.expiresAt },
      refresh: { value: refresh.value, expiresAt: refresh.record.expiresAt },
      family, subject, issuer: opts.issuer, ...(opts.data ? { data: opts.data } : {}),
      ...(opts.kept !== undefined ? { kept: opts.kept } : {}),
    };
  }

  /** Digests a presented refresh token and reads its record: a caller that checks it first rotates it without a second read. */
  async present(value: string): Promise<PresentedRefresh> {
    const digest = lookupDigest(value);
    return { value, digest, record: await this.store.getToken(digest) };
  }

  /**
   * Exchanges a refresh token for a new pair. Throws `TG_ERR_INVALID_CREDENTIALS` (reason invalid/expired)
   * for unknown, expired, revoked or reused tokens; `accessValue` builds a JWT access token if the dialect wants one.
   */
  async rotate(token: string | PresentedRefresh, accessValue?: PairOptions['accessValue']): Promise<TokenPair> {
    const { value: refreshValue, digest, record } = typeof token === 'string' ? await this.present(token) : token;
    let rec = record;
    if (rec === undefined || rec.type !== 'refresh') throw invalidGrant('unknown refresh token');
    if (rec.revokedAt === undefined) {
      if (rec.expiresAt <= this.now()) throw invalidGrant('refresh token expired', 'expired');
      const kept = typeof rec.data?.kept === 'string' ? unseal(refreshValue, 'kept', rec.data.kept) : undefined;
      const pair = await this.issuePair(subjectOf(rec), {
        issuer: rec.issuer,
        accessTtlSeconds: Number(rec.data?.accessTtlSeconds ?? 3600),
        refreshTtlSeconds: Number(rec.data?.refreshTtlSeconds ?? 86400),
        ...(dialectData(rec) ? { data: dialectData(rec) } : {}),
        ...(accessValue ? { accessValue } : {}),
        ...(kept !== undefined ? { kept } : {}),
      }, rec.family ?? randomUUID());
      if (await this.store.rotateToken(digest, this.now(), seal(refreshValue, 'pair', JSON.stringify(pair)))) return pair;
      // Lost the race: withdraw our pair, answer with the winner's (below).
      await this.store.revokeTokens([lookupDigest(pair.access.value), lookupDigest(pair.refresh.value)], this.now());
      rec = (await this.store.getToken(digest))!;
    }
    if (rec.rotated !== undefined && rec.revokedAt !== undefined && this.now() - rec.revokedAt <= this.graceSeconds() * 1000) {
      const pair = JSON.parse(unseal(refreshValue, 'pair', rec.rotated)) as TokenPair;
      const live = await this.store.getToken(lookupDigest(pair.refresh.value));
      if (live !== undefined && live.revokedAt === undefined) return pair;
    }
    // A spent token presented again after the grace window: someone else may hold it. Kill the family.
    if (rec.family !== undefined) await this.store.revokeFamily(rec.family, this.now());
    throw invalidGrant(rec.rotated !== undefined ? 'refresh token reuse detected: family revoked' : 'refresh token revoked');
  }
}

function dialectData(rec: TokenRecord): Record<string, unknown> | undefined {
  if (rec.data === undefined) return undefined;
  const { accessTtlSeconds: _a, refreshTtlSeconds: _r, kept: _k, ...rest } = rec.data;
  return Object.keys(rest).length > 0 ? rest : undefined;
}

function invalidGrant(detail: string, reason: 'invalid' | 'expired' = 'invalid'): TrackgateError {
  return new TrackgateError('TG_ERR_INVALID_CREDENTIALS', 'invalid refresh token', { reason, detail });
}

/** What is sealed under a refresh token's value: the pair it was spent for, or the family's kept secret. */
type Sealed = 'pair' | 'kept';

function keyFrom(refreshValue: string, what: Sealed): Buffer {
  return Buffer.from(hkdfSync('sha256', refreshValue, 'trackgate/refresh-grace/v1', what, 32));
}

function seal(refreshValue: string, what: Sealed, plaintext: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', keyFrom(refreshValue, what), iv);
  const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), ct]).toString('base64url');
}

function unseal(refreshValue: string, what: Sealed, sealed: string): string {
  const buf = Buffer.from(sealed, 'base64url');
  const decipher = createDecipheriv('aes-256-gcm', keyFrom(refreshValue, what), buf.subarray(0, 12));
  decipher.setAuthTag(buf.subarray(12, 28));
  return Buffer.concat([decipher.update(buf.subarray(28)), decipher.final()]).toString('utf8');
}
