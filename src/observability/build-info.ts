/** What `trackgate_build_info` reports: the package version (read once from package.json) and Node's. */
import { readFileSync } from 'node:fs';

let version: string | undefined;

/** trackgate's version from package.json (two folders up from src/observability and from dist/observability). */
export function packageVersion(): string {
  version ??= (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  return version;
}

/** The labels of `trackgate_build_info`. */
export function buildInfo(): { version: string; node: string } {
  return { version: packageVersion(), node: process.versions.node };
}
