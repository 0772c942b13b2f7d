/** How a CLI command group ends on an error: the message on stderr and exit code 2 (usage) or 1 (anything else). */
import { ConfigError } from '../config/load.js';

/** `usage`: the hint line after a usage error; `isUsage`: whether `err` is the group's own usage error. */
export function cliFailure(err: unknown, stderr: { write(s: string): unknown }, usage: string, isUsage: boolean): number {
  if (isUsage || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
    stderr.write(`trackgate: ${(err as Error).message}\nusage: ${usage}\n`);
    return 2;
  }
  if (err instanceof ConfigError) {
    stderr.write(`trackgate: invalid configuration: ${err.message}\n`);
    return 1;
  }
  stderr.write(`trackgate: ${(err as Error).message}\n`);
  return 1;
}
