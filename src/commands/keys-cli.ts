/**
 * `trackgate keys rotate add|promote|retire|status`: the rotation steps of rotate.ts on the keys file named by
 * `--config` (its `identity.keysFile`, `minPublishSeconds`, `ttlSeconds`, `activeKid`) or given as `--keys`
 * (schema defaults). Prints what it did and when the next step is allowed; a step that is not safe yet exits 1
 * and leaves the file as it was. The file is replaced atomically, readable by its owner only (private keys).
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { resolveFromConfig } from '../config/load.js';
import { configSchema, loadConfig } from '../config-schema.js';
import { loadKeyRing } from '../identity/keys.js';
import { addKey, promoteKey, retireKeys, rotationStatus, RotationRefused, type JwkSet, type RotationSettings } from '../identity/rotate.js';

export const KEYS_USAGE = `  trackgate keys rotate add|promote [KID]|retire [KID...]|status (--config FILE | --keys FILE) [--alg EdDSA|ES256] [--force]
                                       rotate the signing key in steps, each refused until safe (docs/key-rotation.md)
`;

/** The one line printed after a usage error. */
const KEYS_USAGE_HINT = 'trackgate keys rotate add|promote|retire|status (--config FILE | --keys FILE)   (trackgate keys rotate --help)';

export const KEYS_CLI_OPTIONS = {
  keys: { type: 'string' },
  force: { type: 'boolean' },
} as const;

/** Runs `keys rotate …`; returns the exit code (1: refused or invalid, 2: usage). */
export function runKeysRotateCli(argv: string[], now: () => number = Date.now): number {
  const usage = (msg: string): number => { process.stderr.write(`trackgate: ${msg}\nusage: ${KEYS_USAGE_HINT}\n`); return 2; };
  let parsed;
  try {
    parsed = parseArgs({
      args: argv, allowPositionals: true,
      options: { config: { type: 'string', short: 'c' }, alg: { type: 'string' }, help: { type: 'boolean', short: 'h' }, ...KEYS_CLI_OPTIONS },
    });
  } catch (err) {
    return usage((err as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help === true) {
    process.stdout.write(`usage:\n${KEYS_USAGE}`);
    return 0;
  }
  const [, , step, ...args] = positionals;
  if (step === undefined || !['add', 'promote', 'retire', 'status'].includes(step)) return usage('keys rotate needs a step: add, promote, retire or status');
  if ((values.config === undefined) === (values.keys === undefined)) return usage('keys rotate needs exactly one of --config FILE and --keys FILE');
  const alg = values.alg ?? 'EdDSA';
  if (alg !== 'EdDSA' && alg !== 'ES256') return usage('--alg must be EdDSA or ES256');

  let file: string;
  let settings: RotationSettings;
  if (values.config !== undefined) {
    const loaded = loadConfig(values.config);
    const { keysFile, minPublishSeconds, ttlSeconds, activeKid } = loaded.config.identity;
    if (keysFile === undefined) return fail(`${values.config}: identity.keysFile is not set (create one with \`trackgate keys generate\`)`);
    file = resolveFromConfig(loaded, keysFile);
    settings = { minPublishSeconds, ttlSeconds, activeKid };
  } else {
    const { minPublishSeconds, ttlSeconds } = configSchema.parse({}).identity;
    file = values.keys!;
    settings = { minPublishSeconds, ttlSeconds };
  }
  let set: JwkSet;
  try {
    // Validates every key (and the stamps) the way trackgate will load them.
    loadKeyRing(file, settings.activeKid);
    set = JSON.parse(readFileSync(file, 'utf8')) as JwkSet;
  } catch (err) {
    return fail((err as Error).message);
  }
  try {
    const t = now();
    if (step === 'status') {
      process.stdout.write(`${rotationStatus(set, t, settings).join('\n')}\n`);
      return 0;
    }
    const result = step === 'add' ? addKey(set, alg, t, settings)
      : step === 'promote' ? promoteKey(set, args[0], t, settings, values.force === true)
        : retireKeys(set, args, t, settings, values.force === true);
    writeFileSync(`${file}.tmp`, `${JSON.stringify(result.jwks, null, 2)}\n`, { mode: 0o600 });
    renameSync(`${file}.tmp`, file);
    process.stdout.write(`${file}:\n${result.lines.map((l) => `  ${l}`).join('\n')}\n`);
    return 0;
  } catch (err) {
    if (err instanceof RotationRefused) return fail(`${step} refused: ${err.message}`);
    return fail((err as Error).message);
  }
}

function fail(message: string): number {
  process.stderr.write(`trackgate: ${message}\n`);
  return 1;
}
