/**
 * `migration.policies` compiled for the request path: which policy (allow, deprecated, report-only, deny)
 * applies to an identity of a credential form, its account and the request's path key, first match wins;
 * and which forms a client can still use at a path, so a 401 challenges only for those. Built once per
 * config version (the runtime is rebuilt on reload), so a policy change needs no restart.
 */
import type { CoreConfig } from '../config/schema.js';
import type { PolicyEffect } from '../config/migration-schema.js';
import { pathKey } from './canonical-path.js';
import { deprecationHeaders, epochSeconds } from './deprecation-headers.js';
import { prefixMatches } from './rules.js';
import type { AuthnId } from './types.js';

export type MigrationPolicy = CoreConfig['migration']['policies'][number];

/** The policy a request matched: what it does and the headers its response carries. */
export interface PolicyMatch {
  readonly name: string;
  readonly effect: PolicyEffect;
  /** Deprecation, Sunset, Link (lower-case names); undefined when the policy configures none. */
  readonly headers: Readonly<Record<string, string>> | undefined;
}

/**
 * What migration policies and report-only route rules made of an admitted request: the (non-allow) policy
 * it matched, whose headers its response carries, and the report-only rules that would have refused it.
 */
export interface PolicyOutcome {
  policy?: PolicyMatch;
  /** Names of the report-only rules (policies, route rules) that would have refused it, comma-separated. */
  wouldDeny?: string;
}

/** One policy per form it names, as the admin API lists them. */
export interface PolicyRow {
  name: string;
  scheme: string;
  policy: PolicyEffect;
  sunset?: string;
  deprecation?: string;
  link?: string;
  accounts?: string[];
  pathPrefix?: string;
}

interface Compiled {
  readonly match: PolicyMatch;
  readonly forms: ReadonlySet<string>;
  readonly accounts: ReadonlySet<string> | undefined;
  readonly prefix: string | undefined;
  readonly source: MigrationPolicy;
}

export class FormPolicies {
  readonly #policies: readonly Compiled[];
  readonly #enabled: readonly AuthnId[];
  /** Whether any policy denies: otherwise every enabled form is accepted everywhere. */
  readonly #denies: boolean;

  constructor(policies: readonly MigrationPolicy[], enabled: readonly AuthnId[], caseInsensitive = false) {
    this.#enabled = enabled;
    this.#policies = policies.map((p) => ({
      match: Object.freeze({ name: p.name, effect: p.policy, headers: deprecationHeaders(p) }),
      forms: new Set(p.forms),
      accounts: p.accounts === undefined ? undefined : new Set(p.accounts),
      prefix: p.pathPrefix === undefined ? undefined : pathKey(p.pathPrefix, caseInsensitive),
      source: p,
    }));
    this.#denies = this.#policies.some((p) => p.match.effect === 'deny');
  }

  get empty(): boolean { return this.#policies.length === 0; }

  /** The first policy for an identity of form `scheme` and `account` at `key`, or undefined (allowed, no policy). */
  match(scheme: AuthnId, account: string | undefined, key: string): PolicyMatch | undefined {
    for (const p of this.#policies) {
      if (!p.forms.has(scheme)) continue;
      if (p.prefix !== undefined && !prefixMatches(p.prefix, key)) continue;
      if (p.accounts !== undefined && (account === undefined || !p.accounts.has(account))) continue;
      return p.match;
    }
    return undefined;
  }

  /** The enabled forms an identity of `account` may still use at `key`, in challenge order. */
  accepted(account: string | undefined, key: string): AuthnId[] {
    return this.#enabled.filter((f) => this.match(f, account, key)?.effect !== 'deny');
  }

  /**
   * The enabled forms denied at `key` to every client (whatever its account), whose challenges a 401 there
   * leaves out; undefined when none is. A form denied only for some accounts is still challenged for.
   */
  hiddenAt(key: string): ReadonlySet<AuthnId> | undefined {
    if (!this.#denies) return undefined;
    let hidden: Set<AuthnId> | undefined;
    for (const f of this.#enabled) {
      if (!this.#deniedToAll(f, key)) continue;
      (hidden ??= new Set()).add(f);
    }
    return hidden;
  }

  #deniedToAll(form: AuthnId, key: string): boolean {
    for (const p of this.#policies) {
      if (!p.forms.has(form) || (p.prefix !== undefined && !prefixMatches(p.prefix, key))) continue;
      if (p.accounts === undefined) return p.match.effect === 'deny';
      // Some account gets this (non-deny) policy first: the form still works for it.
      if (p.match.effect !== 'deny') return false;
    }
    return false;
  }

  /** Every policy, one row per form it names (GET /admin/policies). */
  rows(): PolicyRow[] {
    return policyRows(this.#policies.map((p) => p.source));
  }

  /** The sunset of every policy that has one, per form, in epoch seconds (the near-sunset alert's gauge). */
  sunsets(): { policy: string; scheme: string; seconds: number }[] {
    return this.#policies.flatMap(({ source: p }) => (p.sunset === undefined ? []
      : p.forms.map((scheme) => ({ policy: p.name, scheme, seconds: epochSeconds(p.sunset!) }))));
  }
}

/** `migration.policies` as the admin API lists them: one row per policy and form, in match order. */
export function policyRows(policies: readonly MigrationPolicy[]): PolicyRow[] {
  return policies.flatMap((p) => p.forms.map((scheme) => ({
    name: p.name, scheme, policy: p.policy,
    ...(p.sunset !== undefined ? { sunset: p.sunset } : {}),
    ...(p.deprecation !== undefined ? { deprecation: p.deprecation } : {}),
    ...(p.link !== undefined ? { link: p.link } : {}),
    ...(p.accounts !== undefined ? { accounts: [...p.accounts] } : {}),
    ...(p.pathPrefix !== undefined ? { pathPrefix: p.pathPrefix } : {}),
  })));
}
