/**
 * `trackgate accounts …` and `trackgate import …`: edit the accounts file from the command line.
 *
 *   accounts list [--json]                          principals, never a hash or digest
 *   accounts add user NAME [--account ID]... [--realm R] [--update]   password from stdin; --realm adds
 *                                                   Digest HA1s for realm R (kept in step by --update)
 *   accounts add admin EMAIL --instance ID [--update]        password from stdin
 *   accounts add web-service-key USER               prints the new key once
 *   accounts add user-group INSTANCE_ID             prints the new instance key once
 *   accounts add device INSTANCE_ID DEVICE_ID       prints the new device token once
 *   accounts add application CLIENT_ID [--name N]   prints the new client secret once
 *   accounts remove user NAME | admin EMAIL [--instance ID] | user-group INSTANCE_ID
 *                   | device INSTANCE_ID DEVICE_ID | application CLIENT_ID
 *                   | web-service-key USER        (the key itself on stdin)
 *   import htpasswd FILE [--dry-run] [--account ID]... [--skip-invalid]
 *   import htdigest FILE --realm R [--dry-run] [--account ID]...
 *
 * All take `--accounts FILE`; the default is the `accountsFile` of `--config FILE`, else
 * config/accounts.yaml. Secrets are read from stdin, never from the command line (it shows in `ps` and shell
 * history). A generated secret is the only thing printed on stdout, once; it is stored only as a hash or
 * lookup digest. Every write is validated and atomic (see accounts-file.ts), so a running trackgate with
 * `watch: true` picks the change up. An import that runs past a second shows its progress on stderr
 * (progress.ts): stdout has a line per user, which a script may read.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { YAMLMap } from 'yaml';
import { ConfigError } from '../config/load.js';
import { loadConfig } from '../config-schema.js';
import { AccountsDocument, adminKey } from '../accounts/accounts-file.js';
import { lookupDigest } from '../accounts/digest-token.js';
import { hashFormat, hashPassword } from '../accounts/password.js';
import { parseHtpasswd } from '../accounts/htpasswd.js';
import { HtdigestError, parseHtdigest } from '../accounts/htdigest.js';
import type { AccountsFile, DigestMaterial } from '../accounts/schema.js';
import { DIGEST_HASHES, digestHa1, type DigestHash } from '../authn/digest-hash.js';
import { Progress } from './progress.js';

/** The options of these commands, for the top-level parser in cli.ts (which must know every option). */
export const ACCOUNTS_CLI_OPTIONS = {
  accounts: { type: 'string' },
  account: { type: 'string', multiple: true },
  instance: { type: 'string' },
  name: { type: 'string' },
  realm: { type: 'string' },
  json: { type: 'boolean' },
  update: { type: 'boolean' },
  'dry-run': { type: 'boolean' },
  'skip-invalid': { type: 'boolean' },
} as const;

export const ACCOUNTS_USAGE = `  trackgate accounts list [--json]     list users, admins, user groups and applications (never a hash)
  trackgate accounts add user NAME [--account ID]... [--realm R] | admin EMAIL --instance ID   (password on stdin)
  trackgate accounts add web-service-key USER | user-group ID | device GROUP_ID DEVICE_ID | application CLIENT_ID
                                       (prints the generated secret once)
  trackgate accounts remove user NAME | admin EMAIL | user-group ID | device GROUP_ID DEVICE_ID
                                       | application CLIENT_ID | web-service-key USER (key on stdin)
  trackgate import htpasswd FILE [--dry-run] [--skip-invalid]   merge an Apache htpasswd file's users
  trackgate import htdigest FILE --realm R [--dry-run]          merge an Apache htdigest file's Digest HA1s
      (accounts and import take --accounts FILE; default: accountsFile of --config FILE, else config/accounts.yaml)
`;

export interface CliIO {
  stdin: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (mode: boolean) => unknown };
  stdout: { write(s: string): unknown; isTTY?: boolean };
  stderr: { write(s: string): unknown; isTTY?: boolean };
  /** The clock of long imports' progress (epoch ms); tests pass their own. */
  now?: () => number;
}

