/**
 * Loads `node:sqlite`, the SQLite built into Node. Node 22 still marks it experimental and prints an
 * ExperimentalWarning when it loads (Node 24 does not): every start and every CLI command would show a warning
 * operators can do nothing about. That one warning is dropped, and only while the module loads; any other warning
 * still prints.
 */
import { createRequire } from 'node:module';
import type * as Sqlite from 'node:sqlite';

const LOAD_WARNING = 'SQLite is an experimental feature';

function warningType(warning: string | Error, rest: unknown[]): unknown {
  const [second] = rest;
  if (typeof second === 'string') return second;
  if (typeof second === 'object' && second !== null && 'type' in second) return second.type;
  return typeof warning === 'string' ? 'Warning' : warning.name;
}

function load(): typeof Sqlite {
  const emit = process.emitWarning;
  process.emitWarning = function emitOtherWarnings(warning: string | Error, ...rest: unknown[]): void {
    const message = typeof warning === 'string' ? warning : warning.message;
    if (warningType(warning, rest) === 'ExperimentalWarning' && message.startsWith(LOAD_WARNING)) return;
    Reflect.apply(emit, process, [warning, ...rest]);
  } as typeof process.emitWarning;
  try {
    return createRequire(import.meta.url)('node:sqlite') as typeof Sqlite;
  } finally {
    process.emitWarning = emit;
  }
}

export const { DatabaseSync } = load();
export type { DatabaseSync as Database, StatementSync as Statement } from 'node:sqlite';
