/** GPS REST v2 session tokens put in a gate's store directly, as its `/rest/v2/token` endpoint would. */
import { randomBytes } from 'node:crypto';
import { lookupDigest } from '../../src/accounts/digest-token.js';
import type { TokenRecord } from '../../src/store/types.js';
import { DEMO, type TestGate } from './trackgate.js';

/** A fresh session token for the demo user (valid for an hour unless `over` says otherwise); its clear value. */
export async function issueSessionToken(g: TestGate, over: Partial<TokenRecord> = {}): Promise<string> {
  const token = randomBytes(24).toString('base64url');
  const now = Date.now();
  await g.app.store.putToken({
    digest: lookupDigest(token), type: 'session', issuer: 'gps-rest-v2', subject: DEMO.user, kind: 'user',
    account: 'demo-account', issuedAt: now, expiresAt: now + 3_600_000, ...over,
  });
  return token;
}
