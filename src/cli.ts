/**
 * The `trackgate` command.
 *
 *   trackgate --config FILE            run the sidecar (same as `trackgate start --config FILE`)
 *   trackgate demo [--config FILE]     run with the bundled demo GPS service behind it (npm start)
 *   trackgate check-config FILE        validate a config (and its accounts, keys and secret files) without starting
 *   trackgate hash-password [--lookup] read a secret on stdin, print its hash for the accounts file
 *   trackgate keys generate [--alg EdDSA|ES256]   print a new private JWK set for identity.keysFile
 *   trackgate keys rotate add|promote|retire|status  rotate the signing key in safe steps (src/commands/keys-cli.ts)
 *   trackgate config-docs              print the config reference (docs/config.md) generated from the schema
 *   trackgate config-schema            print the config's JSON Schema (config/trackgate.schema.json)
 *   trackgate metrics-docs             print the metrics reference (docs/metrics.md) generated from the registries
 *   trackgate accounts list|add|remove  edit the accounts file; trackgate import htpasswd|htdigest FILE
 *   trackgate tokens list|revoke       issued tokens in the configured store (src/commands/tokens-cli.ts)
 *   trackgate store check              connect to the configured store and report what it found (src/commands/store-cli.ts)
 *   trackgate inventory                who uses which credential form, from the store (src/commands/inventory-cli.ts)
 *   trackgate version | --version      the trackgate and Node.js versions
 *
 * Exit codes, the same for every command and subcommand: 0 done; 1 it failed (an invalid config, a refused
 * step, an unreachable store); 2 a usage error (an unknown command or option, a missing or extra argument),
 * with one line of usage on stderr. `--help` after any command prints its usage on stdout.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ConfigError } from './config/load.js';
import { configSchema, loadConfig } from './config-schema.js';
import { loadAccounts } from './accounts/load.js';
import { hashPassword } from './accounts/password.js';
import { lookupDigest } from './accounts/digest-token.js';
import { generateJwks } from './identity/keys.js';
import { loadKeys } from './identity/load-keys.js';
import { sqliteLocationWarnings } from './store/sqlite-location.js';
import { runServer } from './server.js';
import { renderConfigDocs } from './config/docs.js';
import { ACCOUNTS_CLI_OPTIONS, ACCOUNTS_USAGE, runAccountsCli } from './commands/accounts-cli.js';
import { TOKENS_CLI_OPTIONS, TOKENS_USAGE, runTokensCli } from './commands/tokens-cli.js';
import { STORE_CLI_OPTIONS, STORE_USAGE, runStoreCli } from './commands/store-cli.js';
import { INVENTORY_CLI_OPTIONS, INVENTORY_USAGE, runInventoryCli } from './commands/inventory-cli.js';
import { KEYS_CLI_OPTIONS, KEYS_USAGE, runKeysRotateCli } from './commands/keys-cli.js';
import { renderConfigSchema } from './commands/config-schema.js';
import { versionLine } from './commands/version.js';

type Options = NonNullable<ParseArgsConfig['options']>;
type Values = Record<string, string | boolean | (string | boolean)[] | undefined>;

/** A command parsed here: its options (strict), how many arguments it takes, and what it does. */
interface Command {
  /** Its line in `trackgate help`, and the hint after a usage error. */
  usage: string;
  options: Options;
  /** The fewest and most positional arguments after the command's name. */
  args: readonly [number, number];
  run(values: Values, args: string[]): Promise<number> | number;
}

/** A command with subcommands of its own, which parses argv itself and returns the exit code. */
interface Group {
  /** Its lines in `trackgate help`, indented; empty when another group's lines cover it. */
  help: string;
  delegate(argv: string[]): Promise<number> | number;
}

class UsageError extends Error {
  constructor(message: string, readonly usage: string) { super(message); }
}

const HELP = { help: { type: 'boolean', short: 'h' } } as const;
const CONFIG = { config: { type: 'string', short: 'c' } } as const;

