/**
 * Where a SQLite store's file would not outlive its process or container, as far as its path shows, for
 * `trackgate check-config`. A Kubernetes emptyDir (lost with the pod) or an overlay root filesystem cannot be told
 * from a path: docs/deploy-kubernetes.md says where the file belongs.
 */
import { tmpdir } from 'node:os';
import { isAbsolute, resolve, sep } from 'node:path';

/** Folders that are a tmpfs or cleaned at boot on common Linux systems, and the process's own temp folder. */
const EPHEMERAL_ROOTS = ['/tmp', '/var/tmp', '/dev/shm', '/run'];

/** What may lose the tokens of the store `url` names (read from `cwd`, as the store opens it); [] when nothing shows. */
export function sqliteLocationWarnings(url: string, cwd: string, tmp: string = tmpdir()): string[] {
  if (!url.startsWith('sqlite:')) return [];
  const path = url.slice('sqlite:'.length);
  if (path === ':memory:') {
    return [`store.url "${url}": tokens live in this process's memory; every restart loses them, and each worker or replica has its own`];
  }
  const warnings: string[] = [];
  const file = resolve(cwd, path);
  if (!isAbsolute(path)) {
    warnings.push(`store.url "${url}": a relative path opens ${file}, under the working directory, not the config file's folder; `
      + 'in a container that is the image\'s own filesystem, lost with the container: use an absolute path on a volume');
  }
  const root = [...EPHEMERAL_ROOTS, resolve(tmp)].find((r) => file === r || file.startsWith(r.endsWith(sep) ? r : `${r}${sep}`));
  if (root !== undefined) warnings.push(`store.url "${url}": ${file} is under ${root}, a temporary folder (often memory, or emptied at boot): tokens and revocations are lost with it`);
  return warnings;
}
