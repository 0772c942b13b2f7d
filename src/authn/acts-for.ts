/**
 * Parameters that choose whom a request acts for (Geoloqi's `user_id`). An upstream reads them from its merged
 * parameters, so the rule that a restricted identity acts only for itself must hold for every spelling its
 * parser maps onto the name: `user_id[]` and `[user_id]` (Rack), `user.id` and `user id` (PHP), a `;`
 * separator (older Rack), and in the query as much as in a form, JSON or multipart body (the proxy reads those,
 * src/proxy/acts-for-body.ts).
 */
import { TrackgateError } from '../errors.js';
import type { Identity } from '../identity/identity.js';

/** A form's declaration that one request parameter selects the principal the request acts for. */
export interface ActsForRule {
  /** The parameter's name (`user_id`). */
  readonly param: string;
  /** Whether `identity` may name only itself (its subject); an unrestricted one (an application token) may name anyone. */
  restricted(identity: Identity): boolean;
  /** Largest body of a restricted identity read whole to look for the parameter; a larger one is refused (413). */
  readonly maxBodyBytes: number;
}

/**
 * Whether parameter `key` (decoded) is read as `name` by a common parser: Rack strips leading brackets and
 * keeps the part before the next one; PHP drops leading spaces and turns spaces, dots and an unclosed `[` into `_`.
 */
export function namesParam(key: string, name: string): boolean {
  if (key === name) return true;
  const k = key.trimStart();
  const rack = /^[[\]]*([^[\]]*)/.exec(k)![1];
  if (rack === name) return true;
  const open = k.indexOf('[');
  const php = (open >= 0 && k.indexOf(']', open) > open ? k.slice(0, open) : k).replace(/[ .[]/g, '_');
  return php === name;
}

/**
 * Every value of `name` in a form-encoded string (a query, an `application/x-www-form-urlencoded` body), under
 * any spelling {@link namesParam} accepts, `&` or `;` separated. Cheap when the name cannot occur.
 */
export function formParamValues(encoded: string, name: string): string[] {
  if (encoded === '' || (!encoded.includes(name) && !encoded.includes('%') && !encoded.includes('.') && !encoded.includes('+'))) return [];
  const out: string[] = [];
  for (const [k, v] of new URLSearchParams(encoded.replaceAll(';', '&'))) {
    if (namesParam(k, name)) out.push(v);
  }
  return out;
}

/** Throws 403 when a restricted identity names anyone but itself in `values` (found `where`: "query", "form body", …). */
export function refuseActingForOthers(rule: ActsForRule, identity: Identity, values: readonly string[], where: string): void {
  if (values.length === 0 || !rule.restricted(identity)) return;
  for (const v of values) {
    if (v !== identity.subject) {
      throw new TrackgateError('TG_ERR_FORBIDDEN', 'forbidden', {
        reason: 'forbidden', detail: `${identity.kind} token may not act for another ${rule.param} (${where})`,
      });
    }
  }
}
