/**
 * Loading: YAML file → env overrides → schema validation → deep freeze. Any problem stops here with a
 * {@link ConfigError} whose message names the file, the key and what is wrong.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import type { z } from 'zod';
import type { CoreConfig } from './schema.js';
import { applyEnv, envSource } from './env.js';

export class ConfigError extends Error {
  constructor(readonly file: string, readonly problems: string[]) {
    super(`${file}: ${problems.join('; ')}`);
    this.name = 'ConfigError';
  }
}

/** A validated config plus where it came from. */
export interface LoadedConfig<C extends CoreConfig = CoreConfig> {
  readonly config: C;
  readonly file: string | undefined;
  /** Absolute path of the accounts file. */
  readonly accountsPath: string;
  readonly envApplied: readonly string[];
  readonly envUnknown: readonly string[];
}

/** A YAML file's document (`{}` when empty), or a ConfigError naming the file. */
export function readYaml(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, [`cannot read file (${(err as NodeJS.ErrnoException).code ?? String(err)})`]);
  }
  try {
    return parseYaml(text) ?? {};
  } catch (err) {
    const where = err instanceof YAMLParseError && err.linePos ? ` at line ${err.linePos[0].line}` : '';
    throw new ConfigError(file, [`not valid YAML${where}: ${(err as Error).message.split('\n')[0]}`]);
  }
}

/** `key.path: problem`, plus `(from TRACKGATE_…)` when an environment variable set that key. */
export function formatIssues(error: z.ZodError, envSources: ReadonlyMap<string, string> = new Map()): string[] {
  return error.issues.map((i) => {
    const from = envSource(envSources, i.path);
    return `${i.path.length ? i.path.join('.') : '(root)'}${from === undefined ? '' : ` (from ${from})`}: ${i.message}`;
  });
}

/** Loading and validation against one config schema (the composition root's, src/config-schema.ts). */
export interface ConfigLoader<C extends CoreConfig> {
  /** Loads and validates a config file (or only env + defaults when `file` is undefined). */
  loadConfig(file: string | undefined, env?: NodeJS.ProcessEnv): LoadedConfig<C>;
  /** Validates a raw config object (as parsed from YAML) after applying env overrides. */
  validateConfig(raw: unknown, file: string | undefined, env?: NodeJS.ProcessEnv): LoadedConfig<C>;
}

export function configLoader<S extends z.ZodType<CoreConfig>>(schema: S): ConfigLoader<z.output<S>> {
  const validateConfig = (raw: unknown, file: string | undefined, env: NodeJS.ProcessEnv = process.env): LoadedConfig<z.output<S>> => {
    raw = structuredClone(raw);
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      throw new ConfigError(file ?? '(env)', ['(root): must be a mapping of keys']);
    }
    const { applied, unknown, invalid, sources } = applyEnv(schema, raw as Record<string, unknown>, env);
    if (invalid.length > 0) throw new ConfigError(file ?? '(env)', invalid);
    const result = schema.safeParse(raw);
    if (!result.success) throw new ConfigError(file ?? '(env)', formatIssues(result.error, sources));
    const base = file === undefined ? process.cwd() : dirname(resolve(file));
    return deepFreeze({
      config: result.data,
      file: file === undefined ? undefined : resolve(file),
      accountsPath: resolve(base, result.data.accountsFile),
      envApplied: applied,
      envUnknown: unknown,
    });
  };
  return {
    validateConfig,
    loadConfig: (file, env = process.env) => validateConfig(file === undefined ? {} : readYaml(file), file, env),
  };
}

/** Resolves a path named in the config relative to the config file's folder. */
export function resolveFromConfig(loaded: LoadedConfig, path: string): string {
  return resolve(loaded.file === undefined ? process.cwd() : dirname(loaded.file), path);
}

export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
