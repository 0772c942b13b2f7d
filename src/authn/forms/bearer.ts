/**
 * Bearer tokens (RFC 6750 §2.1): `Authorization: Bearer <token>` (oauth2-jwt-auth-api, telematics), and the
 * `Authentication: Bearer <token>` spelling that bearer-token-login's own example uses
 * (`legacyAuthenticationHeader`). The same token in both headers is one credential; two different ones are
 * ambiguous (400).
 *
 * A token is verified, in order, as:
 * 1. a token trackgate issued (store lookup by digest; type `access` only — a refresh token is refused);
 * 2. a JWT of a configured outside issuer (`external.issuers`), against that issuer's JWKS
 *    (see `src/verify/external-jwt.ts` for the JWKS policy);
 * 3. an opaque token, through the configured RFC 7662 introspection endpoint (`introspection`).
 * A JWT whose `iss` is not configured is tried at the introspection endpoint when there is one.
 *
 * RFC 6750 §3 errors: no credentials → `Bearer realm="…"`; a rejected bearer token → 401 with
 * `error="invalid_token"`; a malformed Bearer header → 400 `error="invalid_request"`; a verified token without
 * a scope its source requires (`requiredScopes`) → 403 `error="insufficient_scope"`.
 */
import { readFileSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { z } from 'zod';
import { lookupDigest } from '../../accounts/digest-token.js';
import { TrackgateError } from '../../errors.js';
import { defineAuthenticator } from '../module.js';
import { identityFromStoredToken } from '../stored-token.js';
import type { AuthnDeps, ChallengeContext, Credential, Identity } from '../types.js';
import { ASYMMETRIC_ALGS, ExternalJwtVerifier, NON_ACCESS_TYPES, normaliseTyp, type VerifiedToken } from '../../verify/external-jwt.js';
import { Introspector, identityFromIntrospection } from '../../verify/introspection.js';
import { isCleartextRemote, isHttpUrl, sourceUnavailable } from '../../verify/http-source.js';

export interface BearerCredential extends Credential {
  readonly token: string;
}

/** Identity `scheme` claim of every bearer-authenticated request. */
export const BEARER_SCHEME = 'bearer';

const KINDS = ['user', 'device', 'app', 'admin', 'anonymous'] as const;
// RFC 6750 §2.1 b64token (= RFC 9110 token68).
const B64TOKEN_RE = /^[A-Za-z0-9\-._~+/]+=*$/;
// RFC 6750 §3 scope-token.
const SCOPE_TOKEN_RE = /^[\x21\x23-\x5b\x5d-\x7e]+$/;
const httpUrl = z.string().refine(isHttpUrl, 'must be an http(s) URL without credentials or fragment');

const issuerSchema = z.object({
  issuer: z.string().min(1).describe('Expected `iss`; also how a token is matched to this entry.'),
  jwksUrl: httpUrl.describe('The issuer\'s JWKS URL (never a URL named by the token).'),
  audience: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).describe('Expected `aud` (one of).'),
  algorithms: z.array(z.enum(ASYMMETRIC_ALGS, { error: `must be asymmetric JWS algorithms (${ASYMMETRIC_ALGS.join(', ')}); HS* and none are never accepted with a JWKS` }))
    .min(1).default(['RS256', 'ES256', 'EdDSA']).describe('Allowed `alg` values.'),
  clockToleranceSeconds: z.number().int().min(0).max(300).default(30).describe('Leeway for `exp`/`nbf`/`iat`.'),
  subjectClaim: z.string().min(1).default('sub').describe('Claim holding the subject.'),
  subjectPrefix: z.string().default('').describe('Prepended to the subject (keeps an outside IdP\'s subjects apart from local ones).'),
  kind: z.enum(KINDS).default('user').describe('`kind` of the identity.'),
  accountClaim: z.string().min(1).optional().describe('Claim holding the account id.'),
  requiredScopes: z.array(z.string().regex(SCOPE_TOKEN_RE)).default([]).describe('Scopes (`scope`/`scp`) a token must have; else 403 insufficient_scope.'),
  requireExpiry: z.boolean().default(true).describe('Refuse tokens without `exp`.'),
  tokenTypes: z.array(z.string().min(1).refine((t) => !NON_ACCESS_TYPES.has(normaliseTyp(t)), 'names a type that is not an access token'))
    .min(1).default(['at+jwt', 'JWT']).describe('Accepted `typ` header values (case-insensitive, `application/` optional); `["at+jwt"]` is RFC 9068 strict. Refresh, ID, logout and other non-access types are refused whatever this says, in the header and in a `typ` claim.'),
  allowUntyped: z.boolean().default(true).describe('Accept a token without a `typ` header (some IdPs send none); false with `tokenTypes: ["at+jwt"]` is RFC 9068 strict.'),
}).strict();

