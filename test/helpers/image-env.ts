/**
 * The runtime settings of the Dockerfile's final stage (`MALLOC_*`, `NODE_OPTIONS`, the ENTRYPOINT's node flags), as the bench reads and applies
 * them: tests assert on the bench's own reading, so they also cover what the bench runs trackgate with.
 * (bench/ is plain JavaScript outside the typed build: a path import.)
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT } from './cli.js';

export const { IMAGE_ENV, IMAGE_NODE_FLAGS } = (await import(pathToFileURL(join(ROOT, 'bench', 'lib', 'harness.js')).href)) as {
  IMAGE_ENV: Record<string, string>; IMAGE_NODE_FLAGS: string[];
};