class UsageError extends Error {}
class CliError extends Error {}

// C0 controls and DEL can never travel in Basic credentials (RFC 7617 §2): such a name or password could
// never log in.
const CONTROL_RE = /[\u0000-\u001f\u007f]/;
const SECRET_BYTES = 32;
const newSecret = (): string => randomBytes(SECRET_BYTES).toString('base64url');

/** Runs `accounts …` or `import …` (argv as given to `trackgate`); returns the exit code. */
export async function runAccountsCli(argv: string[], io: CliIO = process): Promise<number> {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' }, ...ACCOUNTS_CLI_OPTIONS },
    });
    const [command, verb, ...args] = positionals;
    if (values.help) {
      io.stdout.write(`usage:\n${ACCOUNTS_USAGE}`);
      return 0;
    }
    const ctx: Ctx = { io, values, file: accountsPath(values) };
    if (command === 'accounts') {
      if (verb === 'list') return list(ctx);
      if (verb === 'add') return await add(ctx, args);
      if (verb === 'remove') return await remove(ctx, args);
      throw new UsageError(`unknown accounts command ${verb === undefined ? '(none)' : `"${verb}"`}`);
    }
    if (command === 'import') {
      if (verb === 'htpasswd') return await importHtpasswd(ctx, one(args, 'import htpasswd FILE'));
      if (verb === 'htdigest') return await importHtdigest(ctx, one(args, 'import htdigest FILE --realm R'));
      throw new UsageError(`unknown import format ${verb === undefined ? '(none)' : `"${verb}"`} (htpasswd or htdigest)`);
    }
    throw new UsageError(`not an accounts command: ${command ?? '(none)'}`);
  } catch (err) {
    if (err instanceof UsageError || (err instanceof Error && String((err as { code?: unknown }).code).startsWith('ERR_PARSE_ARGS'))) {
      io.stderr.write(`trackgate: ${(err as Error).message}\nusage: trackgate accounts list|add|remove ... | trackgate import htpasswd|htdigest FILE   (trackgate accounts --help)\n`);
      return 2;
    }
    if (err instanceof ConfigError) {
      io.stderr.write(`trackgate: ${err.message}\n`);
      return 1;
    }
    if (err instanceof CliError) {
      io.stderr.write(`trackgate: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}

type Values = {
  config?: string | undefined;
  accounts?: string | undefined;
  account?: string[] | undefined;
  instance?: string | undefined;
  name?: string | undefined;
  realm?: string | undefined;
  json?: boolean | undefined;
  update?: boolean | undefined;
  'dry-run'?: boolean | undefined;
  'skip-invalid'?: boolean | undefined;
};

interface Ctx {
  io: CliIO;
  values: Values;
  /** Absolute path of the accounts file. */
  file: string;
}

function accountsPath(values: Values): string {
  if (values.accounts !== undefined) return resolve(values.accounts);
  if (values.config !== undefined) return loadConfig(values.config).accountsPath;
  return resolve('config/accounts.yaml');
}

function one(args: string[], usage: string): string {
  if (args.length !== 1) throw new UsageError(`wrong number of arguments: trackgate ${usage}`);
  return args[0]!;
}

function two(args: string[], usage: string): [string, string] {
  if (args.length !== 2) throw new UsageError(`wrong number of arguments: trackgate ${usage}`);
  return [args[0]!, args[1]!];
}

function checkName(what: string, name: string): string {
  if (name === '') throw new CliError(`empty ${what}`);
  if (CONTROL_RE.test(name)) throw new CliError(`${what} contains control characters`);
  return name;
}

// ---------------------------------------------------------------------------------------------- list

export interface AccountsSummary {
  users: { username: string; id?: string; password: string | null; webServiceKeys: number; digestRealm?: string; accounts: string[] }[];
  admins: { email: string; instanceId: string }[];
  userGroups: { instanceId: string; devices: string[] }[];
  applications: { clientId: string; name?: string }[];
}

/** What `accounts list` shows: names and formats, never a hash or digest. */
export function summarize(file: AccountsFile): AccountsSummary {
  return {
    users: file.users.map((u) => ({
      username: u.username,
      ...(u.id !== undefined ? { id: u.id } : {}),
      password: u.password === undefined ? null : hashFormat(u.password) ?? 'unsupported',
      webServiceKeys: u.webServiceKeys.length,
      ...(u.digest !== undefined ? { digestRealm: u.digest.realm } : {}),
      accounts: [...u.accounts],
    })),
    admins: file.admins.map((a) => ({ email: a.email, instanceId: a.instanceId })),
    userGroups: file.userGroups.map((g) => ({ instanceId: g.instanceId, devices: g.devices.map((d) => d.id) })),
    applications: file.applications.map((a) => ({ clientId: a.clientId, ...(a.name !== undefined ? { name: a.name } : {}) })),
  };
}

function list(ctx: Ctx): number {
  const s = summarize(AccountsDocument.open(ctx.file).validate());
  if (ctx.values.json) {
    ctx.io.stdout.write(`${JSON.stringify(s, null, 2)}\n`);
    return 0;
  }
  const out: string[] = [`${ctx.file}`];
  out.push(`users (${s.users.length}):`);
  for (const u of s.users) {
    const parts = [`  ${u.username}`];
    if (u.id !== undefined) parts.push(`id=${u.id}`);
    parts.push(`password=${u.password ?? 'none'}`);
    if (u.webServiceKeys > 0) parts.push(`web-service-keys=${u.webServiceKeys}`);
    if (u.digestRealm !== undefined) parts.push(`digest-realm=${JSON.stringify(u.digestRealm)}`);
    if (u.accounts.length > 0) parts.push(`accounts=${u.accounts.join(',')}`);
    out.push(parts.join('  '));
  }
  out.push(`admins (${s.admins.length}):`);
  for (const a of s.admins) out.push(`  ${a.email}  instance=${a.instanceId}`);
  out.push(`user groups (${s.userGroups.length}):`);
  for (const g of s.userGroups) out.push(`  ${g.instanceId}  devices=${g.devices.length > 0 ? g.devices.join(',') : '(none)'}`);
  out.push(`applications (${s.applications.length}):`);
  for (const a of s.applications) out.push(`  ${a.clientId}${a.name !== undefined ? `  name=${JSON.stringify(a.name)}` : ''}`);
  ctx.io.stdout.write(`${out.join('\n')}\n`);
  return 0;
}

// ---------------------------------------------------------------------------------------------- add

async function add(ctx: Ctx, args: string[]): Promise<number> {
  const [kind, ...rest] = args;
  const doc = AccountsDocument.open(ctx.file);
  const { io, values } = ctx;
  switch (kind) {
    case 'user': {
      const name = checkName('user name', one(rest, 'accounts add user NAME [--account ID]...'));
      if (name.includes(':')) throw new CliError('user name must not contain ":" (RFC 7617)');
      const existing = doc.get('users', name);
      if (existing !== undefined && !values.update) {
        throw new CliError(`user "${name}" already exists in ${ctx.file} (--update replaces its password)`);
      }
      const clear = await readPassword(io, `password for ${name}`);
      const password = await hashPassword(clear);
      // Digest HA1s derive from the password: made for --realm, and remade on --update so that the old
      // password stops working through Digest too.
      const current = existing?.value.digest as { realm?: unknown; ha1?: Record<string, unknown> } | undefined;
      const realm = values.realm ?? (typeof current?.realm === 'string' ? current.realm : undefined);
      const digest = realm === undefined ? undefined : digestMaterial(name, realm, clear,
        values.realm === undefined && current?.ha1 !== undefined ? DIGEST_HASHES.filter((h) => current.ha1![h] !== undefined) : DIGEST_HASHES);
      if (existing === undefined) {
        doc.add('users', {
          username: name, password, ...(digest !== undefined ? { digest } : {}), ...(values.account?.length ? { accounts: values.account } : {}),
        });
      } else {
        doc.set(existing.node, 'password', password);
        if (digest !== undefined) doc.set(existing.node, 'digest', digest);
        if (values.account?.length) doc.set(existing.node, 'accounts', values.account);
      }
      doc.save();
      io.stdout.write(`${existing === undefined ? 'added' : 'updated'} user ${name}${digest !== undefined ? ` (with Digest HA1s for realm "${digest.realm}")` : ''} in ${ctx.file}\n`);
      return 0;
    }
    case 'admin': {
      const email = checkName('email', one(rest, 'accounts add admin EMAIL --instance ID'));
      const instanceId = values.instance;
      if (instanceId === undefined || instanceId === '') throw new UsageError('accounts add admin needs --instance ID');
      const existing = doc.get('admins', adminKey(instanceId, email));
      if (existing !== undefined && !values.update) {
        throw new CliError(`admin ${email} of instance ${instanceId} already exists (--update replaces the password)`);
      }
      const password = await hashPassword(await readPassword(io, `password for ${email}`));
      if (existing !== undefined) {
        doc.set(existing.node, 'password', password);
        doc.save();
        io.stdout.write(`updated admin ${email} (instance ${instanceId}) in ${ctx.file}\n`);
        return 0;
      }
      // The instance key belongs to the API instance: shared by its admins, generated with the first one.
      const sibling = doc.find('admins', (a) => a.instanceId === instanceId);
      const instanceKey = sibling === undefined ? newSecret() : undefined;
      doc.add('admins', {
        email, instanceId,
        instanceKey: instanceKey === undefined ? sibling!.value.instanceKey : await hashPassword(instanceKey),
        password,
      });
      doc.save();
      if (instanceKey === undefined) {
        io.stdout.write(`added admin ${email} (instance ${instanceId}) to ${ctx.file}\n`);
      } else {
        io.stderr.write(`added admin ${email} to ${ctx.file}; new API instance ${instanceId}, its instance key (shown once):\n`);
        io.stdout.write(`${instanceKey}\n`);
      }
      return 0;
    }
    case 'web-service-key': {
      const name = one(rest, 'accounts add web-service-key USER');
      const user = doc.get('users', name);
      if (user === undefined) throw new CliError(`no user "${name}" in ${ctx.file}`);
      const key = newSecret();
      doc.list(user.node, 'webServiceKeys').add(doc.node(lookupDigest(key)));
      doc.save();
      io.stderr.write(`added a web-service key for ${name} to ${ctx.file} (shown once):\n`);
      io.stdout.write(`${key}\n`);
      return 0;
    }
    case 'user-group': {
      const instanceId = checkName('instance id', one(rest, 'accounts add user-group INSTANCE_ID'));
      if (doc.get('userGroups', instanceId)) throw new CliError(`user group ${instanceId} already exists`);
      const key = newSecret();
      doc.add('userGroups', { instanceId, instanceKey: await hashPassword(key), devices: [] });
      doc.save();
      io.stderr.write(`added user group ${instanceId} to ${ctx.file}; its instance key (shown once):\n`);
      io.stdout.write(`${key}\n`);
      return 0;
    }
    case 'device': {
      const [instanceId, deviceId] = two(rest, 'accounts add device INSTANCE_ID DEVICE_ID');
      checkName('device id', deviceId);
      const group = doc.get('userGroups', instanceId);
      if (group === undefined) {
        throw new CliError(`no user group ${instanceId} in ${ctx.file} (add it with \`trackgate accounts add user-group ${instanceId}\`)`);
      }
      const devices = Array.isArray(group.value.devices) ? group.value.devices as { id?: unknown }[] : [];
      if (devices.some((d) => d.id === deviceId)) throw new CliError(`device ${deviceId} already exists in user group ${instanceId}`);
      const token = newSecret();
      doc.list(group.node, 'devices').add(doc.node({ id: deviceId, deviceToken: lookupDigest(token) }));
      doc.save();
      io.stderr.write(`added device ${deviceId} to user group ${instanceId} in ${ctx.file}; its device token (shown once):\n`);
      io.stdout.write(`${token}\n`);
      return 0;
    }
    case 'application': {
      const clientId = checkName('client id', one(rest, 'accounts add application CLIENT_ID [--name NAME]'));
      if (doc.get('applications', clientId)) throw new CliError(`application ${clientId} already exists`);
      const secret = newSecret();
      doc.add('applications', { clientId, ...(values.name !== undefined ? { name: values.name } : {}), clientSecret: await hashPassword(secret) });
      doc.save();
      io.stderr.write(`added application ${clientId} to ${ctx.file}; its client secret (shown once):\n`);
      io.stdout.write(`${secret}\n`);
      return 0;
    }
    default:
      throw new UsageError(`accounts add: unknown kind ${kind === undefined ? '(none)' : `"${kind}"`}`);
  }
}

