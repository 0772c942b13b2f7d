/**
 * A token pair with placeholder values, for rendering a dialect's success shape into the OpenAPI document
 * (src/admin/openapi.ts): the shape comes from the dialect's own renderer, so the document cannot drift from it.
 */
import type { TokenPair } from './refresh.js';

/** Placeholders shaped like the real values (a JWT has three parts), valid for an hour from `now`. */
export function samplePair(now: number): TokenPair {
  return {
    access: { value: 'header.payload.signature', expiresAt: now + 3_600_000 },
    refresh: { value: 'refresh-token', expiresAt: now + 86_400_000 },
    family: 'family', subject: { subject: 'user', kind: 'user' }, issuer: 'sample',
  };
}
