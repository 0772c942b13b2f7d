/**
 * `trackgate tokens …`: issued tokens, for operators, straight from the configured store (`store.url` of
 * `--config FILE`, env overrides included; SQLite or Redis through the same `openStore`).
 *
 *   tokens list [--subject S] [--limit N] [--json]   newest first: digest, type, issuer, subject, kind, expiry,
 *                                                    revocation. Never a token value: none is stored. The table
 *                                                    shortens digests; --json gives them whole (for --digest).
 *   tokens revoke TOKEN | -                          by value (`-`: read from stdin, which keeps it out of `ps`
 *                                                    and shell history; a value starting with `-` needs
 *                                                    `tokens revoke -- VALUE` on the command line)
 *   tokens revoke --digest sha256:<hex>              by digest, as `tokens list --json` shows it
 *   tokens revoke --subject S                        every live token of a subject
 *
 * Revoking a refresh token revokes its family, as the operator endpoint does. A revocation takes effect in a
 * running trackgate: with Redis through the store's pub/sub at once on every replica; with SQLite the running
 * process polls the store's revocation log every second (see store/sqlite.ts), so within about one second its
 * validation cache forgets the token and WebSockets opened with it are closed (4401).
 *
 * With Redis, `--subject` sees a subject's newest 1000 tokens (the store's per-subject index).
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { LOOKUP_DIGEST_RE, lookupDigest } from '../accounts/digest-token.js';
import { cliFailure } from './cli-failure.js';
import { loadConfig } from '../config-schema.js';
import { openStore } from '../store/open.js';
import type { Store, TokenRecord } from '../store/types.js';
import { shortDigest } from '../issue/dialects/operator.js';

/** The options of these commands, for the top-level parser in cli.ts (which must know every option). */
export const TOKENS_CLI_OPTIONS = {
  subject: { type: 'string' },
  limit: { type: 'string' },
  digest: { type: 'string' },
  json: { type: 'boolean' },
} as const;

export const TOKENS_USAGE = `  trackgate tokens list [--subject S] [--limit N] [--json]   issued tokens, newest first (digests, never values)
  trackgate tokens revoke TOKEN|- | --digest sha256:HEX | --subject S   revoke (- : token on stdin); a refresh
                                       token's whole family goes; a running trackgate follows within ~1 s
      (tokens takes --config FILE, or TRACKGATE_CONFIG: the store is the config's store.url)
`;

export interface TokensCliIO {
  stdin: NodeJS.ReadableStream;
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
  env: NodeJS.ProcessEnv;
}

class UsageError extends Error {}
class CliError extends Error {}

const DEFAULT_LIMIT = 50;
/** `--subject` revocation reads at most this many of the subject's tokens. */
const SUBJECT_SCAN_LIMIT = 1_000_000;

/** Runs `tokens …` (argv as given to `trackgate`); returns the exit code. */
export async function runTokensCli(argv: string[], io: TokensCliIO = { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env }): Promise<number> {
  let store: Store | undefined;
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' }, ...TOKENS_CLI_OPTIONS },
    });
    const [command, verb, ...args] = positionals;
    if (values.help) {
      io.stdout.write(`usage:\n${TOKENS_USAGE}`);
      return 0;
    }
    if (command !== 'tokens') throw new UsageError(`not a tokens command: ${command ?? '(none)'}`);
    if (verb !== 'list' && verb !== 'revoke') throw new UsageError(`unknown tokens command ${verb === undefined ? '(none)' : `"${verb}"`}`);
    const file = values.config ?? io.env.TRACKGATE_CONFIG;
    if (file === undefined) throw new UsageError('tokens needs --config FILE (or TRACKGATE_CONFIG)');
    // Validate the arguments before touching the store.
    const revokeBy = verb === 'revoke' ? revokeTarget(values, args) : undefined;
    if (verb === 'list' && args.length > 0) throw new UsageError(`unexpected argument "${args[0]}"`);
    const limit = verb === 'list' ? parseLimit(values.limit) : 0;
    const storeConfig = loadConfig(file, io.env).config.store;
    const url = storeConfig.url;
    if (url.startsWith('sqlite:') && url !== 'sqlite::memory:' && !existsSync(resolve(url.slice('sqlite:'.length)))) {
      throw new CliError(`no store at ${resolve(url.slice('sqlite:'.length))} (store.url ${url}, relative to the working directory)`);
    }
    store = await openStore(storeConfig, io.env);
    if (revokeBy === undefined) return await list(store, io, values.subject, limit, values.json === true);
    return await revoke(store, io, revokeBy);
  } catch (err) {
    return cliFailure(err, io.stderr, 'trackgate tokens list|revoke ... --config FILE   (trackgate tokens --help)', err instanceof UsageError);
  } finally {
    await store?.close();
  }
}