const COMMANDS: Record<string, Command | Group> = {
  start: {
    usage: 'trackgate [start] --config FILE      run the sidecar',
    options: { ...CONFIG, ...HELP }, args: [0, 0],
    run: async (values) => {
      const file = (values.config as string | undefined) ?? process.env.TRACKGATE_CONFIG;
      if (file === undefined) throw new UsageError('start needs --config FILE (or TRACKGATE_CONFIG)', COMMAND_USAGE.start!);
      await runServer(loadConfig(file));
      return 0;
    },
  },
  demo: {
    usage: 'trackgate demo [--config FILE]       run the demo (bundled GPS service behind trackgate)',
    options: { ...CONFIG, ...HELP }, args: [0, 0],
    run: async (values) => {
      // The demo service (and its WebSocket library) is loaded only for the demo, never by the sidecar.
      const { runDemo } = await import('./demo/run.js');
      await runDemo((values.config as string | undefined) ?? process.env.TRACKGATE_CONFIG ?? 'config/trackgate.yaml');
      return 0;
    },
  },
  'check-config': {
    usage: 'trackgate check-config FILE          validate a config file, its accounts, keys and secret files',
    options: { ...CONFIG, ...HELP }, args: [0, 1],
    run: (values, [arg]) => {
      const file = arg ?? (values.config as string | undefined);
      if (file === undefined) throw new UsageError('check-config needs a FILE', COMMAND_USAGE['check-config']!);
      const loaded = loadConfig(file);
      const accounts = loadAccounts(loaded.accountsPath);
      // The keys and secret files as the app would read them at start.
      loadKeys(loaded);
      // Warnings, not errors: a throwaway store is right for a trial, and nothing here knows which this is.
      for (const w of sqliteLocationWarnings(loaded.config.store.url, process.cwd())) process.stderr.write(`trackgate: warning: ${w}\n`);
      process.stdout.write(`${file}: ok (${accounts.users.length} users, ${accounts.admins.length} admins, `
        + `${accounts.userGroups.length} user groups, ${accounts.applications.length} applications)\n`);
      return 0;
    },
  },
  'hash-password': {
    usage: 'trackgate hash-password [--lookup]   hash a secret read from stdin (--lookup: sha256 digest for keys/device tokens)',
    options: { lookup: { type: 'boolean' }, ...HELP }, args: [0, 0],
    run: async (values) => {
      if (process.stdin.isTTY) process.stderr.write('secret (end with Enter, then Ctrl-D): ');
      const secret = await readStdin();
      if (secret === '') throw new UsageError('empty secret on stdin', COMMAND_USAGE['hash-password']!);
      process.stdout.write(`${values.lookup === true ? lookupDigest(secret) : await hashPassword(secret)}\n`);
      return 0;
    },
  },
  keys: {
    help: `  trackgate keys generate [--alg EdDSA|ES256]  print a private JWK set for identity.keysFile\n${KEYS_USAGE}`,
    delegate: (argv) => {
      const sub = parseArgs({ args: argv, allowPositionals: true, strict: false, options: ALL_OPTIONS }).positionals[1];
      if (sub === 'rotate') return runKeysRotateCli(argv);
      if (sub !== 'generate') throw new UsageError(sub === undefined ? 'keys needs a command: generate or rotate' : `unknown keys command "${sub}"`, 'trackgate keys generate|rotate ...');
      return runCommand(KEYS_GENERATE, argv, 2);
    },
  },
  'config-docs': {
    usage: 'trackgate config-docs                print the config reference (Markdown) generated from the schema',
    options: HELP, args: [0, 0],
    run: () => { process.stdout.write(renderConfigDocs(configSchema)); return 0; },
  },
  'config-schema': {
    usage: 'trackgate config-schema              print the config\'s JSON Schema (editor completion: config/trackgate.schema.json)',
    options: HELP, args: [0, 0],
    run: () => { process.stdout.write(renderConfigSchema()); return 0; },
  },
  'metrics-docs': {
    usage: 'trackgate metrics-docs               print the metrics reference (Markdown) generated from the registries',
    options: HELP, args: [0, 0],
    run: async () => {
      // Loaded only for this command: it builds every registry to list them.
      const { renderMetricsReference } = await import('./cluster/metrics-reference.js');
      process.stdout.write(await renderMetricsReference());
      return 0;
    },
  },
  accounts: { help: ACCOUNTS_USAGE, delegate: (argv) => runAccountsCli(argv) },
  import: { help: '', delegate: (argv) => runAccountsCli(argv) },
  tokens: { help: TOKENS_USAGE, delegate: (argv) => runTokensCli(argv) },
  store: { help: STORE_USAGE, delegate: (argv) => runStoreCli(argv) },
  inventory: { help: INVENTORY_USAGE, delegate: (argv) => runInventoryCli(argv) },
  version: {
    usage: 'trackgate version | --version        print the trackgate and Node.js versions',
    options: { version: { type: 'boolean' }, ...HELP }, args: [0, 0],
    run: () => { process.stdout.write(versionLine()); return 0; },
  },
  help: {
    usage: 'trackgate help | --help              print this',
    options: HELP, args: [0, 0],
    run: () => { process.stdout.write(usage()); return 0; },
  },
};

