/**
 * What a hot reload does with each config key: applied to the running app at once (`live`), or only after a
 * restart (`restart`: a socket, pool, store or table built once at start). One declared entry per key path;
 * `App.reload` warns naming every changed restart key, and test/config/reload-policy.test.ts walks every leaf
 * key of the schema against this list (a key with no entry fails there), so the log never says "reloaded"
 * about a value the running app ignores.
 *
 * Patterns are dot paths; `*` matches one segment, a trailing `**` any number (≥ 1) of segments. The first
 * matching entry wins, so exceptions come before the pattern they narrow.
 */
import type { CoreConfig } from './schema.js';

export type ReloadEffect = 'live' | 'restart';

export interface ReloadPolicyEntry {
  readonly pattern: string;
  /** A function when the answer depends on the config (the cluster primary holds some state once for all). */
  readonly effect: ReloadEffect | ((config: CoreConfig) => ReloadEffect);
  /** Why: what reads the value (live) or what is built once (restart). */
  readonly why: string;
}

const RUNTIME = 'read per request from the runtime rebuilt on reload';
const SOCKETS = 'bound once at start';
const POOL = 'the upstream connection pool is built once at start';
const SERVER = 'a Node server option, set again on the running proxy server on reload';
const CACHE = 'the validation cache is built once at start (sized and timed from these)';

export const RELOAD_POLICY: readonly ReloadPolicyEntry[] = [
  { pattern: 'listen', effect: 'restart', why: SOCKETS },
  { pattern: 'admin.listen', effect: 'restart', why: SOCKETS },
  {
    pattern: 'admin.operatorsFile',
    effect: (c) => (c.workers === 1 ? 'live' : 'restart'),
    why: 'single process: the path is read from the running config at each /admin/ request; workers: the primary keeps the path it started with (the file itself is re-read when it changes)',
  },
  { pattern: 'upstream.url', effect: 'restart', why: POOL },
  { pattern: 'upstream.connections', effect: 'restart', why: POOL },
  { pattern: 'upstream.connectTimeoutMs', effect: 'restart', why: POOL },
  { pattern: 'upstream.headersTimeoutMs', effect: 'restart', why: POOL },
  { pattern: 'upstream.bodyTimeoutMs', effect: 'restart', why: POOL },
  { pattern: 'upstream.keepAliveTimeoutMs', effect: 'restart', why: POOL },
  { pattern: 'upstream.preserveHost', effect: 'live', why: RUNTIME },
  { pattern: 'upstream.websockets', effect: 'live', why: RUNTIME },
  { pattern: 'upstream.websocketMaxLifetimeSeconds', effect: 'restart', why: 'the WebSocket lifetime tracker is built once at start' },
  { pattern: 'store.url', effect: 'restart', why: 'the store connection is opened once at start' },
  { pattern: 'store.sqliteCacheBytes', effect: 'restart', why: 'set on the store connection when it opens' },
  { pattern: 'store.redis.**', effect: 'restart', why: 'the Redis connections are opened once at start' },
  { pattern: 'accountsFile', effect: 'live', why: 'the accounts file is read again on every reload (and its watcher follows a new path)' },
  { pattern: 'secretFile', effect: 'restart', why: 'cache keys, fingerprints and nonces are keyed with the secret read at start' },
  { pattern: 'identity.keysFile', effect: 'live', why: 'the keys file is read again on every reload (and its watcher follows a new path)' },
  { pattern: 'identity.activeKid', effect: 'live', why: 'applied to the key ring on reload (after identity.minPublishSeconds)' },
  { pattern: 'identity.minPublishSeconds', effect: 'live', why: 'read by the minter at each signing-key decision' },
  { pattern: 'identity.header', effect: 'live', why: RUNTIME },
  { pattern: 'identity.issuer', effect: 'live', why: 'read by the minter from the running config at each signature' },
  { pattern: 'identity.audience', effect: 'live', why: 'read by the minter from the running config at each signature' },
  { pattern: 'identity.ttlSeconds', effect: 'live', why: 'read by the minter from the running config at each signature' },
  { pattern: 'identity.bindToRequest', effect: 'live', why: 'read by the minter from the running config at each request' },
  { pattern: 'identity.cacheEntries', effect: 'live', why: 'the minter rebuilds its header cache when the value changes' },
  { pattern: 'cache.**', effect: 'restart', why: CACHE },
  // Forms and dialects are created again from the new config on every reload (App#buildRuntime).
  {
    pattern: 'authn.digest.maxTrackedNonces',
    effect: (c) => (c.workers === 1 ? 'live' : 'restart'),
    why: 'single process: a new nc store of the new size; workers: the primary\'s shared store keeps the size it started with',
  },
  { pattern: 'authn.*.**', effect: 'live', why: 'every form is created again from the new config on reload' },
  { pattern: 'authn.rejectAmbiguous', effect: 'live', why: RUNTIME },
  { pattern: 'issue.*.**', effect: 'live', why: 'every dialect is created again from the new config on reload' },
  { pattern: 'issue.refreshGraceSeconds', effect: 'live', why: 'read from the running config at each refresh' },
  { pattern: 'throttle.*.*', effect: 'live', why: 'the throttle (memory, Redis, cluster primary) reads its rules from the running config at each check' },
  { pattern: 'passwords.*', effect: 'live', why: 'read by the password verifier from the running config at each check' },
  { pattern: 'routes', effect: 'live', why: RUNTIME },
  { pattern: 'migration.policies', effect: 'live', why: RUNTIME },
  { pattern: 'routing.*', effect: 'live', why: RUNTIME },
  { pattern: 'limits.maxHeaderBytes', effect: 'live', why: SERVER },
  { pattern: 'limits.requestTimeoutMs', effect: 'live', why: SERVER },
  { pattern: 'limits.headersTimeoutMs', effect: 'live', why: SERVER },
  { pattern: 'limits.keepAliveTimeoutMs', effect: 'live', why: SERVER },
  { pattern: 'limits.*', effect: 'live', why: 'read from the running config per request (body pace, buffering, upstream slots and queue, connections per client)' },
  { pattern: 'proxy.trustForwardedProto', effect: 'live', why: RUNTIME },
  { pattern: 'admin.openapiPaths', effect: 'live', why: 'read from the running config each time /openapi.json is rendered' },
  { pattern: 'proxy.requestIdHeader', effect: 'live', why: RUNTIME },
  { pattern: 'proxy.trustedProxies', effect: 'live', why: RUNTIME },
  { pattern: 'proxy.stripHeaders', effect: 'live', why: RUNTIME },
  { pattern: 'proxy.keepHeaders', effect: 'live', why: RUNTIME },
  { pattern: 'decision.listen', effect: 'restart', why: SOCKETS },
  { pattern: 'decision.allowFrom', effect: 'live', why: 'read from the running config at each decision request' },
  { pattern: 'decision.maxAgeSeconds', effect: 'live', why: 'read from the running config at each decision' },
  { pattern: 'inventory.*', effect: 'live', why: 'read by the inventory recorder from the running config at each sighting and write' },
  { pattern: 'logging.level', effect: 'live', why: 'set on the logger on reload' },
  { pattern: 'logging.access', effect: 'live', why: RUNTIME },
  { pattern: 'shutdown.graceMs', effect: 'live', why: 'read from the running config when shutdown starts' },
  { pattern: 'watch', effect: 'restart', why: 'file watchers are started once, when the app listens' },
  { pattern: 'workers', effect: 'restart', why: 'the processes are forked once at start' },
];