// ---------------------------------------------------------------------------------------------- remove

async function remove(ctx: Ctx, args: string[]): Promise<number> {
  const [kind, ...rest] = args;
  const doc = AccountsDocument.open(ctx.file);
  const { io, values } = ctx;
  const done = (what: string): number => {
    doc.save();
    io.stdout.write(`removed ${what} from ${ctx.file}\n`);
    return 0;
  };
  switch (kind) {
    case 'user': {
      const name = one(rest, 'accounts remove user NAME');
      const user = doc.get('users', name);
      if (user === undefined) throw new CliError(`no user "${name}" in ${ctx.file}`);
      doc.remove('users', user);
      return done(`user ${name}`);
    }
    case 'admin': {
      const email = one(rest, 'accounts remove admin EMAIL [--instance ID]');
      const matches = doc.entries('admins').filter((a) => String(a.value.email).toLowerCase() === email.toLowerCase()
        && (values.instance === undefined || a.value.instanceId === values.instance));
      if (matches.length === 0) throw new CliError(`no admin ${email}${values.instance !== undefined ? ` of instance ${values.instance}` : ''} in ${ctx.file}`);
      if (matches.length > 1) throw new UsageError(`admin ${email} exists for several instances: add --instance ID`);
      doc.remove('admins', matches[0]!);
      return done(`admin ${email} (instance ${String(matches[0]!.value.instanceId)})`);
    }
    case 'user-group': {
      const instanceId = one(rest, 'accounts remove user-group INSTANCE_ID');
      const group = doc.get('userGroups', instanceId);
      if (group === undefined) throw new CliError(`no user group ${instanceId} in ${ctx.file}`);
      const n = Array.isArray(group.value.devices) ? group.value.devices.length : 0;
      doc.remove('userGroups', group);
      return done(`user group ${instanceId} and its ${n} device(s)`);
    }
    case 'device': {
      const [instanceId, deviceId] = two(rest, 'accounts remove device INSTANCE_ID DEVICE_ID');
      const group = doc.get('userGroups', instanceId);
      if (group === undefined) throw new CliError(`no user group ${instanceId} in ${ctx.file}`);
      const devices = doc.list(group.node, 'devices');
      const index = devices.items.findIndex((d) => (d as YAMLMap).get?.('id') === deviceId);
      if (index < 0) throw new CliError(`no device ${deviceId} in user group ${instanceId}`);
      devices.delete(index);
      return done(`device ${deviceId} of user group ${instanceId}`);
    }
    case 'application': {
      const clientId = one(rest, 'accounts remove application CLIENT_ID');
      const app = doc.get('applications', clientId);
      if (app === undefined) throw new CliError(`no application ${clientId} in ${ctx.file}`);
      doc.remove('applications', app);
      return done(`application ${clientId}`);
    }
    case 'web-service-key': {
      const name = one(rest, 'accounts remove web-service-key USER   (the key on stdin)');
      const user = doc.get('users', name);
      if (user === undefined) throw new CliError(`no user "${name}" in ${ctx.file}`);
      const digest = lookupDigest(await readSecret(io, `web-service key of ${name} to remove`));
      const keys = doc.list(user.node, 'webServiceKeys');
      const index = keys.items.findIndex((k) => (k as { value?: unknown }).value === digest);
      if (index < 0) throw new CliError(`that key is not one of ${name}'s web-service keys`);
      keys.delete(index);
      return done(`a web-service key of ${name}`);
    }
    default:
      throw new UsageError(`accounts remove: unknown kind ${kind === undefined ? '(none)' : `"${kind}"`}`);
  }
}

