/**
 * The access line, serialised directly: one fixed-shape JSON object of primitives per request. Going through
 * pino cost about three times trackgate's own per-request work (its generic serialiser walks and escapes every
 * value and formats a fresh ISO time); this writes the same line — the same keys and values pino would
 * write, `level` as a label, `time` in ISO 8601, the logger's base fields — with `JSON.stringify` per string
 * value, to the same destination, so both kinds of line interleave in one stream.
 */
import type { DestinationStream } from 'pino';

/** The keys of an access line, in output order; `path` goes through the query censor. */
export const ACCESS_KEYS = ['method', 'path', 'status', 'ms', 'scheme', 'rid', 'ip', 'sub', 'act', 'kind', 'cache', 'fp', 'err', 'reason', 'detail', 'edge', 'policy', 'wouldDeny'] as const;

export type AccessLineFields = { [K in (typeof ACCESS_KEYS)[number]]?: string | number | undefined };

export interface AccessLineWriterOptions {
  destination: DestinationStream;
  /** Fields on every line (`service`, and `pid`/`worker`/`role` in a cluster). */
  base: Readonly<Record<string, string | number>>;
  /** Censors secret query parameters in a logged path. */
  censorPath: (path: string) => string;
  now?: () => number;
}

export type AccessLineWriter = (level: string, line: AccessLineFields, msg: string) => void;

export function accessLineWriter(opts: AccessLineWriterOptions): AccessLineWriter {
  const { destination, censorPath } = opts;
  const now = opts.now ?? Date.now;
  let base = '';
  for (const [k, v] of Object.entries(opts.base)) base += `,${JSON.stringify(k)}:${JSON.stringify(v)}`;
  // Lines of one millisecond share their formatted time.
  let lastMs = -1;
  let lastIso = '';
  return (level, line, msg) => {
    const ms = now();
    if (ms !== lastMs) { lastMs = ms; lastIso = new Date(ms).toISOString(); }
    let s = `{"level":"${level}","time":"${lastIso}"${base}`;
    for (const key of ACCESS_KEYS) {
      const v = line[key];
      if (v === undefined) continue;
      if (typeof v === 'number') s += Number.isFinite(v) ? `,"${key}":${v}` : `,"${key}":null`;
      else s += `,"${key}":${JSON.stringify(key === 'path' ? censorPath(v) : v)}`;
    }
    destination.write(`${s},"msg":${JSON.stringify(msg)}}\n`);
  };
}
