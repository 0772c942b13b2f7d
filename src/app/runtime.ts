/**
 * Builds the {@link Runtime} the request path reads, from one config version: every credential form and
 * token-endpoint dialect created again (so a reload applies their options), and the policies derived from
 * the config. Called at start and on each reload; the result is swapped in whole.
 */
import type { AuthnDeps, Authenticator } from '../authn/types.js';
import { AUTHN_IDS } from '../authn/ids.js';
import { carriersOf, createForm } from '../authn/registry.js';
import { AuthPipeline } from '../authn/pipeline.js';
import { pathKey } from '../authn/canonical-path.js';
import { RouteRules } from '../authn/rules.js';
import { FormPolicies } from '../authn/form-policies.js';
import type { Config } from '../config-schema.js';
import { DIALECT_IDS } from '../issue/ids.js';
import { createDialect } from '../issue/registry.js';
import { IssueRouter } from '../issue/router.js';
import type { Dialect, IssueDeps } from '../issue/types.js';
import type { Runtime } from '../proxy/runtime.js';
import { TrustedProxies } from '../proxy/trusted-proxies.js';
import { UntrustedHeaders } from '../proxy/untrusted-headers.js';
import type { ValidationCache } from '../verify/cache.js';
import type { CredentialDigester } from '../verify/cache-key.js';

/** Credential headers stripped whatever form is enabled, besides every form's own carriers. */
const ALWAYS_STRIPPED_HEADERS = ['authorization', 'authentication', 'proxy-authorization'];
/**
 * The GPS seed's legacy credential carriers, stripped even when no loaded form declares them (a form that is
 * not in this build yet must not let its secret through to the upstream).
 */
const ALWAYS_STRIPPED_LEGACY = { headers: ['instanceid', 'instancekey'], cookies: ['token'], query: ['_token', 'access_token'] };

/** What the forms, dialects and pipeline of every runtime share (built once per app). */
export interface RuntimeParts {
  authnDeps: AuthnDeps;
  issueDeps: IssueDeps;
  cache: ValidationCache;
  digester: CredentialDigester;
}

export function buildRuntime(config: Config, parts: RuntimeParts): Runtime<Config> {
  const forms: Authenticator[] = [];
  const headers = new Set([...ALWAYS_STRIPPED_HEADERS, ...ALWAYS_STRIPPED_LEGACY.headers]);
  const cookies = new Set<string>(ALWAYS_STRIPPED_LEGACY.cookies);
  const query = new Set<string>(ALWAYS_STRIPPED_LEGACY.query);
  for (const id of AUTHN_IDS) {
    const opts = config.authn[id];
    // Every form's carriers are stripped, enabled or not: a disabled form's secret must not reach upstream.
    const carriers = carriersOf(id, opts);
    carriers.headers?.forEach((h) => headers.add(h.toLowerCase()));
    carriers.cookies?.forEach((c) => cookies.add(c));
    carriers.query?.forEach((q) => query.add(q));
    if (opts.enabled) forms.push(createForm(id, opts, parts.authnDeps));
  }
  const dialects: Dialect[] = [];
  for (const id of DIALECT_IDS) {
    const opts = config.issue[id];
    if (opts.enabled) dialects.push(createDialect(id, opts, parts.issueDeps));
  }
  const identityHeader = config.identity.header.toLowerCase();
  const policies = new FormPolicies(config.migration.policies, forms.map((f) => f.id), config.routing.caseInsensitive);
  return Object.freeze({
    issue: new IssueRouter(dialects, parts.issueDeps.refresh, (p) => pathKey(p, config.routing.caseInsensitive)),
    config,
    pipeline: new AuthPipeline(forms, parts.cache, parts.digester, config.authn.rejectAmbiguous, (key) => policies.hiddenAt(key)),
    policies,
    rules: new RouteRules(config.routes, config.routing.caseInsensitive),
    guard: { identityHeader, singletonHeaders: new Set([...headers, 'host', 'content-length']), maxBodyBytes: config.limits.maxRequestBodyBytes },
    headerPolicy: {
      identityHeader, credentialHeaders: headers, credentialCookies: cookies,
      preserveHost: config.upstream.preserveHost, requestIdHeader: config.proxy.requestIdHeader.toLowerCase(),
      untrusted: new UntrustedHeaders(config.proxy.stripHeaders, config.proxy.keepHeaders),
    },
    trustedProxies: new TrustedProxies(config.proxy.trustedProxies, config.proxy.trustForwardedProto),
    credentialQuery: [...query],
  });
}
