/**
 * Environment overrides, Kubernetes style: every config key can be set by `TRACKGATE_` + its path in
 * UPPER_SNAKE_CASE, levels joined by `_` (`upstream.headersTimeoutMs` → `TRACKGATE_UPSTREAM_HEADERS_TIMEOUT_MS`,
 * `authn.basic.realm` → `TRACKGATE_AUTHN_BASIC_REALM`). Values are YAML scalars or, for lists and objects,
 * YAML/JSON (`TRACKGATE_ROUTES='[{path: /public, access: public}]'`). A list may also be given as a comma list
 * (`TRACKGATE_AUTHN_DIGEST_ALGORITHMS=SHA-256,MD5`), the form Kubernetes manifests and shells write most easily.
 *
 * Two short aliases predate the rule: `TRACKGATE_UPSTREAM` (= upstream.url) and `TRACKGATE_STORE` (= store.url).
 */
import { z } from 'zod';
import { parse as parseYaml } from 'yaml';

export const ENV_PREFIX = 'TRACKGATE_';
const ALIASES: Record<string, string[]> = {
  TRACKGATE_UPSTREAM: ['upstream', 'url'],
  TRACKGATE_STORE: ['store', 'url'],
};

interface JsonSchemaNode {
  type?: string | string[];
  properties?: Record<string, JsonSchemaNode>;
  anyOf?: JsonSchemaNode[];
}

export interface EnvKey {
  /** Environment variable name. */
  name: string;
  /** Config path it sets. */
  path: string[];
  /** Whether the value is kept as a raw string (string-typed keys) instead of parsed as YAML. */
  raw: boolean;
  /** Whether the key is a list: a value that is not YAML list syntax is read as a comma list. */
  list: boolean;
}

export function toEnvSegment(key: string): string {
  return key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').replace(/[^A-Za-z0-9]+/g, '_').toUpperCase();
}

const cached = new WeakMap<z.ZodType, EnvKey[]>();
/** All env names `schema` (the config schema) accepts (leaves and whole lists), computed once per schema. */
export function envKeys(schema: z.ZodType): EnvKey[] {
  const known = cached.get(schema);
  if (known) return known;
  const root = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as JsonSchemaNode;
  const out: EnvKey[] = [];
  const walk = (node: JsonSchemaNode, path: string[]): void => {
    if (node.type === 'object' && node.properties) {
      for (const [k, child] of Object.entries(node.properties)) walk(child, [...path, k]);
      return;
    }
    out.push({ name: ENV_PREFIX + path.map(toEnvSegment).join('_'), path, raw: node.type === 'string', list: node.type === 'array' });
  };
  walk(root, []);
  for (const [name, path] of Object.entries(ALIASES)) out.push({ name, path, raw: true, list: false });
  cached.set(schema, out);
  return out;
}

export interface EnvResult {
  /** Variables applied, in schema order. */
  applied: string[];
  /** `TRACKGATE_*` variables that name no config key. */
  unknown: string[];
  /** Problems with values that could not even be parsed (`<key> (from <VAR>): not valid YAML …`). */
  invalid: string[];
  /** Config path (dotted) → the variable that set it, to name the variable in validation errors. */
  sources: Map<string, string>;
}

/** Applies every `TRACKGATE_*` variable naming a key of `schema` onto a raw (pre-validation) config object. */
export function applyEnv(schema: z.ZodType, raw: Record<string, unknown>, env: NodeJS.ProcessEnv): EnvResult {
  const applied: string[] = [];
  const invalid: string[] = [];
  const sources = new Map<string, string>();
  const known = new Set<string>();
  for (const key of envKeys(schema)) {
    known.add(key.name);
    const value = env[key.name];
    if (value === undefined) continue;
    let parsed: unknown = value;
    if (!key.raw) {
      try {
        parsed = parseYaml(value);
      } catch (err) {
        invalid.push(`${key.path.join('.')} (from ${key.name}): not valid YAML: ${(err as Error).message.split('\n')[0]}`);
        continue;
      }
      if (key.list && typeof parsed === 'string') parsed = parsed.split(',').map((item) => item.trim()).filter((item) => item !== '');
    }
    setPath(raw, key.path, parsed);
    applied.push(key.name);
    sources.set(key.path.join('.'), key.name);
  }
  const unknown = Object.keys(env).filter((n) => n.startsWith(ENV_PREFIX) && !known.has(n) && !IGNORED.has(n));
  return { applied, unknown, invalid, sources };
}

/** The variable that set `path` or one of its parents (a list set whole), if any. */
export function envSource(sources: ReadonlyMap<string, string>, path: readonly PropertyKey[]): string | undefined {
  for (let i = path.length; i > 0; i--) {
    const name = sources.get(path.slice(0, i).map(String).join('.'));
    if (name !== undefined) return name;
  }
  return undefined;
}

/** Variables read elsewhere (not config keys). */
const IGNORED = new Set(['TRACKGATE_CONFIG']);

function setPath(obj: Record<string, unknown>, path: string[], value: unknown): void {
  let cur = obj;
  for (const seg of path.slice(0, -1)) {
    const next = cur[seg];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) cur[seg] = {};
    cur = cur[seg] as Record<string, unknown>;
  }
  cur[path[path.length - 1]!] = value;
}
