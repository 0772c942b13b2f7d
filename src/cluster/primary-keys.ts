/**
 * The key ring whose public half the primary publishes (`/.well-known/jwks.json` on the admin port).
 *
 * - No `identity.keysFile`: one development key, generated here and handed to every worker at bootstrap.
 * - A keys file: read here as each worker reads it, and re-read when the config or keys file changes, as
 *   each worker does on its own (reloads are per process; the file watchers fire together).
 */
import { resolveFromConfig } from '../config/load.js';
import { loadConfig, type Config, type LoadedConfig } from '../config-schema.js';
import { FileWatcher } from '../config/watch.js';
import type { KeyRing } from '../identity/keys.js';
import { loadKeyRingOf } from '../identity/load-keys.js';
import { RETAIN_SKEW_SECONDS, SigningKeys } from '../identity/signing-keys.js';
import type { Logger } from '../observability/log.js';
import { generateSharedJwks, sharedKeyRing } from './shared-keys.js';

export class PrimaryKeys {
  /** The generated private JWK set, when no keys file is configured at start. */
  readonly generatedJwks: { keys: Record<string, unknown>[] } | undefined;
  /** The published set: a key removed from the file stays published until the headers it signed expired. */
  readonly #keys: SigningKeys;
  #loaded: LoadedConfig;
  #watchers: FileWatcher[] = [];
  #keysPath: string | undefined;

  constructor(loaded: LoadedConfig, private readonly env: NodeJS.ProcessEnv, private readonly logger: Logger) {
    this.#loaded = loaded;
    let ring = loadKeyRingOf(loaded);
    if (ring === undefined) {
      this.generatedJwks = generateSharedJwks();
      ring = sharedKeyRing(this.generatedJwks);
    }
    // Only what is published matters here (the workers sign, each deciding as its App does).
    this.#keys = new SigningKeys(ring, () => ({ minPublishMs: 0, retainMs: (this.#loaded.config.identity.ttlSeconds + RETAIN_SKEW_SECONDS) * 1000 }));
  }

  get ring(): KeyRing { return this.#keys.ring; }
  /** What `/.well-known/jwks.json` publishes. */
  jwks(): ReturnType<SigningKeys['jwks']> { return this.#keys.jwks(); }
  /** The config as last reloaded (the primary has no App; its shared throttle reads its rules here). */
  get config(): Config { return this.#loaded.config; }

  /** Follows changes of the config and keys files (`watch: true`). */
  watch(): void {
    if (this.#loaded.file !== undefined) this.#watchers.push(new FileWatcher(this.#loaded.file, () => this.#reload()));
    this.#watchKeys();
  }

  #watchKeys(): void {
    const { keysFile } = this.#loaded.config.identity;
    const path = keysFile === undefined ? undefined : resolveFromConfig(this.#loaded, keysFile);
    if (path === undefined || path === this.#keysPath) return;
    this.#keysPath = path;
    this.#watchers.push(new FileWatcher(path, () => this.#reload()));
  }

  #reload(): void {
    try {
      const loaded = this.#loaded.file === undefined ? this.#loaded : loadConfig(this.#loaded.file, this.env);
      // Like App.reload: without a keys file the running keys stay.
      const ring = loadKeyRingOf(loaded);
      this.#loaded = loaded;
      if (ring !== undefined) this.#keys.update(ring);
      this.#watchKeys();
    } catch (err) {
      this.logger.error({ err: (err as Error).message }, 'primary: keys change rejected; keeping the published keys');
    }
  }

  close(): void {
    for (const w of this.#watchers.splice(0)) w.close();
  }
}
