/**
 * Structured JSON logs (pino). Credentials never reach a log line: access lines carry a scrubbed path and a
 * keyed fingerprint of the credential, and `redact` censors any secret-bearing field that a future log call
 * might include by mistake.
 */
import { pino, type Logger as PinoLogger, type DestinationStream } from 'pino';
import { ACCESS_KEYS, accessLineWriter, type AccessLineWriter } from './access-line.js';

export type Logger = PinoLogger;

/** Field paths pino censors wherever they appear (one and two levels deep). */
export const REDACT_PATHS: readonly string[] = [
  ...[
    'authorization', 'authentication', 'cookie', 'password', 'secret', 'token', 'key',
    'instanceKey', 'deviceToken', 'refreshToken', 'accessToken', 'client_secret',
  ].flatMap((k) => [k, `*.${k}`, `*.headers.${k}`, `*.headers["${k.toLowerCase()}"]`]),
  // Credential headers whose names are not identifiers (bracket notation).
  ...['x-token', 'proxy-authorization', 'set-cookie'].flatMap((k) => [`["${k}"]`, `*["${k}"]`, `*.headers["${k}"]`]),
];

/**
 * Query parameters that carry a secret in some legacy API (`?key=` web-service keys, `_token`,
 * `access_token`, …), whether or not an enabled form reads them: their values are censored in any logged
 * `path` or `url`, so a credential no form strips still never reaches a log line.
 */
export const SECRET_QUERY_PARAMS: ReadonlySet<string> = new Set([
  '_token', 'token', 'access_token', 'refresh_token', 'id_token', 'key', 'api_key', 'apikey', 'password', 'passwd',
  'pwd', 'pass', 'secret', 'client_secret', 'instancekey', 'devicetoken', 'sig', 'signature', 'code',
]);

/** A query that names one of them literally (names are `[a-z_]`; an escaped name needs a `%`). */
const SECRET_PARAM_NAMED = new RegExp(`(?:^|&)(?:${[...SECRET_QUERY_PARAMS].join('|')})(?:=|&|$)`, 'i');

/** `target` with the value of every {@link SECRET_QUERY_PARAMS} parameter replaced by `[redacted]`. */
export function redactQuery(target: string): string {
  const q = target.indexOf('?');
  if (q < 0) return target;
  // Every access line comes here: most queries name no secret and need no split.
  if (target.indexOf('%', q) < 0 && !SECRET_PARAM_NAMED.test(target.slice(q + 1))) return target;
  const pairs = target.slice(q + 1).split('&').map((pair) => {
    const eq = pair.indexOf('=');
    if (eq < 0) return pair;
    const raw = pair.slice(0, eq);
    let name: string;
    try { name = decodeURIComponent(raw.replace(/\+/g, ' ')); } catch { name = raw; }
    return SECRET_QUERY_PARAMS.has(name.toLowerCase()) ? `${raw}=[redacted]` : pair;
  });
  return `${target.slice(0, q)}?${pairs.join('&')}`;
}

const redactTarget = (v: unknown): unknown => (typeof v === 'string' ? redactQuery(v) : v);

export interface LoggerOptions {
  level: string;
  /** Where lines go; defaults to stdout. Tests pass a stream to inspect every line. */
  destination?: DestinationStream;
  /** Fields on every line besides `service` (cluster processes add `pid` and `worker` or `role`). */
  fields?: Record<string, string | number>;
}

export function createLogger(opts: LoggerOptions): Logger {
  const options = {
    level: opts.level,
    base: { service: 'trackgate', ...opts.fields },
    serializers: { path: redactTarget, url: redactTarget },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
  };
  const destination = opts.destination ?? pino.destination({ fd: 1, sync: false });
  const logger = pino({ ...options, redact: { paths: [...REDACT_PATHS], censor: '[redacted]' } }, destination);
  // Access lines: same destination and base fields, serialised directly (see accessLog).
  accessWriters.set(logger, accessLineWriter({ destination, base: options.base, censorPath: redactQuery }));
  return logger;
}

export type AccessLevel = 'info' | 'warn' | 'error';
/** Writes one access line (or rejected-request line) at `level`. */
export type AccessLog = (level: AccessLevel, line: AccessLine, msg: string) => void;

/**
 * The fields of an access line, and nothing else: `detail` is a TrackgateError detail (never a secret), the
 * rest are the request's method, scrubbed path, outcome, keyed fingerprint and identity.
 */
export interface AccessLine {
  method: string;
  path: string;
  status: number;
  ms: number;
  scheme: string;
  rid: string | undefined;
  ip: string;
  sub?: string;
  /** The acting user of a masquerade (the identity's `act`). */
  act?: string;
  kind?: string;
  cache?: string;
  fp?: string;
  err?: string;
  reason?: string;
  detail?: string;
  /** Decision mode: the edge proxy that asked (src/proxy/decision/). */
  edge?: string;
  /** The migration policy (deprecated, report-only) the request's credential form matched. */
  policy?: string;
  /** The report-only rules (policies, route rules) that would have refused the request, comma-separated. */
  wouldDeny?: string;
}

const accessWriters = new WeakMap<Logger, AccessLineWriter>();

// Every AccessLine key is one the writer serialises (a key missing from ACCESS_KEYS would be dropped silently).
type Unwritten = Exclude<keyof AccessLine, (typeof ACCESS_KEYS)[number]>;
const everyKeyWritten: [Unwritten] extends [never] ? true : Unwritten = true;
void everyKeyWritten;

/**
 * The access-line writer of `logger`. An {@link AccessLine} has only the keys above, none of which
 * REDACT_PATHS names, and only primitive values (so no `*.`-path can match either): pino's `redact` (~80 µs a
 * line with these wildcards: it clones and walks) could never change it, and neither could most of pino's
 * generic serialisation. So a logger made by {@link createLogger} writes access lines with
 * {@link accessLineWriter} (the path still goes through the query censor), gated by the logger's level.
 * Any other logger is used as it is.
 */
export function accessLog(logger: Logger): AccessLog {
  const writer = accessWriters.get(logger);
  if (writer === undefined) return (level, line, msg) => logger[level](line, msg);
  return (level, line, msg) => { if (logger.isLevelEnabled(level)) writer(level, line, msg); };
}
