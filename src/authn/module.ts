/**
 * How a credential form plugs in: a module with an id, the zod schema of its config block (under
 * `authn.<id>` in the config file), its carriers and a factory. The registry lists the modules; the config schema and the
 * pipeline are built from that list, so adding a form touches one file and one registry line.
 */
import type { z } from 'zod';
import type { AuthnId } from './ids.js';
import type { Authenticator, AuthnDeps, Carriers } from './types.js';

export interface AuthenticatorModule<Id extends AuthnId = AuthnId, S extends z.ZodType<{ enabled: boolean }> = z.ZodType<{ enabled: boolean }>> {
  readonly id: Id;
  /** Config block schema; must carry `enabled` and defaults for every key. */
  readonly options: S;
  /**
   * Where its secret travels, from its options alone: stripped before forwarding whether the form is enabled
   * or not (a disabled form's secret must not reach the upstream either), without building a disabled form.
   */
  carriers(options: z.output<S>): Carriers;
  create(options: z.output<S>, deps: AuthnDeps): Authenticator;
}

/** Identity helper so each module's options type is inferred from its schema. */
export function defineAuthenticator<const Id extends AuthnId, S extends z.ZodType<{ enabled: boolean }>>(m: AuthenticatorModule<Id, S>): AuthenticatorModule<Id, S> {
  return m;
}
