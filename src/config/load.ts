/**
 * Loading: YAML file → env overrides → schema validation → deep freeze. Any problem stops here with a
 * {@link ConfigError} whose message names the file, the key and what is wrong.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import type { z } from 'zod';
import { configSchema, type Config } from './schema.js';
import { applyEnv, envSource } from './env.js';
import { accountsFileSchema, type AccountsFile } from '../accounts/schema.js';

export class ConfigError extends Error {
  constructor(readonly file: string, readonly problems: string[]) {
    super(`${file}: ${problems.join('; ')}`);
    this.name = 'ConfigError';
  }
}

/** A validated config plus where it came from. */
export interface LoadedConfig {
  readonly config: Config;
  readonly file: string | undefined;
  /** Absolute path of the accounts file. */
  readonly accountsPath: string;
  readonly envApplied: readonly string[];
  readonly envUnknown: readonly string[];
}

function readYaml(file: string): unknown {
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

/** Loads and validates a config file (or only env + defaults when `file` is undefined). */
export function loadConfig(file: string | undefined, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  return validateConfig(file === undefined ? {} : readYaml(file), file, env);
}

/** Validates a raw config object (as parsed from YAML) after applying env overrides. */
export function validateConfig(raw: unknown, file: string | undefined, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  raw = structuredClone(raw);
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ConfigError(file ?? '(env)', ['(root): must be a mapping of keys']);
  }
  const { applied, unknown, invalid, sources } = applyEnv(raw as Record<string, unknown>, env);
  if (invalid.length > 0) throw new ConfigError(file ?? '(env)', invalid);
  const result = configSchema.safeParse(raw);
  if (!result.success) throw new ConfigError(file ?? '(env)', formatIssues(result.error, sources));
  const base = file === undefined ? process.cwd() : dirname(resolve(file));
  return deepFreeze({
    config: result.data,
    file: file === undefined ? undefined : resolve(file),
    accountsPath: resolve(base, result.data.accountsFile),
    envApplied: applied,
    envUnknown: unknown,
  });
}

/** Resolves a path named in the config relative to the config file's folder. */
export function resolveFromConfig(loaded: LoadedConfig, path: string): string {
  return resolve(loaded.file === undefined ? process.cwd() : dirname(loaded.file), path);
}

export function loadAccounts(file: string): AccountsFile {
  const raw = readYaml(file);
  const result = accountsFileSchema.safeParse(raw);
  if (!result.success) throw new ConfigError(file, formatIssues(result.error));
  return deepFreeze(result.data);
}

export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
