/**
 * Structured JSON logs (pino). Credentials never reach a log line: access lines carry a scrubbed path and a
 * keyed fingerprint of the credential, and `redact` censors any secret-bearing field that a future log call
 * might include by mistake.
 */
import { pino, type Logger as PinoLogger, type DestinationStream } from 'pino';

export type Logger = PinoLogger;

/** Field paths pino censors wherever they appear (one and two levels deep). */
export const REDACT_PATHS: readonly string[] = [
  'authorization', 'authentication', 'cookie', 'password', 'secret', 'token', 'key',
  'instanceKey', 'deviceToken', 'refreshToken', 'accessToken', 'client_secret',
].flatMap((k) => [k, `*.${k}`, `*.headers.${k}`, `*.headers["${k.toLowerCase()}"]`]);

export interface LoggerOptions {
  level: string;
  /** Where lines go; defaults to stdout. Tests pass a stream to inspect every line. */
  destination?: DestinationStream;
}

export function createLogger(opts: LoggerOptions): Logger {
  return pino(
    {
      level: opts.level,
      base: { service: 'trackgate' },
      redact: { paths: [...REDACT_PATHS], censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    opts.destination ?? pino.destination({ fd: 1, sync: false }),
  );
}
