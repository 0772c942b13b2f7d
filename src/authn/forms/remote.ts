/**
 * Remote verification, for teams whose user database stays in the legacy service: the client's credential
 * headers are sent to the legacy service's check endpoint and its answer is the verdict.
 *
 * - 2xx (and 3xx unless `redirectsAreValid` is off) → valid, cached for `cacheTtlSeconds`, so cached users ride
 *   out an outage of the endpoint that long. The subject is the answer's `subjectHeader`, else a keyed
 *   fingerprint of the credential (`remote:<hmac>`; never the credential).
 * - 401/403 (and a 3xx when redirects are not valid) → 401 invalid, cached briefly as a negative.
 * - anything else, a network error or a timeout → 503 `unavailable`, never cached: fail closed.
 *
 * The form claims a request when its `authorization` or `authentication` header uses one of `schemes`, and
 * then *replaces* local verification of those schemes: no other enabled form may claim them (the pipeline
 * refuses to start, or the reload, naming the conflicting form).
 */
import { createHmac } from 'node:crypto';
import { z } from 'zod';
import { TrackgateError } from '../../errors.js';
import { defineAuthenticator } from '../module.js';
import type { Credential, Identity } from '../types.js';
import { isCleartextRemote, isHttpUrl, sourceUnavailable } from '../../verify/http-source.js';
import { RemoteCheckError, RemoteChecker } from '../../verify/remote-check.js';

export interface RemoteCredential extends Credential {
  /** The forwarded headers present on the request (lower-case name → value). */
  readonly headers: Readonly<Record<string, string>>;
}

export type RemoteResult = 'valid' | 'invalid' | 'unavailable' | 'timeout';

const KINDS = ['user', 'device', 'app', 'admin', 'anonymous'] as const;
/** Headers whose `<scheme> <credentials>` value the form claims by scheme. */
const AUTH_HEADERS = new Set(['authorization', 'authentication']);
const HEADER_NAME_RE = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;
/** Headers that describe the connection or the message, not a credential; never forwarded as one. */
const NOT_CREDENTIALS = new Set(['host', 'connection', 'keep-alive', 'transfer-encoding', 'content-length', 'te', 'upgrade', 'expect', 'proxy-connection', 'trailer']);
const MAX_SUBJECT = 256;
const SANE_VALUE_RE = /^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/;

