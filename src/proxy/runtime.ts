/**
 * Everything the request path reads that a reload may change, built once per config/accounts version and
 * swapped in whole (a request keeps the runtime it started with). Declared here, by the layer that reads it;
 * the composition root fills it (src/app/runtime.ts), so no layer below names the one above.
 */
import type { Config } from '../config/schema.js';
import type { AuthPipeline } from '../authn/pipeline.js';
import type { RouteRules } from '../authn/rules.js';
import type { GuardPolicy } from './guard.js';
import type { HeaderPolicy } from './headers.js';
import type { IssueRouter } from '../issue/router.js';
import type { Dialect } from '../issue/types.js';
import type { TrustedProxies } from './trusted-proxies.js';

export interface Runtime {
  readonly config: Config;
  readonly pipeline: AuthPipeline;
  readonly rules: RouteRules;
  readonly guard: GuardPolicy;
  readonly headerPolicy: HeaderPolicy;
  /** Peers whose forwarding headers are believed (`proxy.trustedProxies`). */
  readonly trustedProxies: TrustedProxies;
  /** Query parameters that carry credentials (removed upstream and in logs). */
  readonly credentialQuery: readonly string[];
  /** The enabled legacy token endpoints. */
  readonly issue: IssueRouter;
  readonly dialects: ReadonlyMap<string, Dialect>;
}
