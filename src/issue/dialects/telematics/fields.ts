/** Reading telematics requests: headers, case-insensitive body fields, and the errors they raise. */
import { TrackgateError } from '../../../errors.js';
import type { IssueRequest } from '../../types.js';

export function header(req: IssueRequest, name: string): string | undefined {
  const v = req.view.headers[name];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** A field by case-insensitive name (`LoginFields`/`loginFields`); the same name twice with different cases → 400. */
export function field(obj: Record<string, unknown>, name: string): unknown {
  const want = name.toLowerCase();
  let found: unknown;
  let n = 0;
  for (const [k, v] of Object.entries(obj)) {
    if (k.toLowerCase() !== want) continue;
    found = v;
    n++;
  }
  if (n > 1) throw malformed(`field ${name} given more than once`);
  return found;
}

export function str(obj: Record<string, unknown>, name: string): string | undefined {
  const v = field(obj, name);
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw malformed(`${name} must be a string`);
  return v;
}

export function malformed(message: string): TrackgateError {
  return new TrackgateError('TG_ERR_BAD_REQUEST', message, { reason: 'malformed' });
}

export function invalid(message: string, detail: string): TrackgateError {
  return new TrackgateError('TG_ERR_INVALID_CREDENTIALS', message, { reason: 'invalid', detail });
}