const introspectionSchema = z.object({
  url: httpUrl.describe('RFC 7662 introspection endpoint.'),
  clientId: z.string().min(1).describe('Client id for HTTP Basic client authentication.'),
  clientSecret: z.string().min(1).optional().describe('Client secret; prefer the env variable or `clientSecretFile` over writing it in the file.'),
  clientSecretFile: z.string().refine(isAbsolute, 'must be an absolute path').optional().describe('Absolute path of a file holding the client secret (read at start and on reload; a trailing newline is ignored).'),
  timeoutMs: z.number().int().min(1).max(60000).default(2000).describe('Whole-call timeout; exceeded → 503.'),
  connections: z.number().int().min(1).max(1024).default(16).describe('Maximum keep-alive connections to the endpoint.'),
  maxBytes: z.number().int().min(1024).default(65536).describe('Largest answer accepted.'),
  kind: z.enum(KINDS).default('user').describe('`kind` of an identity with a `sub` (one with only `client_id` is `app`).'),
  subjectPrefix: z.string().default('').describe('Prepended to the subject.'),
  accountField: z.string().min(1).optional().describe('Answer member holding the account id.'),
  audience: z.string().min(1).optional().describe('When set, the answer\'s `aud` must contain it.'),
  requiredScopes: z.array(z.string().regex(SCOPE_TOKEN_RE)).default([]).describe('Scopes the answer\'s `scope` must contain; else 403 insufficient_scope.'),
}).strict().refine((o) => (o.clientSecret === undefined) !== (o.clientSecretFile === undefined), {
  message: 'set exactly one of clientSecret (e.g. from TRACKGATE_AUTHN_BEARER_INTROSPECTION_CLIENT_SECRET) and clientSecretFile',
});

