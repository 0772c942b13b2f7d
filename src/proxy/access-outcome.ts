/** What an access line says about a request's credential and failure, the same on the proxy port and the decision listener. */
import type { TrackgateError } from '../errors.js';
import type { AccessLine } from '../observability/log.js';
import type { AuthFailureContext, AuthResult } from '../authn/pipeline.js';
import type { PolicyOutcome } from '../authn/form-policies.js';

/**
 * Adds the identity (subject, actor, kind, cache outcome, fingerprint) or the failed credential's fingerprint,
 * the migration policy and report-only rules it met, and the error.
 */
export function addAccessOutcome(line: AccessLine, admission: ({ identity: unknown } & PolicyOutcome) | undefined, failure: AuthFailureContext, err: Pick<TrackgateError, 'code' | 'reason' | 'detail'> | undefined): void {
  if (admission?.policy !== undefined) line.policy = admission.policy.name;
  if (admission?.wouldDeny !== undefined) line.wouldDeny = admission.wouldDeny;
  if (admission?.identity !== undefined) {
    const a = admission as AuthResult;
    line.sub = a.identity.subject;
    if (a.identity.actor !== undefined) line.act = a.identity.actor;
    line.kind = a.identity.kind;
    line.cache = a.cache;
    line.fp = a.fingerprint;
  } else if (failure.fingerprint !== undefined) {
    line.fp = failure.fingerprint;
  }
  if (err !== undefined) {
    line.err = err.code;
    if (err.reason !== undefined) line.reason = err.reason;
    if (err.detail !== undefined) line.detail = err.detail;
  }
}
