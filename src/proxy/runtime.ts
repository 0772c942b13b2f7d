/**
 * Everything the request path reads that a reload may change, built once per config/accounts version and
 * swapped in whole (a request keeps the runtime it started with). Declared here, by the layer that reads it;
 * the composition root fills it (src/app/runtime.ts), so no layer below names the one above.
 */
import type { CoreConfig } from '../config/schema.js';
import type { AuthPipeline } from '../authn/pipeline.js';
import type { RouteRules } from '../authn/rules.js';
import type { FormPolicies } from '../authn/form-policies.js';
import type { GuardPolicy } from './guard.js';
import type { HeaderPolicy } from './headers.js';
import type { IssueRouter } from '../issue/router.js';
import type { TrustedProxies } from './trusted-proxies.js';

/** `C`: the config type of the composition root that builds it (the proxy reads only core keys). */
export interface Runtime<C extends CoreConfig = CoreConfig> {
  readonly config: C;
  readonly pipeline: AuthPipeline;
  readonly rules: RouteRules;
  /** `migration.policies`: what each credential form gets (allow, deprecated, report-only, deny). */
  readonly policies: FormPolicies;
  readonly guard: GuardPolicy;
  readonly headerPolicy: HeaderPolicy;
  /** Peers whose forwarding headers are believed (`proxy.trustedProxies`). */
  readonly trustedProxies: TrustedProxies;
  /** Query parameters that carry credentials (removed upstream and in logs). */
  readonly credentialQuery: readonly string[];
  /** The enabled legacy token endpoints. */
  readonly issue: IssueRouter;
}
