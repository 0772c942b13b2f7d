/**
 * Route rules: which paths are public, which need any identity, and which need particular kinds, schemes,
 * accounts or subjects. First match wins; unmatched paths need any valid identity. Rules are matched on
 * the request's path key (src/authn/canonical-path.ts), and their own paths are keyed the same way.
 */
import type { RouteRule } from '../config/schema.js';
import { canonicalPath, pathKey } from './canonical-path.js';
import type { Identity } from './types.js';

export type Access = RouteRule['access'];

/** What the first matching rule decides: its access, and what an invalid credential gets there. */
export interface RouteDecision {
  readonly access: Access;
  readonly invalidCredentials: NonNullable<RouteRule['invalidCredentials']>;
}

/** Paths no rule matches: any valid identity, invalid credentials refused. */
const UNMATCHED: RouteDecision = Object.freeze({ access: 'authenticated', invalidCredentials: 'reject' });

/** The methods a body's `_method` can name (Rack accepts any of these; Spring PUT, PATCH and DELETE). */
const OVERRIDABLE = ['GET', 'HEAD', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

interface KeyedRule {
  key: string;
  exact: boolean;
  methods: ReadonlySet<string> | undefined;
  access: Access;
  decision: RouteDecision;
  /** A `mode: report-only` rule: matched only by {@link RouteRules.shadows}, never deciding. */
  shadow: ShadowRule | undefined;
}

/** A report-only rule a request matched before the rule that decides it: what it would have required. */
export interface ShadowRule {
  readonly name: string;
  readonly access: Access;
}

export class RouteRules {
  readonly #rules: readonly KeyedRule[];
  /** Whether any rule lists methods (else every method gets the same decision). */
  readonly #methodLimited: boolean;
  /** Whether any rule is report-only (else {@link shadows} has nothing to find). */
  readonly #reportOnly: boolean;

  /** Throws when a rule's path is not canonical (the config is then refused, at start or on reload). */
  constructor(rules: readonly RouteRule[], caseInsensitive = false) {
    this.#rules = rules.map((r, i) => {
      let canonical: string;
      try {
        canonical = canonicalPath(r.path, caseInsensitive);
      } catch (err) {
        throw new Error(`routes[${i}].path ${JSON.stringify(r.path)}: ${(err as Error).message}`);
      }
      if (canonical !== r.path) throw new Error(`routes[${i}].path ${JSON.stringify(r.path)} is not canonical: write it as ${JSON.stringify(canonical)}`);
      // Express and most frameworks answer HEAD with the GET handler: a rule about GET is a rule about HEAD.
      const methods = r.methods === undefined ? undefined : new Set<string>(r.methods.includes('GET') ? [...r.methods, 'HEAD'] : r.methods);
      return {
        key: pathKey(r.path, caseInsensitive), exact: r.exact === true, methods, access: r.access,
        decision: Object.freeze({ access: r.access, invalidCredentials: r.invalidCredentials ?? 'reject' }),
        shadow: r.mode === 'report-only' ? Object.freeze({ name: r.name ?? `routes[${i}]`, access: r.access }) : undefined,
      };
    });
    this.#methodLimited = this.#rules.some((r) => r.methods !== undefined && r.shadow === undefined);
    this.#reportOnly = this.#rules.some((r) => r.shadow !== undefined);
  }

  /**
   * Whether another method than POST is held to a stricter rule than POST on this path: then a POST body's
   * `_method` field (which trackgate does not read) could make the upstream run a method the rules keep
   * from this request. Stricter: `deny`, or a restriction POST's rule does not also impose.
   */
  stricterThanPost(key: string): boolean {
    if (!this.#methodLimited) return false;
    const post = this.match('POST', key);
    if (post === 'deny') return false;
    for (const m of OVERRIDABLE) {
      const a = this.match(m, key);
      if (a === post || a === 'public' || (a === 'authenticated' && post !== 'public')) continue;
      return true;
    }
    return false;
  }

  /** The access rule for a request, by its method and path key. */
  match(method: string, key: string): Access {
    return this.decide(method, key).access;
  }

  /** The first matching rule's decision (one object per rule, made once: nothing is allocated per request). */
  decide(method: string, key: string): RouteDecision {
    for (const r of this.#rules) {
      if (r.shadow !== undefined || (r.methods !== undefined && !r.methods.has(method))) continue;
      if (ruleMatches(r, key)) return r.decision;
    }
    return UNMATCHED;
  }

  /**
   * The report-only rules matching a request ahead of the rule that decides it (first match wins, so a
   * report-only rule after it could never have decided); undefined when there are none.
   */
  shadows(method: string, key: string): readonly ShadowRule[] | undefined {
    if (!this.#reportOnly) return undefined;
    let out: ShadowRule[] | undefined;
    for (const r of this.#rules) {
      if ((r.methods !== undefined && !r.methods.has(method)) || !ruleMatches(r, key)) continue;
      if (r.shadow === undefined) break;
      (out ??= []).push(r.shadow);
    }
    return out;
  }
}

/** Whether a rule covers a path key: that path alone (`exact`), or the path and everything under it. */
function ruleMatches(r: { key: string; exact: boolean }, key: string): boolean {
  return r.exact ? r.key === key : prefixMatches(r.key, key);
}

/** Whether path key `path` is under rule key `prefix` (at a segment boundary). */
export function prefixMatches(prefix: string, path: string): boolean {
  if (!path.startsWith(prefix)) return false;
  return path.length === prefix.length || prefix.endsWith('/') || path.charCodeAt(prefix.length) === 0x2f;
}

/** Whether an identity satisfies an access rule that requires authentication. */
export function allows(access: Access, identity: Identity): boolean {
  if (access === 'authenticated' || access === 'public') return true;
  if (access === 'deny') return false;
  if (access.kinds && !access.kinds.includes(identity.kind)) return false;
  if (access.schemes && !access.schemes.includes(identity.scheme)) return false;
  if (access.accounts && (identity.account === undefined || !access.accounts.includes(identity.account))) return false;
  if (access.subjects && !access.subjects.includes(identity.subject)) return false;
  return true;
}
