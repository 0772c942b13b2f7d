/**
 * The files one config version is made of: the config file, its accounts file and its keys file. A reload
 * reads all of them again and checks them whole before the app swaps anything in; the watcher follows them.
 */
import { AccountDirectory } from '../accounts/directory.js';
import { resolveFromConfig } from '../config/load.js';
import { loadConfig, type LoadedConfig } from '../config-schema.js';
import { loadAccounts } from '../accounts/load.js';
import type { KeyRing } from '../identity/keys.js';
import { loadKeyRingOf } from '../identity/load-keys.js';

export interface FilesVersion {
  readonly loaded: LoadedConfig;
  readonly accounts: AccountDirectory;
  /** Undefined: the config names no keys file (the running keys stay). */
  readonly keys: KeyRing | undefined;
}

/** Reads the config (unless it came from no file), accounts and keys files again; throws a ConfigError on any problem. */
export function rereadFiles(current: LoadedConfig, env: NodeJS.ProcessEnv): FilesVersion {
  const loaded = current.file === undefined ? current : loadConfig(current.file, env);
  return { loaded, accounts: new AccountDirectory(loadAccounts(loaded.accountsPath)), keys: loadKeyRingOf(loaded) };
}

/** The absolute paths of the files a config version was read from. */
export function configFiles(loaded: LoadedConfig): string[] {
  const { keysFile } = loaded.config.identity;
  return [loaded.file, loaded.accountsPath, keysFile === undefined ? undefined : resolveFromConfig(loaded, keysFile)]
    .filter((f): f is string => f !== undefined);
}
