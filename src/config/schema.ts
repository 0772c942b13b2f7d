/**
 * The one documented config schema. Every key has a default and a description; `docs/config.md` is
 * generated from this file (`npm run docs:config`) and a test fails when the two drift apart.
 *
 * This layer depends on nothing of ours: the blocks of the credential forms (`authn.<id>`) and token-endpoint
 * dialects (`issue.<id>`), and the checks of keys whose meaning a higher layer owns (canonical paths, proxy
 * addresses, the built-in stripped headers), are handed to {@link configSchemaOf} by the composition root
 * (src/config-schema.ts), which builds the one schema trackgate loads.
 *
 * Any key can be overridden from the environment: `TRACKGATE_` + the key path in UPPER_SNAKE_CASE with
 * `_` between levels (`cache.maxEntries` → `TRACKGATE_CACHE_MAX_ENTRIES`); see `env.ts`.
 */
import { z } from 'zod';
import { isRedisUrl, node, parseRedisUrl, type RedisUrl } from './redis-url.js';
import { migrationSchema } from './migration-schema.js';

const hostPort = z.string().regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/, 'must be host:port, e.g. 127.0.0.1:8080')
  .refine((s) => Number(s.slice(s.lastIndexOf(':') + 1)) <= 65535, 'port must be 0-65535');

const httpUrl = z.string().refine((s) => {
  try {
    const u = new URL(s);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.username === '' && u.password === '';
  } catch { return false; }
}, 'must be an http(s) URL without credentials, e.g. http://127.0.0.1:3000');

const STORE_URL_FORMS = 'sqlite:<path>, redis://[user:password@]host[:port][/db], redis-sentinel://host:port[,host:port…][/db]#<master>, redis-cluster://host:port[,host:port…] (rediss… for TLS), or redis: with store.redis.nodes';

const storeUrl = z.string().superRefine((s, ctx) => {
  if (s.startsWith('sqlite:')) {
    if (s.length === 'sqlite:'.length) ctx.addIssue({ code: 'custom', message: `sqlite: needs a path; store.url is ${STORE_URL_FORMS}` });
    return;
  }
  if (!isRedisUrl(s)) {
    ctx.addIssue({ code: 'custom', message: `must be ${STORE_URL_FORMS}` });
    return;
  }
  try {
    parseRedisUrl(s);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: `${(err as Error).message}; store.url is ${STORE_URL_FORMS}` });
  }
});

/** A host[:port] of store.redis.nodes (the port defaults to 6379, 26379 for sentinels). */
const redisNode = z.string().superRefine((s, ctx) => {
  try {
    node(s, 6379);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
  }
});

const filePath = z.string().min(1);

/** `store.redis`: what the URL cannot say (files, TLS material, timeouts), or the whole topology with `url: redis:`. */
const redisStore = z.object({
  mode: z.enum(['standalone', 'sentinel', 'cluster']).optional().describe('Topology: one server, a Sentinel-managed master, or a Redis Cluster. Default: what store.url says (redis-sentinel://, redis-cluster://), else standalone.'),
  nodes: z.array(redisNode).default([]).describe('With `store.url: redis:`: the server (standalone), the sentinels (sentinel; port default 26379) or some cluster nodes to discover the rest from (cluster), host[:port] each. Empty when store.url names them.'),
  masterName: z.string().min(1).optional().describe('Sentinel mode: the name the sentinels monitor the master under (the #fragment of a redis-sentinel URL).'),
  db: z.number().int().min(0).max(15).optional().describe('Database number (standalone and sentinel; a cluster has 0 only). Default: the URL\'s /db, else 0.'),
  username: z.string().min(1).optional().describe('ACL user name (Redis 6+). Default: the URL\'s, else `default`.'),
  passwordFile: filePath.optional().describe('File holding the password (a mounted Kubernetes Secret; one trailing newline ignored), relative to the working directory. Read at start. Not with a password in store.url or passwordEnv.'),
  passwordEnv: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name').optional().describe('Name of an environment variable holding the password (e.g. REDIS_PASSWORD, from a Secret); the variable must be set. Not with passwordFile or a password in store.url.'),
  sentinelPasswordFile: filePath.optional().describe('Sentinel mode: file holding the sentinels\' own password (`requirepass` of the sentinels), when they have one; the user is `username`. Default: the sentinels need none.'),
  tls: z.object({
    enabled: z.boolean().default(false).describe('Connect with TLS (implied by a rediss… URL).'),
    caFile: filePath.optional().describe('PEM file of the CA(s) the server certificate must chain to, instead of the system\'s. Needs TLS.'),
    certFile: filePath.optional().describe('PEM client certificate (mutual TLS); with keyFile.'),
    keyFile: filePath.optional().describe('PEM private key of certFile.'),
    servername: z.string().min(1).optional().describe('Name the server certificate must hold (SNI), when it differs from the host connected to (e.g. nodes addressed by IP).'),
  }).strict().prefault({}).describe('TLS to Redis (and to the sentinels).'),
  keyPrefix: z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'must be 1-64 of A-Z a-z 0-9 _ . : -').default('tg:').describe('Prefix of every key and channel trackgate uses, so several deployments can share one Redis without seeing each other\'s tokens. The default keeps the keys of earlier versions. In cluster mode keys carry hash tags: a subject\'s tokens {<prefix>s:<hash>}…, users {<prefix>}… (see docs/configuration.md).'),
  connectTimeoutMs: z.number().int().min(100).max(60000).default(2000).describe('Time to open a connection (to a server or a sentinel).'),
  commandTimeoutMs: z.number().int().min(50).max(60000).default(1000).describe('A command that gets no answer in this time fails (503 TG_ERR_STORE_UNAVAILABLE); never re-sent.'),
  waitReplicas: z.number().int().min(0).max(10).default(0).describe('Replicas that must acknowledge a token or user write (Redis WAIT) before the client gets the token: with 1, a failover cannot lose a token a client has. Not met within waitTimeoutMs: 503 TG_ERR_STORE_UNAVAILABLE. 0: answer at once (a failover may lose the last writes: docs/configuration.md).'),
  waitTimeoutMs: z.number().int().min(1).max(10000).default(200).describe('How long a write waits for waitReplicas acknowledgements.'),
}).strict().prefault({}).describe('Redis store: topology, credentials, TLS, key prefix, timeouts, durability.');

