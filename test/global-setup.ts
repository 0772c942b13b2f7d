/**
 * vitest globalSetup: compiles src/ to dist/ once per run (`npx tsc -p tsconfig.build.json`, i.e. `npm run
 * build`), because `bin/trackgate.js`, spawned by the CLI and shutdown tests, imports `dist/cli.js`.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export default function setup(): void {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const tsc = fileURLToPath(new URL('../node_modules/typescript/bin/tsc', import.meta.url));
  try {
    execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'pipe' });
  } catch (err) {
    const e = err as { status?: number | null; stdout?: Buffer; stderr?: Buffer; message: string };
    const output = `${e.stdout?.toString() ?? ''}${e.stderr?.toString() || e.message}`;
    // Exit status 2: type errors, but dist/ was written. The typecheck step reports those; the spawned-process
    // tests can still run. Anything else (1: nothing emitted) stops the run.
    if (e.status === 2) console.warn(`tsc -p tsconfig.build.json reported type errors (dist/ was still written):\n${output}`);
    else throw new Error(`build (tsc -p tsconfig.build.json) failed before the tests:\n${output}`);
  }
}
