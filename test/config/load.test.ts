/**
 * Config loading: defaults, validation messages that name the file, the key path and the problem, and the
 * environment overrides (aliases, generic `TRACKGATE_<PATH>` names, YAML values, unknown names).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ConfigError } from '../../src/config/load.js';
import { loadConfig, validateConfig } from '../../src/config-schema.js';
import { envKeys, toEnvSegment } from '../../src/config/env.js';
import { configSchema } from '../../src/config-schema.js';

const dir = mkdtempSync(join(tmpdir(), 'trackgate-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
function file(text: string): string {
  const f = join(dir, `c${n++}.yaml`);
  writeFileSync(f, text);
  return f;
}

/** The ConfigError a load throws (fails the test when it does not throw one). */
function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('defaults', () => {
  it('an empty environment and no file give the documented defaults', () => {
    const { config, file, envApplied, envUnknown } = loadConfig(undefined, {});
    expect(file).toBeUndefined();
    expect(envApplied).toEqual([]);
    expect(envUnknown).toEqual([]);
    expect(config).toMatchObject({
      listen: '127.0.0.1:8080',
      admin: { listen: '127.0.0.1:9090' },
      upstream: { url: 'http://127.0.0.1:3000', connections: 128, preserveHost: false, websockets: true },
      store: { url: 'sqlite:data/trackgate.sqlite' },
      accountsFile: 'accounts.yaml',
      identity: { header: 'X-Identity-Assertion', issuer: 'trackgate', ttlSeconds: 60, bindToRequest: false },
      cache: { maxEntries: 100000, maxBytes: 64 * 1024 * 1024, ttlSeconds: 300, negativeTtlSeconds: 5 },
      authn: { basic: { enabled: true, realm: 'trackgate', webServiceKeys: true }, rejectAmbiguous: true },
      routes: [],
      logging: { level: 'info', access: true },
      shutdown: { graceMs: 10000 },
      watch: true,
    });
    expect(config.secretFile).toBeUndefined();
    expect(Object.isFrozen(config) && Object.isFrozen(config.cache)).toBe(true);
  });

  it('an empty file is the defaults; the accounts file resolves next to the config file', () => {
    const f = file('');
    const loaded = loadConfig(f, {});
    expect(loaded.file).toBe(resolve(f));
    expect(loaded.accountsPath).toBe(join(dir, 'accounts.yaml'));
    expect(loaded.config.listen).toBe('127.0.0.1:8080');
  });

  it('the shipped config/trackgate.yaml is valid', () => {
    const loaded = loadConfig('config/trackgate.yaml', {});
    expect(loaded.config.authn.basic.realm).toBe('GPS Data Web Service');
    expect(loaded.accountsPath).toBe(resolve('config/accounts.yaml'));
  });
});

describe('a bad value stops with the file, the key path and the problem', () => {
  it.each([
    ['listen: nope\n', 'listen', /host:port/],
    ['listen: "127.0.0.1:70000"\n', 'listen', /port must be 0-65535/],
    ['cache:\n  maxEntries: -1\n', 'cache.maxEntries', /expected number to be >=1/],
    ['cache:\n  maxEntries: many\n', 'cache.maxEntries', /expected number/],
    ['upstream:\n  url: ftp://example.com\n', 'upstream.url', /http\(s\) URL/],
    ['upstream:\n  url: http://user:pw@example.com\n', 'upstream.url', /without credentials/],
    ['store:\n  url: mysql://localhost\n', 'store.url', /sqlite:.*redis:/],
    ['logging:\n  level: loud\n', 'logging.level', /expected one of/],
    ['routes:\n  - path: nope\n    access: public\n', 'routes.0.path', /"\/"/],
    ['routes:\n  - path: /a\n    access: sometimes\n', 'routes.0.access', /./],
    ['authn:\n  basic:\n    enabled: maybe\n', 'authn.basic.enabled', /expected boolean/],
    ['identity:\n  ttlSeconds: 1\n', 'identity.ttlSeconds', />=5/],
  ])('%j → %s', (yaml, key, problem) => {
    const f = file(yaml);
    const err = configError(() => loadConfig(f, {}));
    expect(err.file).toBe(f);
    expect(err.message.startsWith(`${f}: `)).toBe(true);
    const line = err.problems.find((p) => p.startsWith(`${key}: `));
    expect(line, err.message).toBeDefined();
    expect(line).toMatch(problem);
  });

  it('an unknown key is an error (strict schema), at the top level and nested', () => {
    const top = configError(() => loadConfig(file('listne: 127.0.0.1:1\n'), {}));
    expect(top.message).toMatch(/\(root\): Unrecognized key: "listne"/);
    const nested = configError(() => loadConfig(file('cache:\n  maxEntrys: 5\n'), {}));
    expect(nested.message).toMatch(/cache: Unrecognized key: "maxEntrys"/);
    const form = configError(() => loadConfig(file('authn:\n  basic:\n    relm: x\n'), {}));
    expect(form.message).toMatch(/authn\.basic: Unrecognized key: "relm"/);
    const form2 = configError(() => loadConfig(file('authn:\n  nosuchform: {enabled: true}\n'), {}));
    expect(form2.message).toMatch(/authn: Unrecognized key: "nosuchform"/);
  });

  it('invalid YAML names the line', () => {
    const f = file('listen: 127.0.0.1:8080\nadmin:\n  listen: [unclosed\nwatch: true\n');
    const err = configError(() => loadConfig(f, {}));
    expect(err.message).toMatch(new RegExp(`^${f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: not valid YAML at line \\d+`));
    const tab = configError(() => loadConfig(file('a: 1\n\tb: 2\n'), {}));
    expect(tab.message).toMatch(/not valid YAML at line 2/);
  });

  it('a file that is not a mapping, or missing, is reported', () => {
    expect(configError(() => loadConfig(file('- a\n- b\n'), {})).message).toMatch(/\(root\): must be a mapping/);
    const missing = join(dir, 'missing.yaml');
    expect(configError(() => loadConfig(missing, {})).message).toBe(`${missing}: cannot read file (ENOENT)`);
  });

  it('reports every problem at once', () => {
    const err = configError(() => loadConfig(file('listen: nope\ncache:\n  maxEntries: 0\n'), {}));
    expect(err.problems.map((p) => p.split(':')[0])).toEqual(expect.arrayContaining(['listen', 'cache.maxEntries']));
  });
});

