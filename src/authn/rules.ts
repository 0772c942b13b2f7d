/**
 * Route rules: which paths are public, which need any identity, and which need particular kinds, schemes,
 * accounts or subjects. First match wins; unmatched paths need any valid identity.
 */
import type { RouteRule } from '../config/schema.js';
import type { Identity } from './types.js';

export type Access = RouteRule['access'];

export class RouteRules {
  constructor(private readonly rules: readonly RouteRule[]) {}

  /** The access rule for a request. */
  match(method: string, path: string): Access {
    for (const r of this.rules) {
      if (r.methods !== undefined && !r.methods.includes(method as never)) continue;
      if (prefixMatches(r.path, path)) return r.access;
    }
    return 'authenticated';
  }
}

function prefixMatches(prefix: string, path: string): boolean {
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