type RedisStoreConfig = z.output<typeof redisStore>;

/** The checks between store.url and store.redis: each fact in one place, and what a topology needs. */
function checkRedisStore(store: { url: string; redis: RedisStoreConfig }, ctx: z.RefinementCtx): void {
  const r = store.redis;
  const issue = (path: string[], message: string): void => { ctx.addIssue({ code: 'custom', path, message }); };
  if (!isRedisUrl(store.url)) return;
  let url: RedisUrl;
  try {
    url = parseRedisUrl(store.url);
  } catch {
    return; // reported on store.url
  }
  const bare = url.nodes.length === 0;
  if (bare && r.nodes.length === 0) issue(['redis', 'nodes'], 'store.url redis: needs store.redis.nodes (or name the servers in store.url)');
  if (!bare && r.nodes.length > 0) issue(['redis', 'nodes'], 'give the servers in store.url or in store.redis.nodes, not both');
  if (!bare && r.mode !== undefined && r.mode !== url.mode) issue(['redis', 'mode'], `store.url says ${url.mode}`);
  const mode = bare ? (r.mode ?? 'standalone') : url.mode;
  if (mode === 'standalone' && r.nodes.length > 1) issue(['redis', 'nodes'], 'standalone takes one server; several are mode sentinel or cluster');
  if (url.masterName !== undefined && r.masterName !== undefined && url.masterName !== r.masterName) issue(['redis', 'masterName'], 'differs from the #master of store.url');
  if (mode === 'sentinel' && url.masterName === undefined && r.masterName === undefined) issue(['redis', 'masterName'], 'sentinel mode needs the master name');
  if (mode !== 'sentinel' && r.masterName !== undefined) issue(['redis', 'masterName'], 'only sentinel mode has a master name');
  if (mode !== 'sentinel' && r.sentinelPasswordFile !== undefined) issue(['redis', 'sentinelPasswordFile'], 'only sentinel mode has sentinels');
  if (mode === 'cluster' && (r.db ?? url.db ?? 0) !== 0) issue(['redis', 'db'], 'a Redis Cluster has database 0 only');
  if (url.db !== undefined && r.db !== undefined && url.db !== r.db) issue(['redis', 'db'], 'differs from the /db of store.url');
  if (url.username !== undefined && r.username !== undefined && url.username !== r.username) issue(['redis', 'username'], 'differs from the user of store.url');
  const passwords = [url.password !== undefined, r.passwordFile !== undefined, r.passwordEnv !== undefined].filter(Boolean).length;
  if (passwords > 1) issue(['redis', 'passwordFile'], 'give the password one way: in store.url, passwordFile or passwordEnv');
  const tls = url.tls || r.tls.enabled;
  for (const k of ['caFile', 'certFile', 'keyFile', 'servername'] as const) {
    if (r.tls[k] !== undefined && !tls) issue(['redis', 'tls', k], 'needs TLS: a rediss… URL or store.redis.tls.enabled');
  }
  if (r.waitReplicas > 0 && r.waitTimeoutMs >= r.commandTimeoutMs) issue(['redis', 'waitTimeoutMs'], 'must be below store.redis.commandTimeoutMs (WAIT blocks that long)');
  if ((r.tls.certFile === undefined) !== (r.tls.keyFile === undefined)) issue(['redis', 'tls', r.tls.certFile === undefined ? 'certFile' : 'keyFile'], 'certFile and keyFile go together');
}

