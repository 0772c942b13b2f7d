/**
 * The files a running app follows (`watch: true`): config, accounts and keys. After a reload the set is
 * followed again, so a path the new config names is watched and one it no longer names is dropped.
 */
import { FileWatcher } from '../config/watch.js';

export class WatchedFiles {
  readonly #watchers = new Map<string, FileWatcher>();
  #closed = false;

  constructor(private readonly onChange: () => void) {}

  /** Watches exactly `files` from now on. */
  follow(files: readonly string[]): void {
    if (this.#closed) return;
    for (const [f, w] of this.#watchers) {
      if (files.includes(f)) continue;
      w.close();
      this.#watchers.delete(f);
    }
    for (const f of files) {
      if (!this.#watchers.has(f)) this.#watchers.set(f, new FileWatcher(f, this.onChange));
    }
  }

  close(): void {
    this.#closed = true;
    for (const w of this.#watchers.values()) w.close();
    this.#watchers.clear();
  }
}