type Target = { by: 'value'; value: string | undefined } | { by: 'digest'; digest: string } | { by: 'subject'; subject: string };

function revokeTarget(values: { digest?: string | undefined; subject?: string | undefined }, args: string[]): Target {
  const given = [args.length > 0, values.digest !== undefined, values.subject !== undefined].filter(Boolean).length;
  if (given !== 1 || args.length > 1) throw new UsageError('tokens revoke takes exactly one of TOKEN (or - for stdin), --digest, --subject');
  if (values.digest !== undefined) {
    if (!LOOKUP_DIGEST_RE.test(values.digest)) throw new UsageError('--digest must be sha256:<64 hex digits>, as `tokens list --json` shows it');
    return { by: 'digest', digest: values.digest };
  }
  if (values.subject !== undefined) {
    if (values.subject === '') throw new UsageError('--subject must not be empty');
    return { by: 'subject', subject: values.subject };
  }
  return { by: 'value', value: args[0] === '-' ? undefined : args[0]! };
}

function parseLimit(raw: string | undefined): number {
  if (raw === undefined) return DEFAULT_LIMIT;
  if (!/^\d{1,7}$/.test(raw) || Number(raw) < 1) throw new UsageError('--limit must be a positive integer');
  return Number(raw);
}

async function readStdin(stdin: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stdin) chunks.push(typeof c === 'string' ? Buffer.from(c) : c as Buffer);
  return Buffer.concat(chunks).toString('utf8').trim();
}

async function list(store: Store, io: TokensCliIO, subject: string | undefined, limit: number, json: boolean): Promise<number> {
  const recs = await store.listTokens({ ...(subject !== undefined ? { subject } : {}), limit });
  if (json) {
    io.stdout.write(`${JSON.stringify(recs.map((r) => ({
      digest: r.digest, type: r.type, issuer: r.issuer, subject: r.subject, kind: r.kind,
      ...(r.account !== undefined ? { account: r.account } : {}),
      ...(r.instance !== undefined ? { instance: r.instance } : {}),
      ...(r.family !== undefined ? { family: r.family } : {}),
      issuedAt: iso(r.issuedAt), expiresAt: iso(r.expiresAt), revokedAt: r.revokedAt === undefined ? null : iso(r.revokedAt),
    })), null, 2)}\n`);
    return 0;
  }
  const rows = [['DIGEST', 'TYPE', 'ISSUER', 'SUBJECT', 'KIND', 'EXPIRES', 'REVOKED']];
  for (const r of recs) {
    rows.push([`${shortDigest(r.digest)}…`, r.type, r.issuer, r.subject, r.kind, iso(r.expiresAt), r.revokedAt === undefined ? '-' : iso(r.revokedAt)]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  for (const row of rows) io.stdout.write(`${row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')}\n`);
  return 0;
}

async function revoke(store: Store, io: TokensCliIO, target: Target): Promise<number> {
  const now = Date.now();
  if (target.by === 'subject') {
    const live = (await store.listTokens({ subject: target.subject, limit: SUBJECT_SCAN_LIMIT }))
      .filter((r) => r.revokedAt === undefined && r.expiresAt > now);
    const n = live.length === 0 ? 0 : await store.revokeTokens(live.map((r) => r.digest), now);
    io.stdout.write(`revoked ${n} token${n === 1 ? '' : 's'} of subject ${target.subject}\n`);
    return 0;
  }
  let digest: string;
  if (target.by === 'digest') {
    digest = target.digest;
  } else {
    const value = target.value ?? await readStdin(io.stdin);
    if (value === '') throw new UsageError('empty token on stdin');
    digest = lookupDigest(value);
  }
  const rec = await store.getToken(digest);
  if (rec === undefined) throw new CliError(`no such token (${shortDigest(digest)}…)`);
  const family = rec.type === 'refresh' && rec.family !== undefined ? await store.revokeFamily(rec.family, now) : [];
  const self = rec.revokedAt === undefined && !family.includes(rec.digest) ? await store.revokeTokens([rec.digest], now) : 0;
  const n = family.length + self;
  io.stdout.write(n === 0
    ? `already revoked: ${describe(rec)}\n`
    : `revoked ${describe(rec)}${family.length > 0 ? ` and its family (${n} tokens)` : ''}\n`);
  return 0;
}

function describe(r: TokenRecord): string {
  return `${r.type} token ${shortDigest(r.digest)}… of ${r.subject} (${r.issuer})`;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
