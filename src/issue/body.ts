/**
 * The small bodies of token endpoints: JSON (also `application/json-patch+json`, as the telematics
 * seed's curl example sends) or form-urlencoded, bounded in size. A parameter given twice (a repeated form
 * field, a JSON object with a key twice) is refused: which one counts would be a guess.
 */
import { TrackgateError } from '../errors.js';
import { firstDuplicateKey } from './duplicate-keys.js';

/** The largest token-endpoint body read (the proxy's adapter refuses a longer one with 413). */
export const MAX_FORM_BYTES = 64 * 1024;

/** The fields of a whole body, by its `Content-Type` header value; an empty body has none. */
export function parseBody(bytes: Buffer, contentType: string | undefined): Record<string, unknown> {
  if (bytes.length === 0) return {};
  const text = bytes.toString('utf8');
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (type === 'application/x-www-form-urlencoded') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of new URLSearchParams(text)) {
      if (Object.hasOwn(out, k)) throw duplicateParameter(k);
      out[k] = v;
    }
    return out;
  }
  if (type === 'application/json' || type.endsWith('+json') || type === '' || type === 'text/plain') {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new TrackgateError('TG_ERR_BAD_REQUEST', 'body is not valid JSON');
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new TrackgateError('TG_ERR_BAD_REQUEST', 'body must be a JSON object');
    }
    const dup = firstDuplicateKey(text);
    if (dup !== undefined) throw duplicateParameter(dup);
    return parsed as Record<string, unknown>;
  }
  throw new TrackgateError('TG_ERR_BAD_REQUEST', 'unsupported content type', { status: 415, detail: `content-type ${type}` });
}

function duplicateParameter(name: string): TrackgateError {
  const shown = JSON.stringify(name.slice(0, 64));
  return new TrackgateError('TG_ERR_DUPLICATE_PARAMETER', `parameter ${shown} given more than once`, { reason: 'malformed', detail: `duplicate body parameter ${shown}` });
}

/** A string field, or undefined; anything else present → 400. */
export function stringField(body: Record<string, unknown>, name: string): string | undefined {
  const v = body[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'number') return String(v);
  if (typeof v !== 'string') throw new TrackgateError('TG_ERR_BAD_REQUEST', `field ${name} must be a string`);
  return v;
}
