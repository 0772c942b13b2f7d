/**
 * The `trackgate` command.
 *
 *   trackgate --config FILE            run the sidecar (same as `trackgate start --config FILE`)
 *   trackgate demo [--config FILE]     run with the bundled demo GPS service behind it (npm start)
 *   trackgate check-config FILE        validate a config (and its accounts, keys and secret files) without starting
 *   trackgate hash-password [--lookup] read a secret on stdin, print its hash for the accounts file
 *   trackgate keys generate [--alg EdDSA|ES256]   print a new private JWK set for identity.keysFile
 *   trackgate keys rotate add|promote|retire|status  rotate the signing key in safe steps (src/identity/keys-cli.ts)
 *   trackgate config-docs              print the config reference (docs/config.md) generated from the schema
 *   trackgate accounts list|add|remove  edit the accounts file; trackgate import htpasswd|htdigest FILE
 *   trackgate tokens list|revoke       issued tokens in the configured store (src/issue/tokens-cli.ts)
 */
import { parseArgs } from 'node:util';
import { ConfigError, loadAccounts, loadConfig } from './config/load.js';
import { hashPassword } from './accounts/password.js';
import { lookupDigest } from './accounts/digest-token.js';
import { generateJwks } from './identity/keys.js';
import { loadKeys } from './identity/load-keys.js';
import { runServer } from './server.js';
import { renderConfigDocs } from './config/docs.js';
import { ACCOUNTS_CLI_OPTIONS, ACCOUNTS_USAGE, runAccountsCli } from './accounts/accounts-cli.js';
import { TOKENS_CLI_OPTIONS, TOKENS_USAGE, runTokensCli } from './issue/tokens-cli.js';
import { KEYS_CLI_OPTIONS, KEYS_USAGE, runKeysRotateCli } from './identity/keys-cli.js';

const USAGE = `usage:
  trackgate [start] --config FILE      run the sidecar
  trackgate demo [--config FILE]       run the demo (bundled GPS service behind trackgate)
  trackgate check-config FILE          validate a config file, its accounts, keys and secret files
  trackgate hash-password [--lookup]   hash a secret read from stdin (--lookup: sha256 digest for keys/device tokens)
  trackgate keys generate [--alg EdDSA|ES256]  print a private JWK set for identity.keysFile
${KEYS_USAGE}  trackgate config-docs                print the config reference (Markdown) generated from the schema
${ACCOUNTS_USAGE}${TOKENS_USAGE}`;

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

function fail(message: string, code = 1): never {
  process.stderr.write(`trackgate: ${message}\n`);
  process.exit(code);
}

export async function main(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      lookup: { type: 'boolean' },
      alg: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
      ...ACCOUNTS_CLI_OPTIONS, // parsed again, strictly, by accounts-cli.ts
      ...TOKENS_CLI_OPTIONS, // parsed again, strictly, by tokens-cli.ts
      ...KEYS_CLI_OPTIONS, // parsed again, strictly, by keys-cli.ts
    },
  });
  const [command = values.config ? 'start' : 'help', ...rest] = positionals;
  try {
    switch (command) {
      case 'start': {
        const file = values.config ?? process.env.TRACKGATE_CONFIG;
        if (file === undefined) fail('start needs --config FILE (or TRACKGATE_CONFIG)', 2);
        await runServer(loadConfig(file));
        return;
      }
      case 'demo': {
        // The demo service (and its WebSocket library) is loaded only for the demo, never by the sidecar.
        const { runDemo } = await import('./demo/run.js');
        await runDemo(values.config ?? process.env.TRACKGATE_CONFIG ?? 'config/trackgate.yaml');
        return;
      }
      case 'check-config': {
        const file = rest[0] ?? values.config;
        if (file === undefined) fail('check-config needs a FILE', 2);
        const loaded = loadConfig(file);
        const accounts = loadAccounts(loaded.accountsPath);
        // The keys and secret files as the app would read them at start.
        loadKeys(loaded);
        process.stdout.write(`${file}: ok (${accounts.users.length} users, ${accounts.admins.length} admins, `
          + `${accounts.userGroups.length} user groups, ${accounts.applications.length} applications)\n`);
        return;
      }
      case 'hash-password': {
        if (process.stdin.isTTY) process.stderr.write('secret (end with Enter, then Ctrl-D): ');
        const secret = await readStdin();
        if (secret === '') fail('empty secret on stdin', 2);
        process.stdout.write(`${values.lookup ? lookupDigest(secret) : await hashPassword(secret)}\n`);
        return;
      }
      case 'keys': {
        if (rest[0] === 'rotate') { process.exitCode = runKeysRotateCli(argv); return; }
        if (rest[0] !== 'generate') fail(`unknown keys command\n${USAGE}`, 2);
        const alg = values.alg ?? 'EdDSA';
        if (alg !== 'EdDSA' && alg !== 'ES256') fail('--alg must be EdDSA or ES256', 2);
        process.stdout.write(`${JSON.stringify(generateJwks(alg), null, 2)}\n`);
        return;
      }
      case 'config-docs':
        process.stdout.write(renderConfigDocs());
        return;
      case 'accounts': // accounts list|add|remove (src/accounts/accounts-cli.ts)
        process.exitCode = await runAccountsCli(argv);
        return;
      case 'import': // import htpasswd|htdigest FILE
        process.exitCode = await runAccountsCli(argv);
        return;
      case 'tokens': // tokens list|revoke (src/issue/tokens-cli.ts)
        process.exitCode = await runTokensCli(argv);
        return;
      case 'help':
        process.stdout.write(USAGE);
        return;
      default:
        fail(`unknown command "${command}"\n${USAGE}`, 2);
    }
  } catch (err) {
    if (err instanceof ConfigError) fail(`invalid configuration: ${err.message}`);
    throw err;
  }
}