/**
 * SQLite page cache per connection (`store.sqliteCacheBytes`): SQLite's own default. The store is read on
 * validation-cache misses only, and a page outside the cache is one read from the OS file cache.
 * Why and measured: docs/performance-notes.md#sqlite-page-cache-of-2-mib.
 */
export const DEFAULT_SQLITE_CACHE_BYTES = 2 * 1024 * 1024;

/** Upper bound of an explicit `workers` count (a typo such as 100 is an error, not 100 processes). */
export const MAX_WORKERS = 64;
/** `workers: auto` never forks more than this many, whatever the machine. */
export const AUTO_WORKERS_MAX = 16;

/**
 * The checks of keys whose meaning a higher layer owns; the composition root passes the functions that layer
 * exports, so this file needs none of them.
 */
export interface SchemaChecks {
  /** The canonical form of a path (src/authn/canonical-path.ts, dot segments refused); throws when it has none. */
  canonicalPath(path: string): string;
  /** Whether a `proxy.trustedProxies` entry is an IP address or CIDR range (src/proxy/trusted-proxies.ts). */
  isAddressOrCidr(entry: string): boolean;
  /** The names of a `proxy.keepHeaders` list that are not built-in stripped headers (src/proxy/untrusted-headers.ts). */
  unknownKeepHeaders(list: readonly string[]): readonly string[];
  /** The credential form ids (src/authn/ids.ts), which `migration.policies[].forms` must name. */
  readonly formIds?: readonly string[];
}