// ---------------------------------------------------------------------------------------------- import

async function readInput(io: CliIO, file: string): Promise<Buffer> {
  if (file === '-') {
    const chunks: Buffer[] = [];
    for await (const c of io.stdin) chunks.push(typeof c === 'string' ? Buffer.from(c) : c);
    return Buffer.concat(chunks);
  }
  try {
    return readFileSync(file);
  } catch (err) {
    throw new CliError(`cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
}

async function importHtpasswd(ctx: Ctx, file: string): Promise<number> {
  const { io, values } = ctx;
  let parsed: ReturnType<typeof parseHtpasswd>;
  try {
    parsed = parseHtpasswd(await readInput(io, file));
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw new CliError(`${file}: ${(err as Error).message}`);
  }
  for (const p of parsed.problems) io.stderr.write(`${file}:${p.line}: ${p.message}\n`);
  if (parsed.problems.length > 0 && !values['skip-invalid']) {
    throw new CliError(`${file}: ${parsed.problems.length} line(s) cannot be imported; nothing written (--skip-invalid imports the others)`);
  }
  const doc = AccountsDocument.open(ctx.file);
  const counts = { added: 0, updated: 0, unchanged: 0 };
  const progress = importProgress(io, parsed.entries.length);
  for (const [i, e] of parsed.entries.entries()) {
    progress.update(i);
    const existing = doc.get('users', e.username);
    if (existing === undefined) {
      doc.add('users', { username: e.username, password: e.password, ...(values.account?.length ? { accounts: values.account } : {}) });
      io.stdout.write(`added    ${e.username} (${e.format})\n`);
      counts.added++;
    } else if (existing.value.password === e.password) {
      io.stdout.write(`same     ${e.username}\n`);
      counts.unchanged++;
    } else {
      const before = typeof existing.value.password === 'string' ? hashFormat(existing.value.password) ?? 'unsupported' : 'none';
      doc.set(existing.node, 'password', e.password);
      // A Digest HA1 cannot be remade without the clear password: say so rather than drop it silently.
      const stale = existing.value.digest !== undefined ? '; its Digest HA1 is unchanged: import the matching htdigest file if the password changed' : '';
      io.stdout.write(`updated  ${e.username} (password hash replaced: ${before} → ${e.format}${stale})\n`);
      counts.updated++;
    }
  }
  return finishImport(ctx, doc, counts, progress);
}

async function importHtdigest(ctx: Ctx, file: string): Promise<number> {
  const { io, values } = ctx;
  const realm = values.realm;
  if (realm === undefined || realm === '') throw new UsageError('import htdigest needs --realm R (the realm of authn.digest)');
  const text = (await readInput(io, file)).toString('utf8');
  let entries: ReturnType<typeof parseHtdigest>;
  try {
    entries = parseHtdigest(text, { realm });
  } catch (err) {
    if (err instanceof HtdigestError) throw new CliError(`${file}: ${err.message}; nothing written`);
    throw err;
  }
  if (entries.length === 0) {
    const realms = [...new Set(parseHtdigest(text).map((e) => e.digest.realm))];
    throw new CliError(`${file}: no entries for realm "${realm}"${realms.length > 0 ? ` (realms in the file: ${realms.map((r) => `"${r}"`).join(', ')})` : ''}`);
  }
  const doc = AccountsDocument.open(ctx.file);
  const counts = { added: 0, updated: 0, unchanged: 0 };
  const progress = importProgress(io, entries.length);
  for (const [i, e] of entries.entries()) {
    progress.update(i);
    const existing = doc.get('users', e.username);
    if (existing === undefined) {
      doc.add('users', { username: e.username, digest: e.digest, ...(values.account?.length ? { accounts: values.account } : {}) });
      io.stdout.write(`added    ${e.username} (Digest HA1 for realm "${realm}", no Basic password)\n`);
      counts.added++;
      continue;
    }
    const current = existing.value.digest as { realm?: unknown; ha1?: Record<string, unknown> } | undefined;
    if (current?.realm === realm && current.ha1?.MD5 === e.digest.ha1.MD5) {
      io.stdout.write(`same     ${e.username}\n`);
      counts.unchanged++;
      continue;
    }
    // Other hash functions' HA1s for the same realm stay valid only when the password did not change,
    // which an MD5 HA1 cannot tell: they are replaced.
    doc.set(existing.node, 'digest', e.digest);
    const stale = existing.value.password !== undefined && current !== undefined ? '; its Basic password hash is unchanged: import the matching htpasswd file if the password changed' : '';
    io.stdout.write(`updated  ${e.username} (Digest HA1 ${current === undefined ? 'added' : 'replaced'}${stale})\n`);
    counts.updated++;
  }
  return finishImport(ctx, doc, counts, progress);
}

/** Users merged so far, on stderr (see progress.ts). */
function importProgress(io: CliIO, total: number): Progress {
  return new Progress('import: users merged', total, {
    out: io.stderr, inPlace: io.stderr.isTTY === true && io.stdout.isTTY !== true, ...(io.now !== undefined ? { now: io.now } : {}),
  });
}

function finishImport(ctx: Ctx, doc: AccountsDocument, counts: { added: number; updated: number; unchanged: number }, progress: Progress): number {
  const summary = `${counts.added} added, ${counts.updated} updated, ${counts.unchanged} unchanged`;
  const writing = !ctx.values['dry-run'] && counts.added + counts.updated > 0;
  progress.end(`all ${counts.added + counts.updated + counts.unchanged}${writing ? '; validating and writing the accounts file' : ''}`);
  if (ctx.values['dry-run']) {
    doc.validate(); // a dry run reports what a real one would refuse
    ctx.io.stdout.write(`${summary} (dry run: ${ctx.file} not written)\n`);
  } else if (counts.added + counts.updated === 0) {
    ctx.io.stdout.write(`${summary}: ${ctx.file} not changed\n`);
  } else {
    doc.save();
    ctx.io.stdout.write(`${summary}: written to ${ctx.file}\n`);
  }
  return 0;
}

function digestMaterial(username: string, realm: string, password: string, hashes: readonly DigestHash[]): DigestMaterial {
  return { realm, ha1: Object.fromEntries(hashes.map((h) => [h, digestHa1(h, username, realm, password)])) };
}

// ---------------------------------------------------------------------------------------------- stdin

/** A password: typed twice without echo on a terminal, else all of stdin less one final newline. */
async function readPassword(io: CliIO, what: string): Promise<string> {
  let password: string;
  if (io.stdin.isTTY && io.stdin.setRawMode) {
    password = await promptHidden(io, `${what}: `);
    if (await promptHidden(io, 'again: ') !== password) throw new CliError('the two passwords differ');
  } else {
    password = await readAll(io);
  }
  if (password === '') throw new CliError(`empty ${what} (give it on stdin)`);
  if (CONTROL_RE.test(password)) throw new CliError('the password contains control characters or several lines; it could never be sent in Basic');
  return password;
}

async function readSecret(io: CliIO, what: string): Promise<string> {
  const secret = io.stdin.isTTY && io.stdin.setRawMode ? await promptHidden(io, `${what}: `) : await readAll(io);
  if (secret === '') throw new CliError(`empty ${what} (give it on stdin)`);
  return secret;
}

async function readAll(io: CliIO): Promise<string> {
  return (await readInput(io, '-')).toString('utf8').replace(/\r?\n$/, '');
}

function promptHidden(io: CliIO, prompt: string): Promise<string> {
  const stdin = io.stdin as NodeJS.ReadStream;
  io.stderr.write(prompt);
  stdin.setRawMode(true);
  stdin.setEncoding('utf8');
  stdin.resume();
  return new Promise((resolvePrompt, reject) => {
    let value = '';
    const finish = (): void => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      io.stderr.write('\n');
    };
    const onData = (chunk: string): void => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') { finish(); resolvePrompt(value); return; }
        if (ch === '\u0003') { finish(); reject(new CliError('cancelled')); return; }
        if (ch === '\u007f' || ch === '\b') value = [...value].slice(0, -1).join('');
        else value += ch;
      }
    };
    stdin.on('data', onData);
  });
}
