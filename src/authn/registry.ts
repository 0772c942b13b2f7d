/**
 * Every credential form trackgate knows, one module per id of `ids.ts` (whose order is the order their
 * challenges are announced). To add a form: write `forms/<id>.ts` exporting an AuthenticatorModule, add its
 * id to `ids.ts` and one line here.
 */
import type { z } from 'zod';
import { basic } from './forms/basic.js';
import { digest } from './forms/digest/index.js';
import { sessionToken } from './forms/session-token.js';
import { oauth } from './forms/oauth.js';
import { instance } from './forms/instance.js';
import { bearer } from './forms/bearer.js';
import { remote } from './forms/remote.js';
import { AUTHN_IDS, type AuthnId } from './ids.js';
import type { AuthenticatorModule } from './module.js';
import type { Authenticator, AuthnDeps, Carriers } from './types.js';

const BY_ID = {
  basic,
  digest,
  session_token: sessionToken,
  oauth,
  instance,
  bearer,
  remote,
} as const satisfies { readonly [K in AuthnId]: AuthenticatorModule<K, any> };

export const AUTHENTICATORS = AUTHN_IDS.map((id) => BY_ID[id]);

/** Each form's options (its `authn.<id>` block, parsed), by id. */
export type AuthnOptions = { readonly [K in AuthnId]: z.output<(typeof BY_ID)[K]['options']> };

/** Every form seen through its own id, so that the functions below need no cast (TypeScript's correlated unions). */
const MODULES: {
  readonly [K in AuthnId]: { carriers(options: AuthnOptions[K]): Carriers; create(options: AuthnOptions[K], deps: AuthnDeps): Authenticator };
} = BY_ID;

/** Where form `id`'s secret travels with these options (enabled or not: nothing is built). */
export function carriersOf<K extends AuthnId>(id: K, options: AuthnOptions[K]): Carriers {
  return MODULES[id].carriers(options);
}

/** Builds form `id` from its config block. */
export function createForm<K extends AuthnId>(id: K, options: AuthnOptions[K], deps: AuthnDeps): Authenticator {
  return MODULES[id].create(options, deps);
}
