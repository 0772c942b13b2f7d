/** Verifies the identity header trackgate forwards, against the JWKS its admin port publishes. */
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet, type JWTPayload, type ProtectedHeaderParameters } from 'jose';

/** Verifies an identity header against the gate's published JWKS; returns claims and protected header. */
export async function verifyAssertion(
  adminUrl: string, token: string, opts: { issuer?: string; audience?: string } = {},
): Promise<{ payload: JWTPayload & Record<string, unknown>; protectedHeader: ProtectedHeaderParameters }> {
  const jwks = createLocalJWKSet(await (await fetch(`${adminUrl}/.well-known/jwks.json`)).json() as JSONWebKeySet);
  const { payload, protectedHeader } = await jwtVerify(token, jwks, {
    issuer: opts.issuer ?? 'trackgate-test', audience: opts.audience ?? 'upstream-test', algorithms: ['EdDSA', 'ES256'],
  });
  return { payload: payload as JWTPayload & Record<string, unknown>, protectedHeader };
}

