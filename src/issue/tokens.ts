/**
 * Issued tokens: 256 random bits, base64url, kept in the store only as their lookup digest.
 */
import { randomBytes } from 'node:crypto';
import { lookupDigest } from '../accounts/digest-token.js';
import type { Store, TokenRecord } from '../store/types.js';

export interface Subject {
  subject: string;
  kind: string;
  account?: string;
  instance?: string;
}

/** Who a stored token was issued to. */
export function subjectOf(rec: TokenRecord): Subject {
  return {
    subject: rec.subject, kind: rec.kind,
    ...(rec.account !== undefined ? { account: rec.account } : {}),
    ...(rec.instance !== undefined ? { instance: rec.instance } : {}),
  };
}

export interface IssueOptions extends Subject {
  type: 'session' | 'access' | 'refresh';
  /** The dialect id. */
  issuer: string;
  ttlSeconds: number;
  family?: string;
  data?: Record<string, unknown>;
}

export class TokenService {
  constructor(private readonly store: Store, private readonly now: () => number) {}

  /** A fresh secret token value (≥ 128 bits of entropy; 256 here). */
  static newValue(): string {
    return randomBytes(32).toString('base64url');
  }

  /** Creates and stores a token; the value is returned once and never stored. */
  async issue(opts: IssueOptions, value = TokenService.newValue()): Promise<{ value: string; record: TokenRecord }> {
    const issuedAt = this.now();
    const record: TokenRecord = {
      digest: lookupDigest(value),
      type: opts.type,
      issuer: opts.issuer,
      subject: opts.subject,
      kind: opts.kind,
      issuedAt,
      expiresAt: issuedAt + opts.ttlSeconds * 1000,
      ...(opts.account !== undefined ? { account: opts.account } : {}),
      ...(opts.instance !== undefined ? { instance: opts.instance } : {}),
      ...(opts.family !== undefined ? { family: opts.family } : {}),
      ...(opts.data !== undefined ? { data: opts.data } : {}),
    };
    await this.store.putToken(record);
    return { value, record };
  }

  async lookup(value: string): Promise<TokenRecord | undefined> {
    return this.store.getToken(lookupDigest(value));
  }

  /** Whether a record is usable now. */
  live(rec: TokenRecord | undefined): rec is TokenRecord {
    return rec !== undefined && rec.revokedAt === undefined && rec.expiresAt > this.now();
  }
}
