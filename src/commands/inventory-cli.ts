/**
 * `trackgate inventory`: who uses which credential form, read from the configured store (`store.url` of
 * `--config FILE`, env overrides included) with the report the admin port's `/admin/inventory` serves
 * (src/inventory/report.ts): the same filters, the same JSON and CSV.
 *
 *   inventory [--scheme S] [--kind K] [--account A] [--since 30d] [--limit N] [--format table|csv|json]
 *
 * Records reach the store from each running process every `inventory.flushSeconds`, so the newest sightings may
 * be missing for that long.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { cliFailure } from './cli-failure.js';
import { loadConfig } from '../config-schema.js';
import { TrackgateError } from '../errors.js';
import { inventoryReport, parseFormat, parseInventoryQuery, renderReport } from '../inventory/report.js';
import { openStore } from '../store/open.js';
import type { Store } from '../store/types.js';

/** The options of this command, for the top-level parser in cli.ts (which must know every option). */
export const INVENTORY_CLI_OPTIONS = {
  scheme: { type: 'string' },
  kind: { type: 'string' },
  account: { type: 'string' },
  since: { type: 'string' },
  limit: { type: 'string' },
  format: { type: 'string' },
} as const;

export const INVENTORY_USAGE = `  trackgate inventory [--scheme S] [--kind K] [--account A] [--since 30d] [--limit N] [--format table|csv|json]
                                       who uses which credential form (the store's inventory; --since: last
                                       seen within s, m, h, d or w); needs --config FILE or TRACKGATE_CONFIG
`;

export interface InventoryCliIO {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
  env: NodeJS.ProcessEnv;
  now?: () => number;
}

class UsageError extends Error {}

/** Runs `inventory …` (argv as given to `trackgate`); returns the exit code. */
export async function runInventoryCli(argv: string[], io: InventoryCliIO = { stdout: process.stdout, stderr: process.stderr, env: process.env }): Promise<number> {
  let store: Store | undefined;
  try {
    const { values, positionals } = parseArgs({
      args: argv, allowPositionals: true, strict: true,
      options: { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' }, ...INVENTORY_CLI_OPTIONS },
    });
    if (values.help) { io.stdout.write(`usage:\n${INVENTORY_USAGE}`); return 0; }
    const [command, ...rest] = positionals;
    if (command !== 'inventory') throw new UsageError(`not an inventory command: ${command ?? '(none)'}`);
    if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}"`);
    const file = values.config ?? io.env.TRACKGATE_CONFIG;
    if (file === undefined) throw new UsageError('inventory needs --config FILE (or TRACKGATE_CONFIG)');
    const now = (io.now ?? Date.now)();
    const get = (name: string): string | undefined => values[name as keyof typeof INVENTORY_CLI_OPTIONS];
    // The arguments are checked before the store is touched: the report's own 400s become usage errors.
    let format;
    let query;
    try {
      format = parseFormat(values.format ?? 'table');
      query = parseInventoryQuery(get, now);
    } catch (err) {
      if (err instanceof TrackgateError) throw new UsageError(`--${err.message}`);
      throw err;
    }
    const storeConfig = loadConfig(file, io.env).config.store;
    const url = storeConfig.url;
    if (url.startsWith('sqlite:') && url !== 'sqlite::memory:' && !existsSync(resolve(url.slice('sqlite:'.length)))) {
      throw new Error(`no store at ${resolve(url.slice('sqlite:'.length))} (store.url ${url}, relative to the working directory)`);
    }
    store = await openStore(storeConfig, io.env);
    io.stdout.write(renderReport(await inventoryReport(store, query, now), format).body);
    return 0;
  } catch (err) {
    return cliFailure(err, io.stderr, 'trackgate inventory [--scheme S] [--since 30d] [--format table|csv|json] --config FILE   (trackgate inventory --help)', err instanceof UsageError);
  } finally {
    await store?.close();
  }
}