describe('environment overrides', () => {
  it('the short aliases and the listen variables', () => {
    const { config, envApplied } = loadConfig(undefined, {
      TRACKGATE_LISTEN: '0.0.0.0:8081',
      TRACKGATE_ADMIN_LISTEN: '[::1]:9091',
      TRACKGATE_UPSTREAM: 'http://upstream.internal:3001',
      TRACKGATE_STORE: 'sqlite:/var/lib/trackgate/store.sqlite',
    });
    expect(config.listen).toBe('0.0.0.0:8081');
    expect(config.admin.listen).toBe('[::1]:9091');
    expect(config.upstream.url).toBe('http://upstream.internal:3001');
    expect(config.store.url).toBe('sqlite:/var/lib/trackgate/store.sqlite');
    expect([...envApplied].sort()).toEqual(['TRACKGATE_ADMIN_LISTEN', 'TRACKGATE_LISTEN', 'TRACKGATE_STORE', 'TRACKGATE_UPSTREAM']);
  });

  it('generic names: numbers, strings, booleans and YAML lists', () => {
    const { config } = loadConfig(undefined, {
      TRACKGATE_CACHE_MAX_ENTRIES: '5',
      TRACKGATE_AUTHN_BASIC_REALM: 'x',
      TRACKGATE_ROUTES: '[{path: /p, access: public}]',
      TRACKGATE_IDENTITY_BIND_TO_REQUEST: 'true',
      TRACKGATE_UPSTREAM_HEADERS_TIMEOUT_MS: '1500',
      TRACKGATE_LOGGING_LEVEL: 'debug',
    });
    expect(config.cache.maxEntries).toBe(5);
    expect(config.authn.basic.realm).toBe('x');
    expect(config.routes).toEqual([{ path: '/p', access: 'public' }]);
    expect(config.identity.bindToRequest).toBe(true);
    expect(config.upstream.headersTimeoutMs).toBe(1500);
    expect(config.logging.level).toBe('debug');
  });

  it('a list as a comma list or as YAML list syntax', () => {
    const { config } = loadConfig(undefined, {
      TRACKGATE_AUTHN_DIGEST_ALGORITHMS: 'SHA-256, MD5',
      TRACKGATE_PROXY_TRUSTED_PROXIES: '10.0.0.0/8,192.168.0.1',
      TRACKGATE_AUTHN_DIGEST_QOP: '[auth, auth-int]',
      TRACKGATE_ISSUE_OPERATOR_INSTANCES: 'demo-api-instance',
    });
    expect(config.authn.digest.algorithms).toEqual(['SHA-256', 'MD5']);
    expect(config.proxy.trustedProxies).toEqual(['10.0.0.0/8', '192.168.0.1']);
    expect(config.authn.digest.qop).toEqual(['auth', 'auth-int']);
    expect((config.issue.operator as { instances: string[] }).instances).toEqual(['demo-api-instance']);
  });

  it('string-typed keys keep the raw value (no YAML coercion of "true", "123" or "null")', () => {
    const { config } = loadConfig(undefined, {
      TRACKGATE_AUTHN_BASIC_REALM: 'true', TRACKGATE_IDENTITY_ISSUER: '123', TRACKGATE_IDENTITY_AUDIENCE: 'null',
    });
    expect(config.authn.basic.realm).toBe('true');
    expect(config.identity.issuer).toBe('123');
    expect(config.identity.audience).toBe('null');
  });

  it('the environment wins over the file, and the rest of the file stays', () => {
    const f = file('listen: 127.0.0.1:1111\ncache:\n  maxEntries: 7\n  ttlSeconds: 9\n');
    const { config } = loadConfig(f, { TRACKGATE_CACHE_MAX_ENTRIES: '5' });
    expect(config.listen).toBe('127.0.0.1:1111');
    expect(config.cache).toMatchObject({ maxEntries: 5, ttlSeconds: 9 });
  });

  it('a bad env value is an error naming the key and the variable', () => {
    const err = configError(() => loadConfig(undefined, { TRACKGATE_CACHE_MAX_ENTRIES: '-1' }));
    expect(err.message).toMatch(/cache\.maxEntries/);
    expect(err.message).toMatch(/TRACKGATE_CACHE_MAX_ENTRIES/);
    const listen = configError(() => loadConfig(undefined, { TRACKGATE_LISTEN: 'nope' }));
    expect(listen.message).toMatch(/^\(env\): listen \(from TRACKGATE_LISTEN\): must be host:port/);
    const route = configError(() => loadConfig(undefined, { TRACKGATE_ROUTES: '[{path: p, access: public}]' }));
    expect(route.message).toMatch(/routes\.0\.path \(from TRACKGATE_ROUTES\)/);
    const bool = configError(() => loadConfig(undefined, { TRACKGATE_IDENTITY_BIND_TO_REQUEST: 'yes please' }));
    expect(bool.message).toMatch(/identity\.bindToRequest \(from TRACKGATE_IDENTITY_BIND_TO_REQUEST\): .*expected boolean/);
  });

  it('an env value that is not valid YAML is a ConfigError naming the variable, not a crash', () => {
    const err = configError(() => loadConfig(undefined, { TRACKGATE_ROUTES: '[{path: /p, access: public' }));
    expect(err.message).toMatch(/TRACKGATE_ROUTES/);
    expect(err.message).toMatch(/routes/);
    expect(err.message).toMatch(/not valid YAML/);
  });

  it('unknown TRACKGATE_* variables are reported, not applied; other variables are ignored', () => {
    const { envUnknown, envApplied } = loadConfig(undefined, {
      TRACKGATE_FOO: '1', TRACKGATE_CACHE: '{maxEntries: 1}', TRACKGATE_CONFIG: 'x.yaml', HOME: '/root', PATH: '/bin',
    });
    expect([...envUnknown].sort()).toEqual(['TRACKGATE_CACHE', 'TRACKGATE_FOO']);
    expect(envApplied).toEqual([]);
  });

  it('does not modify the raw object it validates', () => {
    const raw = { cache: { maxEntries: 3 } };
    validateConfig(raw, undefined, { TRACKGATE_CACHE_MAX_ENTRIES: '5' });
    expect(raw).toEqual({ cache: { maxEntries: 3 } });
  });
});

