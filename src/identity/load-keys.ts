/**
 * The keys a config names: the identity signing key ring (`identity.keysFile`) and the shared HMAC secret
 * (`secretFile`). One reader for the app, the cluster primary and `check-config`, so all three accept and
 * refuse the same files with the same message (a {@link ConfigError} naming the config file and the key).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ConfigError, resolveFromConfig, type LoadedConfig } from '../config/load.js';
import { generatedKeyRing, loadKeyRing, type KeyRing } from './keys.js';

/** The least secret length: the secret keys HMAC-SHA-256 digests. */
export const MIN_SECRET_BYTES = 32;

export interface LoadedKeys {
  readonly ring: KeyRing;
  readonly secret: Buffer;
  /** True when no `secretFile` is configured and the secret was generated or handed over. */
  readonly secretGenerated: boolean;
}

/** What to use instead of a fresh per-process key or secret when the config names no file (cluster workers). */
export interface GivenKeys {
  ring?: KeyRing | undefined;
  secret?: Buffer | undefined;
}

/** Reads both files the config names; a missing one is replaced by `given`, else generated for this process. */
export function loadKeys(loaded: LoadedConfig, given: GivenKeys = {}): LoadedKeys {
  const ring = loadKeyRingOf(loaded) ?? given.ring ?? generatedKeyRing();
  const secret = loadSecretOf(loaded);
  return secret !== undefined
    ? { ring, secret, secretGenerated: false }
    : { ring, secret: given.secret ?? randomBytes(MIN_SECRET_BYTES), secretGenerated: true };
}

/** The key ring of `identity.keysFile` (relative to the config file); undefined when none is configured. */
export function loadKeyRingOf(loaded: LoadedConfig): KeyRing | undefined {
  const { keysFile, activeKid } = loaded.config.identity;
  if (keysFile === undefined) return undefined;
  try {
    return loadKeyRing(resolveFromConfig(loaded, keysFile), activeKid);
  } catch (err) {
    throw configError(loaded, `identity.keysFile: ${(err as Error).message}`);
  }
}

/** The secret of `secretFile` (relative to the config file); undefined when none is configured. */
export function loadSecretOf(loaded: LoadedConfig): Buffer | undefined {
  const file = loaded.config.secretFile;
  if (file === undefined) return undefined;
  let value: Buffer;
  try {
    value = readFileSync(resolveFromConfig(loaded, file));
  } catch (err) {
    throw configError(loaded, `secretFile: cannot read (${(err as NodeJS.ErrnoException).code})`);
  }
  if (value.length < MIN_SECRET_BYTES) throw configError(loaded, `secretFile: must hold at least ${MIN_SECRET_BYTES} bytes`);
  return value;
}

function configError(loaded: LoadedConfig, problem: string): ConfigError {
  return new ConfigError(loaded.file ?? '(env)', [problem]);
}
