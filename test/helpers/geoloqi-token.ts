/** A Geoloqi-looking access token (`56f-e0993…`) put straight into a gate's store: user `PAE` unless overridden. */
import { randomBytes } from 'node:crypto';
import { lookupDigest } from '../../src/accounts/digest-token.js';
import type { TokenRecord } from '../../src/store/types.js';
import type { TestGate } from './trackgate.js';

export async function issueGeoloqiToken(g: TestGate, over: Partial<TokenRecord> = {}): Promise<string> {
  const token = `56f-${randomBytes(20).toString('hex')}`;
  const now = Date.now();
  await g.app.store.putToken({
    digest: lookupDigest(token), type: 'access', issuer: 'geoloqi', subject: 'PAE', kind: 'user',
    account: 'demo-account', issuedAt: now, expiresAt: now + 3_600_000, ...over,
  });
  return token;
}
