/**
 * Watches a file for changes, including the atomic symlink swap Kubernetes uses for mounted ConfigMaps and
 * Secrets (the folder is watched, not the file), and calls back once per burst of events when the content
 * actually changed.
 */
import { watch, readFileSync, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import { createHash } from 'node:crypto';

export class FileWatcher {
  readonly #watcher: FSWatcher;
  #timer: NodeJS.Timeout | undefined;
  #hash: string;

  constructor(private readonly file: string, private readonly onChange: () => void, debounceMs = 150) {
    this.#hash = this.#digest();
    const name = basename(file);
    this.#watcher = watch(dirname(file), { persistent: false }, (_event, changed) => {
      if (changed !== null && changed !== name && !String(changed).startsWith('..')) return;
      clearTimeout(this.#timer);
      this.#timer = setTimeout(() => {
        const h = this.#digest();
        if (h === this.#hash) return;
        this.#hash = h;
        this.onChange();
      }, debounceMs);
    });
    this.#watcher.on('error', () => undefined);
  }

  #digest(): string {
    try { return createHash('sha256').update(readFileSync(this.file)).digest('hex'); } catch { return 'missing'; }
  }

  close(): void {
    clearTimeout(this.#timer);
    this.#watcher.close();
  }
}
