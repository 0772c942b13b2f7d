/** The Dockerfile read as the image it builds: its stages and the final stage's environment. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../helpers/cli.js';

export const DOCKERFILE = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');

/** Each stage's text, from its `FROM` line on (the `FROM ` itself cut off). */
export const STAGES = DOCKERFILE.split(/^FROM /m).slice(1);

/** Every `ENV` of the final stage (`ENV A=1 \` continued lines included), as the container starts with them. */
export function imageEnv(): Record<string, string> {
  const text = STAGES.at(-1)!.replace(/\\\n\s*/g, ' ');
  const env: Record<string, string> = {};
  for (const [, line] of text.matchAll(/^ENV (.+)$/gm)) {
    for (const [, k, v] of line!.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|\S+)/g)) env[k!] = v!.replace(/^"(.*)"$/, '$1');
  }
  return env;
}