/** A rule path must be what the request paths it is compared with are: canonical. */
function canonicalRulePath(checks: SchemaChecks) {
  return (path: string, ctx: z.RefinementCtx): void => {
    let canonical: string;
    try {
      canonical = checks.canonicalPath(path);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: `not a canonical path (${(err as Error).message})` });
      return;
    }
    if (canonical !== path) ctx.addIssue({ code: 'custom', message: `not a canonical path: write it as ${canonical}` });
  };
}
/** A header name (RFC 9110 token), or a prefix of one ending in `*`. */
const headerPattern = z.string().regex(/^[!#$%&'+.^_`|~0-9A-Za-z-]+\*?$/, 'must be a header name, or a prefix ending in *');

const KINDS = ['user', 'device', 'app', 'admin', 'anonymous'] as const;
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

const routeRule = (checks: SchemaChecks) => z.object({
  name: z.string().regex(/^[a-z0-9][a-z0-9_.-]{0,62}$/, 'must be 1-63 characters of a-z, 0-9, _ . - (it is a metric label)').optional()
    .describe('The rule\'s name in the report-only metric and log field; absent: `routes[<index>]`.'),
  mode: z.enum(['enforce', 'report-only']).optional().describe('Absent: `enforce`. `report-only`: the rule decides nothing; a request it would refuse (deny, or an identity its lists leave out) is counted in `trackgate_report_only_denials_total{rule}` and logged (`wouldDeny`), and the next matching rule decides.'),
  path: z.string().startsWith('/').superRefine(canonicalRulePath(checks)).describe('Path prefix, matched at a segment boundary (`/a` matches `/a` and `/a/b`, not `/ab`), on the canonical request path (docs/SECURITY.md, "Paths and route rules"); it must itself be written canonically (no `;`, dot or empty segments, percent-encoding only where needed, upper-case hex).'),
  exact: z.boolean().optional().describe('Absent: false. Match the path itself only, not the paths below it: `{ path: /, exact: true }` is the root page alone, where a plain `/` is every path.'),
  methods: z.array(z.enum(METHODS)).optional().describe('Methods the rule applies to; all when absent.'),
  access: z.union([
    z.enum(['public', 'authenticated', 'deny']),
    z.object({
      kinds: z.array(z.enum(KINDS)).optional(),
      schemes: z.array(z.string()).optional(),
      accounts: z.array(z.string()).optional(),
      subjects: z.array(z.string()).optional(),
    }).strict(),
  ]).describe('`public` (no credentials needed, none forwarded), `authenticated` (any identity), `deny`, or lists an identity must match (each list present must contain the identity\'s value).'),
  invalidCredentials: z.enum(['reject', 'anonymous']).optional().describe('Absent: `reject`. What a wrong, expired or malformed credential gets on this rule\'s paths: `reject` (401/400), or `anonymous`: forwarded with an identity of kind `anonymous` (`sub` and `scheme` "anonymous"), the auth-attempt metric and the access line still giving the reason, as the telematics seed\'s API "will accept any value with no error message". Only where the rule admits an anonymous identity; a request with no credential still gets 401 (docs/configuration.md, "Invalid credentials as anonymous").'),
}).strict().refine((r) => r.invalidCredentials !== 'anonymous' || admitsAnonymous(r.access), {
  message: 'invalidCredentials: anonymous needs an access that checks credentials and admits the anonymous identity (kind, scheme and subject "anonymous", no account): not public, deny, or a list that leaves it out', path: ['invalidCredentials'],
});

/** Whether a rule's access admits the identity an invalid credential becomes under `invalidCredentials: anonymous`. */
function admitsAnonymous(access: 'public' | 'authenticated' | 'deny' | { kinds?: string[]; schemes?: string[]; accounts?: string[]; subjects?: string[] }): boolean {
  if (typeof access === 'string') return access === 'authenticated';
  const has = (list: string[] | undefined) => list === undefined || list.includes('anonymous');
  return has(access.kinds) && has(access.schemes) && has(access.subjects) && access.accounts === undefined;
}

/** The config blocks of a registry's modules, by id (`authn.<id>`, `issue.<id>`). */
export type ModuleShape = Record<string, z.ZodType>;

/** A registry's modules as config blocks: each strict like every other block (a misspelt option is an error), defaulted whole. */
export function moduleShape<const M extends readonly { readonly id: string; readonly options: z.ZodType }[]>(modules: M) {
  const strict = (s: z.ZodType): z.ZodType => (s instanceof z.ZodObject ? s.strict() : s);
  return Object.fromEntries(modules.map((m) => [m.id, strict(m.options).prefault({})])) as {
    [K in M[number] as K['id']]: z.ZodPrefault<K['options']>;
  };
}

const throttleRule = (limit: number, what: string) => z.object({
  limit: z.number().int().min(0).default(limit).describe(`Failed password checks allowed per ${what} per window (0 = unlimited).`),
  windowSeconds: z.number().int().min(1).default(300).describe('Sliding window length.'),
}).strict().prefault({});

/**
 * The config schema, with `authn` holding the form blocks and `issue` the dialect blocks given (the registries'
 * option schemas, src/authn/registry.ts and src/issue/registry.ts), checked with `checks`.
 */
export function configSchemaOf<A extends ModuleShape, I extends ModuleShape>(authnShape: A, issueShape: I, checks: SchemaChecks) {
  return z.object({
    listen: hostPort.default('127.0.0.1:8080').describe('Proxy listen address (env TRACKGATE_LISTEN).'),
    admin: z.object({
      listen: hostPort.default('127.0.0.1:9090').describe('Admin server (metrics, health, JWKS) listen address (env TRACKGATE_ADMIN_LISTEN).'),
      operatorsFile: z.string().min(1).optional().describe('htpasswd file of the operators who may open the admin port\'s `/admin/` paths (the operator page, `/admin/inventory`) with HTTP Basic: `name:hash` lines, hashes as `trackgate hash-password` or `htpasswd -B` write them; relative to the config file\'s folder, read again when it changes. Absent: those paths answer 403. The other admin paths stay open.'),
      openapiPaths: z.array(z.string().regex(/^\/[^?#\s]*$/)).default([]).describe('Upstream paths `/openapi.json` lists as `GET` operations forwarded with the identity header (any credential form), so that Swagger UI (`/docs/`) can "Try it out" on them after "Authorize". Documentation only: route rules decide access.'),
    }).strict().prefault({}).describe('Admin server.'),
    upstream: z.object({
      url: httpUrl.default('http://127.0.0.1:3000').describe('The protected service (env TRACKGATE_UPSTREAM).'),
      connections: z.number().int().min(1).max(4096).default(128).describe('Maximum keep-alive connections to the upstream.'),
      connectTimeoutMs: z.number().int().min(1).default(5000).describe('Connect timeout; exceeded → 504.'),
      headersTimeoutMs: z.number().int().min(1).default(30000).describe('Time to wait for response headers; exceeded → 504.'),
      bodyTimeoutMs: z.number().int().min(0).default(300000).describe('Maximum idle time between response body chunks (0 = none).'),
      keepAliveTimeoutMs: z.number().int().min(1).default(4000).describe('Idle keep-alive socket lifetime (keep it below the upstream\'s own).'),
      preserveHost: z.boolean().default(false).describe('Forward the client\'s Host header instead of the upstream\'s host.'),
      websockets: z.boolean().default(true).describe('Proxy WebSocket upgrades (authenticated like any request).'),
      websocketMaxLifetimeSeconds: z.number().int().min(0).default(3600).describe('A WebSocket is closed (code 1008) this long after it opened (0 = no limit); it is closed earlier (code 4401) when the token it was opened with expires or is revoked.'),
    }).strict().prefault({}).describe('Where authenticated requests go.'),
    store: z.object({
      url: storeUrl.default('sqlite:data/trackgate.sqlite').describe('Token store (env TRACKGATE_STORE): sqlite:<path> (relative to the working directory; one replica), or Redis shared by several replicas: redis://[user:password@]host[:port][/db], redis-sentinel://[user:password@]host:port[,host:port…][/db]#<master>, redis-cluster://[user:password@]host:port[,host:port…] (rediss://, rediss-sentinel://, rediss-cluster:// for TLS), or redis: with the servers in store.redis.nodes. Percent-encode @ : / # , in a password, or use store.redis.passwordFile.'),
      sqliteCacheBytes: z.number().int().min(64 * 1024).max(1024 * 1024 * 1024).default(DEFAULT_SQLITE_CACHE_BYTES).describe('SQLite store only: the page cache of each process\'s connection (`PRAGMA cache_size`). The store is read on validation-cache misses only; pages outside this cache come from the operating system\'s file cache, a read each. The SQLite build trackgate ships defaults to 16 MiB, which a pass over 100,000 stored tokens fills, in every process.'),
      redis: redisStore,
    }).strict().superRefine(checkRedisStore).prefault({}).describe('Durable state: issued tokens, revocations.'),
    accountsFile: z.string().default('accounts.yaml').describe('Accounts file (YAML), relative to the config file\'s folder.'),
    secretFile: z.string().optional().describe('File holding the shared HMAC secret (≥ 32 bytes) used for cache keys, fingerprints and stateless nonces. Replicas must share it. Absent: a random per-process secret (logged as a warning).'),
    identity: z.object({
      header: z.string().regex(/^[A-Za-z0-9-]+$/).default('X-Identity-Assertion').describe('Name of the signed identity header sent upstream.'),
      issuer: z.string().default('trackgate').describe('`iss` claim.'),
      audience: z.string().default('upstream').describe('`aud` claim.'),
      ttlSeconds: z.number().int().min(5).max(3600).default(60).describe('Lifetime of a minted header (`exp - iat`).'),
      bindToRequest: z.boolean().default(false).describe('Add `htm`/`htu` (method, path) and sign each request: a captured header cannot be replayed elsewhere; costs one signature per request.'),
      cacheEntries: z.number().int().min(0).max(10_000_000).default(10_000).describe('Most minted headers kept for reuse, one per distinct identity (user, kind, account, instance, credential expiry) whatever credential carried it; least recently used dropped first. An identity whose header is not cached is signed again (one Ed25519 signature, ~30-50 µs). 0 signs every request.'),
      keysFile: z.string().optional().describe('Private JWK set (EdDSA Ed25519 or ES256). The key named by `activeKid`, else the first, signs; all are published. Reloaded on change (mounted Kubernetes Secret). Absent: a development key is generated at start.'),
      activeKid: z.string().optional().describe('kid of the signing key; defaults to the first key of the set.'),
      minPublishSeconds: z.number().int().min(0).max(86400).default(660).describe('A key signs only once it has been published this long (its `published_at` in the keys file, or the reload that brought it): until then the previous key keeps signing, and the switch happens by itself. Upstreams cache the JWKS (jose: 10 min, refetching an unknown kid at most every 30 s; this JWKS response: max-age 60 s), so a key used at once is rejected. See docs/key-rotation.md.'),
    }).strict().prefault({}).describe('The signed identity header.'),
    cache: z.object({
      maxEntries: z.number().int().min(1).default(100000).describe('Maximum validated credentials kept.'),
      maxNegativeEntries: z.number().int().min(0).default(10000).describe('Maximum rejected credentials kept (negative entries), apart from `maxEntries`: a rejection only evicts an older rejection, never a validated credential, so a flood of random tokens cannot push valid users out of the cache. 0 caches no rejection.'),
      admission: z.enum(['frequency', 'lru']).default('frequency').describe('How a newly validated credential gets into a full cache. `frequency` (TinyLFU): only when it has been used more often lately than the least recently used credential it would evict, so a stream of one-off valid tokens (minted in a loop, e.g. anonymous users) cannot push out the credentials in regular use; a new credential may then be verified two or three times before it is kept. `lru`: always, evicting the least recently used. `frequency` keeps a sketch of 16-32 bytes per `maxEntries` (2 MiB for 100,000), outside `maxBytes`.'),
      maxBytes: z.number().int().min(1024).default(64 * 1024 * 1024).describe('Approximate memory bound of the validation cache (its rows, subject strings and cached rejections); also caps the rows it reserves at start (maxBytes / 152 B for credentials, maxBytes / 536 B for rejections).'),
      ttlSeconds: z.number().int().min(0).default(300).describe('Lifetime of a positive entry; never longer than the credential\'s own expiry.'),
      negativeTtlSeconds: z.number().int().min(0).default(5).describe('Lifetime of a rejected credential (a wrong-password flood costs one hash per distinct credential per window).'),
    }).strict().prefault({}).describe('Validation cache.'),
    authn: z.object({
      ...authnShape,
      rejectAmbiguous: z.boolean().default(true).describe('Reject a request carrying two different credentials with 400.'),
    // Every key has a default (a module's block is defaulted whole, see moduleShape), which a generic shape cannot show.
    }).strict().prefault({} as never).describe('Credential forms; each has `enabled`.'),
    issue: z.object({
      ...issueShape,
      refreshGraceSeconds: z.number().int().min(0).max(300).default(10).describe('A spent refresh token presented again within this window gets the same new pair back (a retry after a lost response); after it, reuse revokes the whole token family.'),
    }).strict().prefault({} as never).describe('Legacy token endpoints (dialects); each has `enabled` and a path prefix.'),
    throttle: z.object({
      user: throttleRule(10, 'user name').describe('Per user name.'),
      ip: throttleRule(50, 'client address').describe('Per client address.'),
      lockout: z.object({
        hardLimit: z.number().int().min(0).default(100).describe('Failed checks per user name per window (across all addresses) up to which an address with no failures of its own for that user may still try once past `throttle.user.limit`; past it only trusted addresses may. At or below `throttle.user.limit` (e.g. 0) there is no such exemption.'),
        trustSeconds: z.number().int().min(0).default(2592000).describe('How long an address that passed a password check for a user stays trusted for that user: it may try past both user limits (its own failures still count against `throttle.user.limit`, and `throttle.ip` still applies). 0: no trusted addresses.'),
      }).strict().prefault({}).describe('Targeted lockout protection: who may still try once a user name is over its limit (docs/SECURITY.md, "Password guessing and lockout").'),
    }).strict().prefault({}).describe('Brute-force throttling of every password check (token endpoints, Basic, Digest, instance keys and admin passwords): 429 with Retry-After.'),
    passwords: z.object({
      failureFloorMs: z.number().int().min(0).max(10000).default(0).describe('Least time a failed password check takes, ms; the floor actually used is the larger of this and 1.25 × the slowest recent hash evaluation (so unknown users and every hash type fail in the same time).'),
      maxFailureFloorMs: z.number().int().min(1).max(60000).default(2000).describe('Most time the failure floor may reach, ms; a hash slower than this would stand out (re-hash it).'),
      maxConcurrentHashes: z.number().int().min(1).max(256).default(4).describe('Password hashes (scrypt, bcrypt, argon2id) one process evaluates at once; more wait their turn (their wait counts in the failure floor). Keeps a burst of cache misses from taking the CPU from cached requests. 4 is the size of Node\'s thread pool.'),
      referenceScryptLn: z.number().int().min(10).max(20).default(14).describe('log2 N of the reference scrypt evaluation that a failed check with no slow hash of its own (unknown user, apr1, {SHA}) performs; keep it at the cost of the hashes most users have.'),
    }).strict().prefault({}).describe('Password-check timing (no user enumeration by timing).'),
    routes: z.array(routeRule(checks)).default([]).describe('Access rules, first match wins; a path no rule matches needs any valid identity. The health and JWKS endpoints live on the admin port and need no rule.'),
    routing: z.object({
      caseInsensitive: z.boolean().default(false).describe('Match route rules and token-endpoint paths ignoring case (`/Admin` is `/admin`), for upstreams that route that way (IIS/ASP.NET). Paths are still forwarded in the client\'s case. Non-ASCII letters without one plain case pair (`ı`, `ſ`, `ß`, `ς`) are then refused (400 TG_ERR_AMBIGUOUS_PATH). Applies on reload.'),
      corsOrigins: z.array(z.string().regex(/^https?:\/\/[^/?#\s]+$/, 'an origin: scheme://host[:port], no path')).default([]).describe('Origins whose browser pages may call the proxy port (CORS), such as the admin port\'s Swagger UI (`http://127.0.0.1:9090`) for its "Try it out". trackgate answers their preflights itself and names them in `Access-Control-Allow-Origin`; never with `Allow-Credentials`, so the browser adds no cookie or saved login of its own: a listed page can only send credentials typed into it. Empty (the default): no CORS at all. docs/SECURITY.md, "CORS". Applies on reload.'),
      bodyMethodOverride: z.boolean().default(true).describe('Assume the upstream may take the method from a `_method` field of a POST body (Rails\' Rack::MethodOverride, Laravel, Spring\'s HiddenHttpMethodFilter). trackgate does not parse forwarded bodies, so a POST with a body is refused (400 TG_ERR_METHOD_OVERRIDE) on a path where a route rule holds another method (PUT, PATCH, DELETE, …) to a stricter rule than POST. false: the upstream takes the method from the request line only. Override headers and a `_method` query parameter are refused either way. Applies on reload.'),
    }).strict().prefault({}).describe('How request paths are matched against route rules (every path is canonicalised and its ambiguous forms refused whatever these keys say; docs/SECURITY.md, "Paths and route rules").'),
    migration: migrationSchema(checks),
    limits: z.object({
      maxRequestBodyBytes: z.number().int().min(0).default(1024 * 1024 * 1024).describe('Requests declaring a larger Content-Length get 413; streamed bodies are cut off there.'),
      maxHeaderBytes: z.number().int().min(1024).max(1024 * 1024).default(16384).describe('Largest request head accepted; larger → 431.'),
      requestTimeoutMs: z.number().int().min(0).default(300000).describe('Node server requestTimeout (whole request received).'),
      headersTimeoutMs: z.number().int().min(1).default(20000).describe('Time a client has to send its request head.'),
      keepAliveTimeoutMs: z.number().int().min(1).default(65000).describe('Idle client keep-alive.'),
      bufferBodyBytes: z.number().int().min(0).max(16 * 1024 * 1024).default(64 * 1024).describe('Request bodies up to this size are read whole before the request takes an upstream connection, so a slow client holds no upstream connection while it sends; larger bodies are streamed (after their first bufferBodyBytes). 0 streams every body.'),
      bufferTotalBytes: z.number().int().min(0).default(32 * 1024 * 1024).describe('Most request-body bytes buffered in memory at once (all requests); past it, bodies are streamed.'),
      bodyIdleTimeoutMs: z.number().int().min(0).default(10000).describe('A request body that brings no byte for this long is answered 408 (TG_ERR_BODY_TIMEOUT), whether buffered or streamed (0 = no limit). Time the upstream takes to read a streamed body does not count.'),
      bodyMinBytesPerSecond: z.number().int().min(0).default(1024).describe('After its first bodyIdleTimeoutMs, a request body must arrive at this average rate at least, else 408 (0 = no minimum).'),
      sendIdleTimeoutMs: z.number().int().min(0).default(60000).describe('A client that reads nothing of a forwarded response for this long is disconnected, and its upstream connection freed (0 = no limit).'),
      lingerTimeoutMs: z.number().int().min(0).default(5000).describe('After answering a request whose body is still arriving (the upstream failed, or answered early), trackgate reads and drops the rest of the body for at most this long before it closes the connection, so the client reads the answer instead of a reset (a lingering close, as nginx does; the body must keep the limits.bodyIdleTimeoutMs pace). 0 closes at once. Applies on reload.'),
      lingerMaxBytes: z.number().int().min(0).default(8 * 1024 * 1024).describe('Most bytes of such a body read and dropped before the connection is closed anyway. Applies on reload.'),
      upstreamSharePerClient: z.number().gt(0).max(1).default(0.5).describe('Fraction of upstream.connections one client (a credential, or for public paths a client address) may hold at once; its further requests wait for their turn.'),
      queueMax: z.number().int().min(0).default(4096).describe('Requests that may wait for an upstream connection when all are taken; more → 503 TG_ERR_OVERLOADED.'),
      queuePerClient: z.number().int().min(0).default(512).describe('Of queueMax, how many one client (credential or address) may have waiting.'),
      queueTimeoutMs: z.number().int().min(0).default(10000).describe('A request waiting this long for an upstream connection is answered 503 TG_ERR_OVERLOADED with Retry-After (0 = no limit).'),
      maxConnectionsPerClient: z.number().int().min(0).default(0).describe('Open connections one client address may have (0 = no limit; behind a load balancer or ingress every client shares its address, so set it only where clients connect directly).'),
    }).strict().prefault({}).describe('Request limits.'),
    proxy: z.object({
      trustForwardedProto: z.boolean().default(false).describe('Believe X-Forwarded-Proto from any peer (only where nothing but a TLS-terminating proxy you run can reach trackgate); prefer `trustedProxies`, whose X-Forwarded-Proto is believed anyway.'),
      requestIdHeader: z.string().default('x-request-id').describe('Request id header kept when the client sends a sane one, else generated.'),
      trustedProxies: z.array(z.string().refine((entry) => checks.isAddressOrCidr(entry), 'must be an IP address or CIDR range, e.g. 10.0.0.0/8 or fd00::/8')).default([])
        .describe('Peers (addresses, CIDR ranges) whose forwarding headers are believed: their X-Forwarded-For chain is kept and extended, the client address (throttle key, access log `ip`) is its right-most entry that is not a trusted proxy, and their X-Forwarded-Proto/-Host/-Port/-Prefix/-Server and Forwarded are passed on. From any other peer those headers are replaced (For/Proto/Host) or stripped.'),
      stripHeaders: z.array(headerPattern).default([])
        .describe('Client headers stripped besides the built-in list (identity, client-address and original-URL headers a front proxy would set; see docs/SECURITY.md). A name, or a prefix ending in `*`; matched under every spelling that normalises to it (case, `_` or `.` for `-`).'),
      keepHeaders: z.array(headerPattern).default([]).superRefine((list, ctx) => {
        for (const name of checks.unknownKeepHeaders(list)) ctx.addIssue({ code: 'custom', message: `${name} is not a built-in stripped header` });
      }).describe('Built-in stripped headers to pass through after all (names, or prefixes ending in `*`, of the built-in list). Credential, identity and hop-by-hop headers cannot be kept.'),
    }).strict().prefault({}).describe('Forwarding details.'),
    decision: z.object({
      listen: hostPort.optional().describe('Forward-auth (decision) listener for an edge proxy (nginx `auth_request`, ingress-nginx external auth, Traefik `forwardAuth`, Envoy `ext_authz`); absent: off. It believes the original method, URI and client address the edge sends, so only the edge may reach it: bind it to an address clients cannot reach and list the edge in `decision.allowFrom` (docs/decision-mode.md).'),
      allowFrom: z.array(z.string().refine((entry) => checks.isAddressOrCidr(entry), 'must be an IP address or CIDR range, e.g. 10.0.0.0/8 or fd00::/8')).default(['127.0.0.1/32', '::1/128'])
        .describe('Peers (addresses, CIDR ranges) the decision listener answers; any other peer gets 403 TG_ERR_DECISION_PEER. Set it to the edge proxies\' addresses (the ingress controller\'s pod range).'),
      maxAgeSeconds: z.number().int().min(0).max(300).default(5).describe('Longest time an edge may cache an allowing decision (`Cache-Control: max-age`, also bounded by the credential\'s and the identity header\'s remaining life). A revoked token or a changed route rule reaches clients behind a caching edge within this bound. 0: no decision is cacheable.'),
    }).strict().prefault({}).describe('Decision (forward-auth) mode: an edge proxy asks trackgate whether to let each request through (docs/decision-mode.md).'),
    inventory: z.object({
      enabled: z.boolean().default(true).describe('Keep the inventory: one record per client × credential form × dialect (subject, kind, account, instance; first and last seen, count, last User-Agent), for `GET /admin/inventory`, `trackgate inventory` and trackgate_clients_by_scheme. Sightings are batched in memory and written off the request path. Applies on reload.'),
      flushSeconds: z.number().int().min(1).max(300).default(5).describe('How often a process writes its batched sightings to the store (and on shutdown). Records of other replicas show after their next write. Applies on reload.'),
      retentionDays: z.number().int().min(1).max(3650).default(90).describe('Records not seen for this long are deleted (checked about once an hour). Applies on reload.'),
      recordAddress: z.boolean().default(false).describe('Also keep the client address of the latest sighting. Off by default: an address is personal data. Turning it off stops keeping new addresses; a record\'s address goes at its next sighting. Applies on reload.'),
      maxPending: z.number().int().min(100).max(10_000_000).default(100_000).describe('Most distinct records a process batches between writes (~300 B each); sightings of further new records are dropped and counted (trackgate_inventory_dropped_total) until the next write. Applies on reload.'),
      clientsWindowDays: z.number().int().min(1).max(3650).default(30).describe('Window of trackgate_clients_by_scheme: distinct clients last seen within this many days. Applies on reload.'),
    }).strict().prefault({}).describe('The inventory of who uses which credential form (docs/operations.md, "The inventory").'),
    logging: z.object({
      level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info').describe('pino log level.'),
      access: z.boolean().default(true).describe('One access line per request.'),
    }).strict().prefault({}).describe('Logs.'),
    shutdown: z.object({
      graceMs: z.number().int().min(0).default(10000).describe('On SIGTERM: time in-flight requests get to finish (keep below terminationGracePeriodSeconds).'),
    }).strict().prefault({}).describe('Graceful shutdown.'),
    watch: z.boolean().default(true).describe('Reload the config, accounts and keys files when they change.'),
    workers: z.union([z.number().int().min(1).max(MAX_WORKERS), z.literal('auto')]).default(1)
      .describe(`Processes serving the proxy port (node:cluster; a change needs a restart). 1: a single process, no cluster. N > 1: a primary process forks N workers that share the proxy port (connections handed out round-robin) and serves the admin port itself, metrics aggregated across workers. With the SQLite store the primary holds the brute-force throttle and the Digest nc replay store for all workers (with Redis both live in Redis, shared by every replica), and, without a keys file or secret file, generates the development signing key and HMAC secret once for all. \`auto\`: \`os.availableParallelism()\` (CPUs by affinity mask; a container CPU limit is not seen), at most ${AUTO_WORKERS_MAX}.`),
  }).strict();
}

/** The schema of a config whose `authn` and `issue` blocks are `A` and `I`. */
export type ConfigSchemaOf<A extends ModuleShape, I extends ModuleShape> = ReturnType<typeof configSchemaOf<A, I>>;
/** A config as the layers below the composition root see it: every key but the module blocks. */
export type CoreConfig = z.output<ConfigSchemaOf<{}, {}>>;
export type RouteRule = CoreConfig['routes'][number];