export const remote = defineAuthenticator({
  id: 'remote',
  options: z.object({
    enabled: z.boolean().default(false).describe('Verify credentials by asking a legacy service (replaces local verification of the listed schemes).'),
    url: z.string().refine(isHttpUrl, 'must be an http(s) URL without credentials or fragment').optional().describe('The legacy check endpoint (required when enabled).'),
    method: z.enum(['GET', 'POST', 'HEAD']).default('GET').describe('Method of the check request.'),
    schemes: z.array(z.string().regex(HEADER_NAME_RE)).min(1).default(['Basic', 'Bearer'])
      .describe('Authorization schemes this form claims (case-insensitive). Their local forms (basic, bearer, …) must be disabled.'),
    forwardHeaders: z.array(z.string().regex(HEADER_NAME_RE)).min(1).default(['authorization'])
      .describe('Request headers sent to the check endpoint (and stripped before forwarding upstream). Must include `authorization` or `authentication`.'),
    timeoutMs: z.number().int().min(1).max(60000).default(2000).describe('Whole-call timeout; exceeded → 503.'),
    cacheTtlSeconds: z.number().int().min(1).default(60).describe('How long a valid verdict is reused (also bounded by cache.ttlSeconds).'),
    subjectHeader: z.string().regex(HEADER_NAME_RE).default('X-User-Id').describe('Response header naming the subject; absent → a keyed fingerprint of the credential.'),
    accountHeader: z.string().regex(HEADER_NAME_RE).optional().describe('Response header naming the account, if any.'),
    kind: z.enum(KINDS).default('user').describe('`kind` of the identity.'),
    redirectsAreValid: z.boolean().default(true).describe('Treat a 3xx answer as valid (legacy services that redirect on success); turn off when the endpoint redirects unauthenticated requests to a login page.'),
    connections: z.number().int().min(1).max(1024).default(16).describe('Maximum keep-alive connections to the endpoint.'),
    realm: z.string().default('trackgate').describe('Realm announced in the challenges of the listed schemes.'),
  }).superRefine((o, ctx) => {
    if (o.enabled && o.url === undefined) ctx.addIssue({ code: 'custom', path: ['url'], message: 'required when authn.remote.enabled is true' });
    const names = o.forwardHeaders.map((h) => h.toLowerCase());
    if (!names.some((h) => AUTH_HEADERS.has(h))) {
      ctx.addIssue({ code: 'custom', path: ['forwardHeaders'], message: 'must include authorization or authentication (the header whose scheme the form claims)' });
    }
    for (const [i, h] of names.entries()) {
      if (NOT_CREDENTIALS.has(h)) ctx.addIssue({ code: 'custom', path: ['forwardHeaders', i], message: `${h} is not a credential header` });
    }
  }),
  carriers: (options) => ({ headers: forwardedHeaders(options.forwardHeaders) }),
  create(options, deps) {
    const forward = forwardedHeaders(options.forwardHeaders);
    const authHeaders = forward.filter((h) => AUTH_HEADERS.has(h));
    const schemes = new Set(options.schemes.map((s) => s.toLowerCase()));
    const subjectHeader = options.subjectHeader.toLowerCase();
    const accountHeader = options.accountHeader?.toLowerCase();
    const realm = options.realm.replace(/["\\]/g, '\\$&');
    const challenge = options.schemes.map((s) => `${s} realm="${realm}"`).join(', ');
    const checker = options.enabled && options.url !== undefined
      ? new RemoteChecker({ url: options.url, method: options.method, timeoutMs: options.timeoutMs, connections: options.connections })
      : undefined;
    if (checker !== undefined && isCleartextRemote(options.url!)) {
      deps.logger.warn({ url: options.url }, 'authn.remote: credentials are sent to the check endpoint over plain http; use https');
    }
    const subjectKey = createHmac('sha256', deps.sharedSecret).update('trackgate/remote-subject/v1').digest();
    const count = (result: RemoteResult) => deps.metrics?.remoteVerifications.labels(result).inc();

    const fingerprintSubject = (parts: readonly string[]): string => {
      const h = createHmac('sha256', subjectKey);
      for (const p of parts) h.update(`${Buffer.byteLength(p, 'utf8')}:${p}`);
      return `remote:${h.digest('base64url').slice(0, 32)}`;
    };

    return {
      id: 'remote',
      exclusive: { headers: authHeaders, schemes: options.schemes },
      extract(req): RemoteCredential | undefined {
        let claimed = false;
        for (const h of authHeaders) {
          const v = req.headers[h];
          if (typeof v !== 'string') continue;
          const sp = v.indexOf(' ');
          if (!schemes.has((sp < 0 ? v : v.slice(0, sp)).toLowerCase())) continue;
          if (sp < 0 || v.slice(sp + 1).trim() === '') {
            throw new TrackgateError('TG_ERR_MALFORMED_CREDENTIALS', 'malformed credentials', { reason: 'malformed', detail: `${h}: scheme without credentials` });
          }
          claimed = true;
        }
        if (!claimed) return undefined;
        const headers: Record<string, string> = {};
        const parts: string[] = [];
        for (const h of forward) {
          const v = req.headers[h];
          const s = Array.isArray(v) ? v.join(', ') : v;
          if (s === undefined) continue;
          headers[h] = s;
          parts.push(h, s);
        }
        return { scheme: 'remote', cacheParts: parts, headers };
      },
      async verify(cred: RemoteCredential): Promise<Identity> {
        if (checker === undefined) throw sourceUnavailable('remote', 'no check endpoint configured');
        let answer;
        try {
          answer = await checker.check(cred.headers);
        } catch (err) {
          if (!(err instanceof RemoteCheckError)) throw err;
          count(err.kind);
          throw sourceUnavailable('remote', `${err.kind} (${err.detail})`, err);
        }
        const { status } = answer;
        const redirect = status >= 300 && status < 400;
        if ((status >= 200 && status < 300) || (redirect && options.redirectsAreValid)) {
          const named = headerValue(answer.headers[subjectHeader]);
          if (named !== undefined && !sane(named)) {
            count('unavailable');
            throw sourceUnavailable('remote', `${options.subjectHeader} answer header is not a usable subject`);
          }
          const account = accountHeader === undefined ? undefined : headerValue(answer.headers[accountHeader]);
          count('valid');
          return Object.freeze({
            subject: named ?? fingerprintSubject(cred.cacheParts ?? []),
            scheme: 'remote',
            kind: options.kind,
            ...(account !== undefined && sane(account) ? { account } : {}),
            // Not the credential's own expiry (the legacy service does not say): how long this verdict may be reused.
            expiresAt: deps.now() + options.cacheTtlSeconds * 1000,
          });
        }
        if (status === 401 || status === 403 || redirect) {
          count('invalid');
          throw new TrackgateError('TG_ERR_INVALID_CREDENTIALS', 'invalid credentials', { reason: 'invalid', detail: `remote: HTTP ${status}` });
        }
        count('unavailable');
        throw sourceUnavailable('remote', `HTTP ${status}`);
      },
      challenge: () => challenge,
    };
  },
});

/** The headers sent to the check endpoint, lower-cased, each once: the form's carriers. */
function forwardedHeaders(names: readonly string[]): string[] {
  return [...new Set(names.map((h) => h.toLowerCase()))];
}

function headerValue(v: string | string[] | undefined): string | undefined {
  const s = Array.isArray(v) ? v[0] : v;
  return s === undefined ? undefined : s.trim();
}

function sane(s: string): boolean {
  return s.length <= MAX_SUBJECT && SANE_VALUE_RE.test(s);
}
