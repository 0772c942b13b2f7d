/**
 * The inventory report: one query language and one set of renderings for `GET /admin/inventory`, the operator
 * page (which reads that endpoint) and `trackgate inventory`. A query is read from named string parameters (URL
 * query or CLI options alike): `scheme`, `kind`, `account`, `since` (a last-seen window such as `30d`, `12h`),
 * `limit`; a bad one is a TrackgateError 400 naming the parameter.
 */
import { TrackgateError } from '../errors.js';
import type { InventoryFilter, InventoryRecord, Store } from '../store/types.js';

export const DEFAULT_LIMIT = 10_000;
export const MAX_LIMIT = 1_000_000;
export const FORMATS = ['json', 'csv', 'table'] as const;
export type ReportFormat = (typeof FORMATS)[number];

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 };
const SINCE_RE = /^(\d{1,6})([smhdw])$/;
/** Longest filter value accepted (names, not documents). */
const MAX_VALUE = 256;

export interface InventoryQuery {
  readonly filter: InventoryFilter;
  /** The window as given (`30d`), echoed in the JSON report. */
  readonly since: string | undefined;
}

function bad(parameter: string, message: string): TrackgateError {
  return new TrackgateError('TG_ERR_BAD_REQUEST', `${parameter}: ${message}`, { detail: `inventory query parameter ${parameter}` });
}

/** Milliseconds of a window such as `30d`, `12h`, `15m`, `90s`, `2w`. */
export function windowMs(text: string): number {
  const m = SINCE_RE.exec(text);
  if (m === null) throw bad('since', 'a number and a unit s, m, h, d or w (e.g. 30d, 12h)');
  return Number(m[1]) * UNIT_MS[m[2]!]!;
}

/** Reads a query from `param` (a URL's searchParams.get, or the CLI's options). */
export function parseInventoryQuery(param: (name: string) => string | undefined, now: number): InventoryQuery {
  const text = (name: string): string | undefined => {
    const v = param(name);
    if (v === undefined) return undefined;
    if (v === '' || v.length > MAX_VALUE) throw bad(name, `must be 1-${MAX_VALUE} characters`);
    return v;
  };
  const since = text('since');
  const limitText = text('limit');
  if (limitText !== undefined && (!/^\d{1,7}$/.test(limitText) || Number(limitText) < 1 || Number(limitText) > MAX_LIMIT)) {
    throw bad('limit', `a whole number from 1 to ${MAX_LIMIT}`);
  }
  const scheme = text('scheme');
  const kind = text('kind');
  const account = text('account');
  return {
    since,
    filter: {
      limit: limitText === undefined ? DEFAULT_LIMIT : Number(limitText),
      ...(scheme !== undefined ? { scheme } : {}),
      ...(kind !== undefined ? { kind } : {}),
      ...(account !== undefined ? { account } : {}),
      ...(since !== undefined ? { seenSince: now - windowMs(since) } : {}),
    },
  };
}

/** The format asked for (`format`), JSON by default; `allowed` narrows it (the endpoint serves no table). */
export function parseFormat(value: string | undefined, allowed: readonly ReportFormat[] = FORMATS): ReportFormat {
  if (value === undefined) return 'json';
  const f = allowed.find((a) => a === value);
  if (f === undefined) throw bad('format', `one of ${allowed.join(', ')}`);
  return f;
}

/** One record as the report shows it: times as ISO 8601, absent parts as empty strings or left out. */
export interface ReportRow {
  scheme: string; dialect: string; subject: string; kind: string; account: string; instance: string;
  firstSeen: string; lastSeen: string; count: number; userAgent?: string; address?: string;
}

export interface InventoryReport {
  generatedAt: string;
  since?: string;
  /** Whether `limit` cut the list (more records matched). */
  truncated: boolean;
  records: ReportRow[];
}

/** Reads the store and builds the report (one more record than the limit is read, to tell a cut list). */
export async function inventoryReport(store: Pick<Store, 'listInventory'>, q: InventoryQuery, now: number): Promise<InventoryReport> {
  const recs = await store.listInventory({ ...q.filter, limit: q.filter.limit + 1 });
  const truncated = recs.length > q.filter.limit;
  return {
    generatedAt: new Date(now).toISOString(),
    ...(q.since !== undefined ? { since: q.since } : {}),
    truncated,
    records: recs.slice(0, q.filter.limit).map(toRow),
  };
}

function toRow(r: InventoryRecord): ReportRow {
  return {
    scheme: r.scheme, dialect: r.dialect, subject: r.subject, kind: r.kind, account: r.account, instance: r.instance,
    firstSeen: new Date(r.firstSeen).toISOString(), lastSeen: new Date(r.lastSeen).toISOString(), count: r.count,
    ...(r.userAgent !== undefined ? { userAgent: r.userAgent } : {}),
    ...(r.address !== undefined ? { address: r.address } : {}),
  };
}

const COLUMNS = ['scheme', 'dialect', 'subject', 'kind', 'account', 'instance', 'firstSeen', 'lastSeen', 'count', 'userAgent', 'address'] as const;

function cells(row: ReportRow): string[] {
  return COLUMNS.map((c) => String(row[c] ?? ''));
}

/**
 * RFC 4180: CRLF line ends, a header line, a field quoted (quotes doubled) when it holds a quote, comma, CR or
 * LF. A field a spreadsheet would run as a formula (a client-chosen User-Agent starting `=`, `+`, `-`, `@`, tab
 * or CR) gets a leading `'`, as OWASP advises for CSV injection.
 */
export function toCsv(report: InventoryReport): string {
  const field = (v: string): string => {
    const safe = /^[=+\-@\t\r]/.test(v) ? `'${v}` : v;
    return /[",\r\n]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
  };
  return [COLUMNS.join(','), ...report.records.map((r) => cells(r).map(field).join(','))].map((l) => `${l}\r\n`).join('');
}

/** Aligned columns for a terminal (control characters shown as `?`, so a User-Agent cannot move the cursor). */
export function toTable(report: InventoryReport): string {
  const shown = ['scheme', 'dialect', 'subject', 'kind', 'account', 'instance', 'lastSeen', 'count', 'userAgent'] as const;
  const rows = [shown.map((c) => c), ...report.records.map((r) => shown.map((c) => String(r[c] ?? '').replace(/[\u0000-\u001f\u007f]/g, '?')))];
  const widths = shown.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const lines = rows.map((r) => r.map((v, i) => (i === r.length - 1 ? v : v.padEnd(widths[i]!))).join('  ').trimEnd());
  if (report.truncated) lines.push(`(more records matched: raise --limit)`);
  return `${lines.join('\n')}\n`;
}

/** The report in `format`: its body and content type. */
export function renderReport(report: InventoryReport, format: ReportFormat): { body: string; contentType: string } {
  if (format === 'csv') return { body: toCsv(report), contentType: 'text/csv; charset=utf-8; header=present' };
  if (format === 'table') return { body: toTable(report), contentType: 'text/plain; charset=utf-8' };
  return { body: `${JSON.stringify(report)}\n`, contentType: 'application/json' };
}
