/** Verifies the identity header trackgate forwards, against the JWKS its admin port publishes. */
import type { RecordingUpstream } from './recording-upstream.js';
import type { TestGate } from './trackgate.js';
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

/** The identity claims `up` gets for a request with `Authorization: Bearer <token>` through `g`, or trackgate's status when it refused. */
export async function bearerIdentity(g: TestGate, up: RecordingUpstream, token: string, path = '/vehicles'): Promise<Record<string, unknown> | number> {
  up.received.length = 0;
  const res = await fetch(`${g.url}${path}`, { headers: { authorization: `Bearer ${token}` } });
  await res.arrayBuffer();
  if (res.status !== 200) return res.status;
  return (await verifyAssertion(g.adminUrl, up.received[0]!.headers['x-identity-assertion'] as string)).payload;
}
