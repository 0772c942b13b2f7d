/**
 * Every config key is either applied live by a hot reload or named in its restart warning: the walk takes
 * every leaf key of `configSchema` (each form's and dialect's options included, so keys added later are
 * covered without touching this file), checks it has a declared entry in src/config/reload-policy.ts, changes
 * it to another valid value in a real config file, calls `app.reload()` on a real trackgate and asserts:
 * - restart keys: the warning "config keys changed that take effect only after a restart" names it;
 * - live keys: no warning names it and the running config holds the new value (that the components then read
 *   it from the running config, not from a copy taken at start, is shown by behaviour in
 *   reload-live-keys.test.ts for the important ones, and by the entry's `why`).
 */
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { parse, stringify } from 'yaml';
import { z } from 'zod';
import { beforeAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../../src/config-schema.js';
import { changedKeys, reloadEffectOf, reloadPolicyOf, restartRequiredChanges, RELOAD_POLICY } from '../../src/config/reload-policy.js';
import { configSchema } from '../../src/config-schema.js';
import { generateJwks } from '../../src/identity/keys.js';
import { useGate } from '../helpers/gate.js';
import { type TestGate } from '../helpers/trackgate.js';

interface Node {
  type?: string | string[]; properties?: Record<string, Node>; items?: Node; anyOf?: Node[]; enum?: unknown[];
  minimum?: number; maximum?: number; pattern?: string;
}

/** Every leaf key path of the schema with its JSON Schema node (objects are walked, lists are leaves). */
function schemaLeaves(): { path: string; node: Node }[] {
  const root = z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as Node;
  const out: { path: string; node: Node }[] = [];
  const walk = (node: Node, prefix: string[]): void => {
    for (const [k, child] of Object.entries(node.properties ?? {})) {
      const obj = child.type === 'object' && child.properties !== undefined;
      if (obj) walk(child, [...prefix, k]);
      else out.push({ path: [...prefix, k].join('.'), node: child });
    }
  };
  walk(root, []);
  return out;
}

const LEAVES = schemaLeaves();
const RESTART_WARNING = 'config keys changed that take effect only after a restart';

/**
 * Values the generic rules below cannot invent (files, URLs, lists of objects), by key path. A new key whose
 * value cannot be generated fails with a message pointing here.
 */
const VALUES: Record<string, unknown> = {
  listen: '127.0.0.1:1',
  'admin.listen': '127.0.0.1:2',
  'admin.openapiPaths': ['/rest/v2/whoami'],
  'routing.corsOrigins': ['http://127.0.0.1:2'],
  'upstream.url': 'http://127.0.0.1:1',
  'store.url': 'sqlite:walk-other.sqlite',
  accountsFile: 'accounts-2.yaml',
  secretFile: 'secret.bin',
  'identity.keysFile': 'keys.json',
  'identity.activeKid': 'no-such-kid-without-a-keys-file',
  'authn.remote.url': 'http://127.0.0.1:1/check',
  'authn.bearer.external.issuers': [{ issuer: 'https://idp.example', jwksUrl: 'http://127.0.0.1:1/jwks', audience: 'api' }],
  'authn.bearer.introspection.url': 'http://127.0.0.1:1/other-introspect',
  'authn.bearer.introspection.clientSecretFile': '@dir/client-secret-2.txt',
  'issue.operator.instances': ['demo-instance'],
  routes: [{ path: '/walk', access: 'public' }],
  'migration.policies': [{ name: 'walk', forms: ['basic'], policy: 'deprecated' }],
  'proxy.trustedProxies': ['10.0.0.0/8'],
  'decision.listen': '127.0.0.1:3',
  'decision.allowFrom': ['10.0.0.0/8'],
  'proxy.keepHeaders': ['x-real-ip'],
  workers: 2,
};

/**
 * Keys set first (key path → value) before a key (or any key under a prefix) can be changed: the parent object
 * it needs, or the key another one requires. The longest matching entry applies.
 */
const INTROSPECTION = { url: 'http://127.0.0.1:1/introspect', clientId: 'walk' };
const CONTEXT: Record<string, Record<string, unknown>> = {
  'authn.bearer.introspection': { 'authn.bearer.introspection': { ...INTROSPECTION, clientSecret: 'walk-secret' } },
  'authn.bearer.introspection.clientSecretFile': { 'authn.bearer.introspection': { ...INTROSPECTION, clientSecretFile: '@dir/client-secret.txt' } },
  // Remote takes over Basic: the local form must be off.
  'authn.remote.enabled': { 'authn.remote.url': 'http://127.0.0.1:1/check', 'authn.basic.enabled': false },
};

/** `@dir/` stands for the test instance's folder (keys that want an absolute path). */
function inDir<T>(v: T): T {
  return (typeof v === 'string' ? v.replace(/^@dir\//, `${gate.dir}/`) : v) as T;
}

function getPath(obj: unknown, path: string): unknown {
  return path.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], obj);
}

function setPath(doc: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split('.');
  let o = doc;
  for (const k of keys.slice(0, -1)) o = (o[k] ??= {}) as Record<string, unknown>;
  if (value === undefined) delete o[keys.at(-1)!];
  else o[keys.at(-1)!] = value;
}

/** Candidate values for a leaf, from its schema node and current value, most likely valid first. */
function candidates(path: string, node: Node, current: unknown): unknown[] {
  if (path in VALUES) return [inDir(VALUES[path])];
  const type = Array.isArray(node.type) ? node.type[0] : node.type;
  if (node.enum !== undefined) return node.enum.filter((v) => v !== current);
  if (node.anyOf !== undefined) return node.anyOf.flatMap((n) => candidates(path, n, current));
  if (type === 'boolean') return [!(current as boolean)];
  if (type === 'integer' || type === 'number') {
    const n = typeof current === 'number' ? current : (node.minimum ?? 0) + 1;
    return [n + 1, n - 1, node.minimum, node.maximum].filter((v) => v !== undefined && v !== current);
  }
  if (type === 'array') {
    const items = node.items?.enum;
    const list = Array.isArray(current) ? current : [];
    if (items !== undefined) return [list.length > 1 ? list.slice(0, 1) : [...list, ...items.filter((v) => !list.includes(v))].slice(0, list.length + 1)];
    return [[...list.map(String), 'walk-value'], ['x-walk']];
  }
  if (type === 'string') {
    const s = typeof current === 'string' ? current : '';
    return [`${s}x`, `${s}-walk`, 'X-Walk', '/walk', 'walk'];
  }
  return [];
}

/** Where a component shows the options it uses, by key prefix (the rest of the path is looked up in it). */
const IN_USE: Record<string, (g: TestGate) => unknown> = {
  'identity.': (g) => g.app.minter.options,
};

let base: Record<string, unknown>;

const gate = useGate();
beforeAll(async () => {
  copyFileSync(join(gate.dir, 'accounts.yaml'), join(gate.dir, 'accounts-2.yaml'));
  writeFileSync(join(gate.dir, 'secret.bin'), Buffer.alloc(32, 7));
  writeFileSync(join(gate.dir, 'keys.json'), JSON.stringify(generateJwks()));
  writeFileSync(join(gate.dir, 'client-secret.txt'), 'walk-file-secret');
  writeFileSync(join(gate.dir, 'client-secret-2.txt'), 'walk-file-secret-2');
  base = parse(readFileSync(gate.configFile, 'utf8')) as Record<string, unknown>;
});

function writeAndReload(doc: Record<string, unknown>): boolean {
  writeFileSync(gate.configFile, stringify(doc));
  return gate.app.reload();
}

describe('the reload policy', () => {
  it('declares every key of the schema (a new key without an entry fails here)', () => {
    const missing = LEAVES.map((l) => l.path).filter((p) => reloadPolicyOf(p) === undefined);
    expect(missing, `config keys with no reload policy: ${missing.join(', ')}. Add an entry to RELOAD_POLICY in `
      + 'src/config/reload-policy.ts: live (what reads it from the running config) or restart (what is built once).').toEqual([]);
  });

  it('has no entry that matches no key (a renamed key leaves none behind)', () => {
    const unused = RELOAD_POLICY.filter((e) => !LEAVES.some((l) => reloadPolicyOf(l.path) === e)).map((e) => e.pattern);
    expect(unused).toEqual([]);
  });

  it('counts an unclassified key as needing a restart, and diffs leaf by leaf', () => {
    const a = configSchema.parse({});
    const b = { ...a, throttle: { ...a.throttle, user: { ...a.throttle.user, limit: 1 } }, listen: '127.0.0.1:1' };
    expect(changedKeys(a, b).sort()).toEqual(['listen', 'throttle.user.limit']);
    expect(restartRequiredChanges(a, b)).toEqual(['listen']);
    expect(reloadEffectOf('no.such.key', a)).toBe('restart');
    expect(reloadEffectOf('authn.digest.maxTrackedNonces', a)).toBe('live');
    expect(reloadEffectOf('authn.digest.maxTrackedNonces', { ...a, workers: 4 })).toBe('restart');
  });

  it('walks every key: a restart key is named in the warning, a live key is in the running config', () => {
    expect(LEAVES.length).toBeGreaterThan(100);
    const problems: string[] = [];
    let restart = 0;
    let live = 0;
    for (const { path, node } of LEAVES) {
      const context = Object.keys(CONTEXT).filter((p) => path === p || path.startsWith(`${p}.`)).sort((a, b) => b.length - a.length)[0];
      const start = structuredClone(base);
      for (const [k, v] of Object.entries(context === undefined ? {} : CONTEXT[context]!)) {
        setPath(start, k, typeof v === 'object' && v !== null ? Object.fromEntries(Object.entries(v).map(([a, b]) => [a, inDir(b)])) : inDir(v));
      }
      if (!writeAndReload(start)) { problems.push(`${path}: the starting config did not load: ${gate.logs.at(-1)}`); continue; }
      const current = getPath(gate.app.config, path);
      const changed = candidates(path, node, current).map((v) => {
        const doc = structuredClone(start);
        setPath(doc, path, v);
        try { validateConfig(doc, gate.configFile, {}); return { doc, value: v }; } catch { return undefined; }
      }).find((c) => c !== undefined);
      if (changed === undefined) { problems.push(`${path}: no valid other value found; add one to VALUES in this file`); continue; }
      const from = gate.logs.length;
      if (!writeAndReload(changed.doc)) { problems.push(`${path}: reload with ${JSON.stringify(changed.value)} failed: ${gate.logs.slice(from).join(' ')}`); continue; }
      const warned = gate.logRecords().slice(from).filter((r) => r.msg === RESTART_WARNING).flatMap((r) => r.keys as string[]);
      const effect = reloadEffectOf(path, gate.app.config);
      if (effect === 'restart') {
        restart++;
        if (!warned.includes(path)) problems.push(`${path}: restart key changed, but the warning did not name it (${JSON.stringify(warned)})`);
      } else {
        live++;
        if (warned.includes(path)) problems.push(`${path}: live key named in the restart warning`);
        const expected = getPath(validateConfig(changed.doc, gate.configFile, {}).config, path);
        if (!isDeepStrictEqual(getPath(gate.app.config, path), expected)) problems.push(`${path}: the running config does not hold the new value`);
        // Components that expose the options they use must show the new value too.
        for (const [prefix, read] of Object.entries(IN_USE)) {
          if (path.startsWith(prefix) && !isDeepStrictEqual(getPath(read(gate), path.slice(prefix.length)), expected)) problems.push(`${path}: not in use by the component (still ${JSON.stringify(getPath(read(gate), path.slice(prefix.length)))})`);
        }
      }
    }
    expect(problems).toEqual([]);
    expect(restart).toBeGreaterThan(10);
    expect(live).toBeGreaterThan(80);
  });
});