const KEYS_GENERATE: Command = {
  usage: 'trackgate keys generate [--alg EdDSA|ES256]',
  options: { alg: { type: 'string' }, ...HELP }, args: [0, 0],
  run: (values) => {
    const alg = (values.alg as string | undefined) ?? 'EdDSA';
    if (alg !== 'EdDSA' && alg !== 'ES256') throw new UsageError('--alg must be EdDSA or ES256', KEYS_GENERATE.usage);
    process.stdout.write(`${JSON.stringify(generateJwks(alg), null, 2)}\n`);
    return 0;
  },
};

/** Each command's usage line without its description: the hint after a usage error. */
const synopsis = (c: Command): string => c.usage.split(/\s{2,}/)[0]!;
const COMMAND_USAGE: Record<string, string> = Object.fromEntries(Object.entries(COMMANDS).flatMap(([name, c]) => ('usage' in c ? [[name, synopsis(c)]] : [])));

/**
 * Every option of every command, for finding the command's name before its own strict parse (an option's
 * value must not be taken for the command, as in `trackgate --config FILE`).
 */
const ALL_OPTIONS: Options = {
  ...CONFIG, ...HELP, version: { type: 'boolean' }, lookup: { type: 'boolean' }, alg: { type: 'string' },
  ...ACCOUNTS_CLI_OPTIONS, ...TOKENS_CLI_OPTIONS, ...KEYS_CLI_OPTIONS, ...STORE_CLI_OPTIONS, ...INVENTORY_CLI_OPTIONS,
};

const GENERIC_USAGE = 'trackgate COMMAND [OPTIONS]';

function usage(): string {
  return `usage:\n${Object.values(COMMANDS).map((c) => ('usage' in c ? `  ${c.usage}\n` : c.help)).join('')}`;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

/** Parses argv strictly for one command (its name takes `depth` positionals) and runs it; `hint` follows a usage error. */
function runCommand(command: Command, argv: string[], depth: number, hint = synopsis(command)): Promise<number> | number {
  let parsed: { values: Values; positionals: string[] };
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, strict: true, options: command.options });
  } catch (err) {
    throw new UsageError(parseArgsMessage(err as Error), hint);
  }
  if (parsed.values.help === true) {
    process.stdout.write(command === COMMANDS.help ? usage() : `usage: ${command.usage}\n`);
    return 0;
  }
  const args = parsed.positionals.slice(depth);
  const [min, max] = command.args;
  if (args.length < min) throw new UsageError('missing argument', hint);
  if (args.length > max) throw new UsageError(`unexpected argument "${args[max]}"`, hint);
  return command.run(parsed.values, args);
}

/** Node's parseArgs messages, shortened to what the user typed wrong. */
function parseArgsMessage(err: Error & { code?: string }): string {
  const unknown = /^Unknown option '([^']+)'/.exec(err.message);
  if (err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && unknown !== null) return `unknown option ${unknown[1]}`;
  return err.message;
}

/** Runs `trackgate` with `argv` (without node and the script); resolves with the exit code. */
export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, strict: false, options: ALL_OPTIONS });
  const name = positionals[0] ?? (values.version === true ? 'version' : values.config !== undefined ? 'start' : 'help');
  try {
    const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name]! : undefined;
    if (command === undefined) throw new UsageError(`unknown command "${name}"`, GENERIC_USAGE);
    if ('delegate' in command) return await command.delegate(argv);
    // No command named (`trackgate --config FILE`, `trackgate --bogus`): the hint is the general one.
    return positionals[0] === undefined ? await runCommand(command, argv, 0, GENERIC_USAGE) : await runCommand(command, argv, 1);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`trackgate: ${err.message}\nusage: ${err.usage}   (trackgate help lists every command)\n`);
      return 2;
    }
    if (err instanceof ConfigError) {
      process.stderr.write(`trackgate: invalid configuration: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}

/** The entry of bin/trackgate.js: runs the command and sets the exit code (a server keeps running). */
export async function main(argv: string[]): Promise<void> {
  process.exitCode = await run(argv);
}