function matches(pattern: string, path: string): boolean {
  const p = pattern.split('.');
  const k = path.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '**') return i === p.length - 1 && k.length > i;
    if (i >= k.length || (p[i] !== '*' && p[i] !== k[i])) return false;
  }
  return p.length === k.length;
}

/** The entry that decides `path` (a leaf key path such as `throttle.user.limit`), or undefined: not classified. */
export function reloadPolicyOf(path: string): ReloadPolicyEntry | undefined {
  return RELOAD_POLICY.find((e) => matches(e.pattern, path));
}

/** What a change of `path` does when `config` is the config being loaded. Unclassified keys count as restart. */
export function reloadEffectOf(path: string, config: CoreConfig): ReloadEffect {
  const entry = reloadPolicyOf(path);
  if (entry === undefined) return 'restart';
  return typeof entry.effect === 'function' ? entry.effect(config) : entry.effect;
}

/** Leaf key paths whose value differs between two configs (lists compare whole, like `routes`). */
export function changedKeys(a: unknown, b: unknown, prefix = ''): string[] {
  const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isMap(a) || !isMap(b)) return JSON.stringify(a) === JSON.stringify(b) ? [] : [prefix];
  const out: string[] = [];
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
    out.push(...changedKeys(a[k], b[k], prefix === '' ? k : `${prefix}.${k}`));
  }
  return out;
}

/** Changed keys that the running app cannot apply: named in the reload's warning. */
export function restartRequiredChanges(running: CoreConfig, next: CoreConfig): string[] {
  return changedKeys(running, next).filter((k) => reloadEffectOf(k, next) === 'restart');
}