describe('env names', () => {
  const keys = envKeys(configSchema);

  it('no two schema keys map to the same variable', () => {
    const byName = new Map<string, string[]>();
    for (const k of keys) byName.set(k.name, [...(byName.get(k.name) ?? []), k.path.join('.')]);
    const clashes = [...byName].filter(([, paths]) => paths.length > 1);
    expect(clashes).toEqual([]);
  });

  it('every leaf of the schema has a variable, named TRACKGATE_ + UPPER_SNAKE path', () => {
    const byPath = new Map(keys.filter((k) => k.name !== 'TRACKGATE_UPSTREAM' && k.name !== 'TRACKGATE_STORE').map((k) => [k.path.join('.'), k.name]));
    expect(byPath.get('cache.maxEntries')).toBe('TRACKGATE_CACHE_MAX_ENTRIES');
    expect(byPath.get('upstream.headersTimeoutMs')).toBe('TRACKGATE_UPSTREAM_HEADERS_TIMEOUT_MS');
    expect(byPath.get('authn.basic.realm')).toBe('TRACKGATE_AUTHN_BASIC_REALM');
    expect(byPath.get('routes')).toBe('TRACKGATE_ROUTES');
    expect(byPath.get('secretFile')).toBe('TRACKGATE_SECRET_FILE');
    for (const [path, name] of byPath) expect(name).toBe(`TRACKGATE_${path.split('.').map(toEnvSegment).join('_')}`);
    // Every top-level key is reachable.
    for (const top of Object.keys(configSchema.shape)) expect([...byPath.keys()].some((p) => p === top || p.startsWith(`${top}.`)), top).toBe(true);
  });

  it('the aliases point at upstream.url and store.url', () => {
    expect(keys.find((k) => k.name === 'TRACKGATE_UPSTREAM')?.path).toEqual(['upstream', 'url']);
    expect(keys.find((k) => k.name === 'TRACKGATE_STORE')?.path).toEqual(['store', 'url']);
  });
});