export const bearer = defineAuthenticator({
  id: 'bearer',
  options: z.object({
    enabled: z.boolean().default(false).describe('Accept Bearer tokens (`Authorization: Bearer`, and `Authentication: Bearer` when allowed).'),
    realm: z.string().default('trackgate').describe('Realm announced in the Bearer challenge.'),
    legacyAuthenticationHeader: z.boolean().default(true).describe('Also accept `Authentication: Bearer <token>` (the spelling of bearer-token-login\'s example).'),
    maxTokenLength: z.number().int().min(64).max(16384).default(8192).describe('Longest token accepted; longer → 400 invalid_request.'),
    issuedTokens: z.boolean().default(true).describe('Accept access tokens trackgate issued (looked up in the store).'),
    external: z.object({
      issuers: z.array(issuerSchema).default([]).superRefine((list, ctx) => {
        const seen = new Set<string>();
        for (const [i, it] of list.entries()) {
          if (seen.has(it.issuer)) ctx.addIssue({ code: 'custom', path: [i, 'issuer'], message: `duplicate issuer ${JSON.stringify(it.issuer)}` });
          seen.add(it.issuer);
        }
      }).describe('Outside issuers whose JWT access tokens are accepted, verified against their JWKS. Each item: `issuer`, `jwksUrl`, `audience` (required); `algorithms` (default ["RS256","ES256","EdDSA"], asymmetric only), `clockToleranceSeconds` (30), `subjectClaim` ("sub"), `subjectPrefix` (""), `kind` ("user"), `accountClaim`, `requiredScopes` ([]), `requireExpiry` (true), `tokenTypes` (["at+jwt","JWT"]), `allowUntyped` (true).'),
      jwks: z.object({
        timeoutMs: z.number().int().min(1).max(60000).default(2000).describe('JWKS fetch timeout.'),
        maxBytes: z.number().int().min(1024).default(262144).describe('Largest JWKS document accepted.'),
        cacheSeconds: z.number().int().min(1).default(600).describe('Age after which a JWKS is refreshed in the background (the old one keeps verifying).'),
        cooldownSeconds: z.number().min(0).default(30).describe('Least time between refetches caused by an unknown `kid`.'),
      }).strict().prefault({}).describe('JWKS fetching and caching.'),
    }).strict().prefault({}).describe('JWT access tokens of outside identity providers.'),
    introspection: introspectionSchema.optional().describe('RFC 7662 introspection of opaque tokens (absent: not used).'),
  }),
  carriers: () => ({ headers: ['authorization', 'authentication'] }),
  create(options, deps) {
    const base = `Bearer realm="${options.realm.replace(/["\\]/g, '\\$&')}"`;
    const external = options.external.issuers.length === 0 ? undefined
      : new ExternalJwtVerifier(options.external.issuers, options.external.jwks, BEARER_SCHEME, deps.logger, deps.now);
    const intro = options.introspection;
    const introspector = intro === undefined ? undefined : new Introspector({
      url: intro.url, clientId: intro.clientId, clientSecret: intro.clientSecret ?? readSecretFile(intro.clientSecretFile!),
      timeoutMs: intro.timeoutMs, connections: intro.connections, maxBytes: intro.maxBytes,
    });
    for (const url of [...options.external.issuers.map((i) => i.jwksUrl), ...(intro ? [intro.url] : [])]) {
      if (isCleartextRemote(url)) deps.logger.warn({ url }, 'authn.bearer: an outside token source is reached over plain http; use https');
    }
    const onlyIssued = external === undefined && introspector === undefined;

    const malformed = (detail: string, description: string) => new TrackgateError('TG_ERR_MALFORMED_CREDENTIALS', 'malformed Bearer credentials', {
      reason: 'malformed', detail, headers: { 'www-authenticate': `${base}, error="invalid_request", error_description="${description}"` },
    });

    /** The token of a `Bearer` header value; undefined when the header is absent or another scheme. */
    const tokenOf = (value: string | string[] | undefined, header: string): string | undefined => {
      if (typeof value !== 'string' || value.length < 6 || value.slice(0, 6).toLowerCase() !== 'bearer') return undefined;
      if (value.length === 6) throw malformed(`${header}: Bearer without a token`, 'The Bearer token is missing');
      const sep = value.charCodeAt(6);
      if (sep !== 0x20 && sep !== 0x09) return undefined; // `BearerX …`: another scheme
      const token = value.slice(7).replace(/^ +/, '');
      if (sep === 0x09 || token === '') throw malformed(`${header}: Bearer without a token`, 'The Bearer token is missing');
      if (token.length > options.maxTokenLength) throw malformed(`${header}: token longer than ${options.maxTokenLength}`, 'The Bearer token is too long');
      if (!B64TOKEN_RE.test(token)) throw malformed(`${header}: token is not a b64token`, 'The Bearer token is not a valid b64token');
      return token;
    };

    const insufficientScope = (missing: readonly string[]) => new TrackgateError('TG_ERR_FORBIDDEN', 'forbidden', {
      reason: 'forbidden', detail: `bearer token lacks scope ${missing.join(' ')}`,
      headers: { 'www-authenticate': `${base}, error="insufficient_scope", error_description="The access token lacks a required scope", scope="${missing.join(' ')}"` },
    });
    const checked = (v: VerifiedToken): Identity => {
      if (v.missingScopes.length > 0) throw insufficientScope(v.missingScopes);
      return v.identity;
    };

    return {
      id: 'bearer',
      extract(req): BearerCredential | undefined {
        const a = tokenOf(req.headers.authorization, 'Authorization');
        const b = options.legacyAuthenticationHeader ? tokenOf(req.headers.authentication, 'Authentication') : undefined;
        if (a !== undefined && b !== undefined && a !== b) {
          throw new TrackgateError('TG_ERR_AMBIGUOUS_CREDENTIALS', 'request carries more than one credential', {
            reason: 'ambiguous', detail: 'different Bearer tokens in Authorization and Authentication',
            headers: { 'www-authenticate': `${base}, error="invalid_request", error_description="Two different Bearer tokens"` },
          });
        }
        const token = a ?? b;
        if (token === undefined) return undefined;
        return { scheme: 'bearer', cacheParts: [token], token };
      },
      async verify(cred: BearerCredential): Promise<Identity> {
        const { token } = cred;
        if (options.issuedTokens) {
          if (onlyIssued) return identityFromStoredToken(deps, token, { types: ['access'], scheme: BEARER_SCHEME });
          if (await isIssuedToken(deps, token)) return identityFromStoredToken(deps, token, { types: ['access'], scheme: BEARER_SCHEME });
        }
        const fromJwt = external === undefined ? undefined : await external.verify(token);
        if (fromJwt !== undefined) return checked(fromJwt);
        if (introspector !== undefined) {
          return checked(identityFromIntrospection(await introspector.introspect(token), {
            scheme: BEARER_SCHEME, kind: intro!.kind, subjectPrefix: intro!.subjectPrefix, accountField: intro!.accountField,
            audience: intro!.audience, requiredScopes: intro!.requiredScopes,
          }, deps.now()));
        }
        throw new TrackgateError('TG_ERR_INVALID_CREDENTIALS', 'invalid credentials', { reason: 'invalid', detail: 'bearer: token from no configured source' });
      },
      challenge(ctx: ChallengeContext): string {
        const f = ctx.failed;
        if (f?.scheme !== 'bearer' || (f.reason !== 'invalid' && f.reason !== 'expired')) return base;
        return `${base}, error="invalid_token", error_description="${f.reason === 'expired' ? 'The access token expired' : 'The access token is invalid'}"`;
      },
    };
  },
});

/**
 * Whether the store holds a record for `token` (any type). Used only when outside sources are configured,
 * to decide whether the store's verdict is final; `identityFromStoredToken` then reads the record again.
 */
async function isIssuedToken(deps: Pick<AuthnDeps, 'store'>, token: string): Promise<boolean> {
  try {
    return (await deps.store.getToken(lookupDigest(token))) !== undefined;
  } catch (err) {
    throw sourceUnavailable('token store', `${deps.store.engine}: ${err instanceof Error ? err.message : String(err)}`, err);
  }
}

function readSecretFile(path: string): string {
  let value: string;
  try {
    value = readFileSync(path, 'utf8').replace(/\r?\n$/, '');
  } catch (err) {
    throw new Error(`authn.bearer.introspection.clientSecretFile: cannot read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  if (value === '') throw new Error('authn.bearer.introspection.clientSecretFile: file is empty');
  return value;
}
