/**
 * `migration.policies`: what trackgate does with each credential form while its clients move off it (allow,
 * deprecated, report-only, deny), optionally narrowed to accounts and path prefixes (docs/migration.md). Its
 * own file so the rules of a policy read in one place; src/config/schema.ts puts it under `migration`.
 */
import { z } from 'zod';

export const POLICY_EFFECTS = ['allow', 'deprecated', 'report-only', 'deny'] as const;
export type PolicyEffect = (typeof POLICY_EFFECTS)[number];

/** What the migration block checks with knowledge the config layer does not have (handed down by the root). */
export interface MigrationChecks {
  canonicalPath(path: string): string;
  /** The credential form ids (src/authn/ids.ts); absent: any name is taken. */
  readonly formIds?: readonly string[];
}

/** An RFC 3339 date (`2027-03-31`) or date-time with its zone (`2027-03-31T00:00:00Z`). */
const date = z.string().regex(/^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2}))?$/, 'must be a date such as 2027-03-31 or 2027-03-31T00:00:00Z')
  .refine(isCalendarDate, 'is not a calendar date');

/** `Date.parse` rolls 2027-02-31 over to March: the day must be the one written. */
function isCalendarDate(s: string): boolean {
  const [y, m, d] = s.slice(0, 10).split('-').map(Number) as [number, number, number];
  const day = new Date(Date.UTC(y, m - 1, d));
  return Number.isFinite(Date.parse(s)) && day.getUTCFullYear() === y && day.getUTCMonth() === m - 1 && day.getUTCDate() === d;
}

const linkUrl = z.string().refine((s) => {
  try {
    const u = new URL(s);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.username === '' && u.password === '' && !/[<>\s]/.test(s);
  } catch { return false; }
}, 'must be an http(s) URL, e.g. https://example.com/migration');

function policySchema(checks: MigrationChecks) {
  const form = checks.formIds === undefined ? z.string()
    : z.string().refine((f) => checks.formIds!.includes(f), { message: `must be a credential form: ${checks.formIds.join(', ')}` });
  return z.object({
    name: z.string().regex(/^[a-z0-9][a-z0-9_.-]{0,62}$/, 'must be 1-63 characters of a-z, 0-9, _ . - (it is a metric label)')
      .describe('The policy\'s name: a metric label (`policy`, `rule`) and the access line\'s `policy`/`wouldDeny` field.'),
    forms: z.array(form).min(1).describe('The credential forms (`authn.<id>` ids: basic, digest, …) it applies to.'),
    policy: z.enum(POLICY_EFFECTS).describe('`allow`: as without a policy. `deprecated`: allowed, the response carries `Deprecation`, `Sunset` and `Link` where configured, counted and logged. `report-only`: allowed, but counted and logged as a denial would be (a rehearsal of `deny`). `deny`: 401 TG_ERR_FORM_DENIED naming the forms still accepted, with challenges only for those.'),
    accounts: z.array(z.string().min(1)).min(1).optional().describe('Only identities of these accounts; absent: every account (and identities without one).'),
    pathPrefix: z.string().startsWith('/').superRefine((path, ctx) => {
      let canonical: string;
      try { canonical = checks.canonicalPath(path); } catch (err) {
        ctx.addIssue({ code: 'custom', message: `not a canonical path (${(err as Error).message})` });
        return;
      }
      if (canonical !== path) ctx.addIssue({ code: 'custom', message: `not a canonical path: write it as ${canonical}` });
    }).optional().describe('Only requests under this path prefix (segment boundary, as route rules match); absent: every path.'),
    deprecation: date.optional().describe('When the form was (or will be) deprecated: the `Deprecation` header (RFC 9745, `@<unix seconds>`).'),
    sunset: date.optional().describe('When the form stops working: the `Sunset` header (RFC 8594) and the `trackgate_policy_sunset_timestamp_seconds` gauge the near-sunset alert reads.'),
    link: linkUrl.optional().describe('Where clients read about the migration: `Link: <url>; rel="deprecation"` (RFC 9745 §3), also on a `deny` answer.'),
  }).strict();
}

export function migrationSchema(checks: MigrationChecks) {
  return z.object({
    policies: z.array(policySchema(checks)).default([]).superRefine((list, ctx) => {
      const seen = new Set<string>();
      list.forEach((p, i) => {
        if (seen.has(p.name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `policy name ${p.name} is used twice` });
        seen.add(p.name);
      });
    }).describe('Policies per credential form, first match wins (by form, then `accounts` and `pathPrefix` where given); a request no policy matches is allowed. Applies on reload, within a second on every worker (docs/migration.md).'),
  }).strict().prefault({}).describe('Moving clients off legacy credential forms (docs/migration.md).');
}
