/**
 * An acts-for parameter (Geoloqi `user_id`, src/authn/acts-for.ts) sent in a request body. An upstream merges
 * the bodies its framework parses into the same parameters as the query, so for a restricted identity those
 * bodies are read whole (up to the rule's bound) and every value of the parameter checked: form-encoded (also a
 * POST without a Content-Type, which Rack reads as a form), JSON (top-level keys, the ones frameworks turn into
 * parameters) and multipart. Other types (CSV, octet-stream, …) are no parameters and stream as usual; so do
 * the bodies of unrestricted identities. What cannot be read for certain is refused: a compressed body (415),
 * unparsable JSON or multipart (400), a JSON key given twice (400), a body over the bound (413).
 */
import type { IncomingHttpHeaders } from 'node:http';
import { formParamValues, namesParam, refuseActingForOthers, type ActsForRule } from '../authn/acts-for.js';
import type { Identity } from '../authn/types.js';
import { TrackgateError } from '../errors.js';
import { firstDuplicateKey } from '../issue/duplicate-keys.js';

type BodyKind = 'form' | 'json' | 'multipart';

/** A body to read whole and check, once admitted. */
export interface ActsForBodyCheck {
  readonly maxBytes: number;
  /** The 413 for a body found larger than `maxBytes` while it is read. */
  tooLarge(): TrackgateError;
  /** Throws (403, 400) when the whole body names someone else or cannot be read. */
  check(body: Buffer): void;
}

/**
 * The check a request body needs before it is forwarded, or undefined when none does (no rule, an unrestricted
 * identity, a type no parser reads parameters from). Throws when the body cannot be checked at all (413, 415).
 */
export function actsForBodyCheck(rule: ActsForRule | undefined, identity: Identity, method: string, headers: IncomingHttpHeaders): ActsForBodyCheck | undefined {
  if (rule === undefined || !rule.restricted(identity)) return undefined;
  const contentType = headers['content-type'];
  const kind = bodyKind(contentType, method);
  if (kind === undefined) return undefined;
  const encoding = headers['content-encoding']?.trim().toLowerCase();
  if (encoding !== undefined && encoding !== '' && encoding !== 'identity') {
    throw new TrackgateError('TG_ERR_BAD_REQUEST', `a compressed ${kind} body cannot be checked for ${rule.param}: send it uncompressed`, {
      status: 415, detail: `content-encoding ${encoding.slice(0, 32)} on a ${kind} body of a restricted identity`,
    });
  }
  const tooLarge = (): TrackgateError => new TrackgateError('TG_ERR_BODY_TOO_LARGE', `a ${kind} body is read whole to check ${rule.param}, up to ${rule.maxBodyBytes} bytes`, {
    detail: `${kind} body of a restricted identity over the ${rule.param} inspection bound`,
  });
  const declared = headers['content-length'];
  if (declared !== undefined && Number(declared) > rule.maxBodyBytes) throw tooLarge();
  return {
    maxBytes: rule.maxBodyBytes,
    tooLarge,
    check: (body) => refuseActingForOthers(rule, identity, bodyValues(body, kind, contentType ?? '', rule.param), `${kind} body`),
  };
}

function bodyKind(contentType: string | undefined, method: string): BodyKind | undefined {
  if (contentType === undefined) return method === 'POST' ? 'form' : undefined;
  const type = contentType.split(';', 1)[0]!.trim().toLowerCase();
  if (type === 'application/x-www-form-urlencoded') return 'form';
  if (type === 'application/json' || type.endsWith('+json')) return 'json';
  if (type.startsWith('multipart/')) return 'multipart';
  return undefined;
}

function bodyValues(body: Buffer, kind: BodyKind, contentType: string, param: string): string[] {
  if (kind === 'form') return formParamValues(body.toString('utf8'), param);
  if (kind === 'json') return jsonValues(body.toString('utf8'), param);
  return multipartValues(body, contentType, param);
}

function unreadable(message: string, detail: string): TrackgateError {
  return new TrackgateError('TG_ERR_BAD_REQUEST', message, { detail });
}

/** Top-level values of `param` in a JSON text, as strings (a non-string value counts as naming someone else). */
function jsonValues(text: string, param: string): string[] {
  if (text.trim() === '') return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw unreadable(`body is not valid JSON: cannot check ${param}`, 'unparsable JSON body of a restricted identity');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return [];
  const dup = firstDuplicateKey(text);
  if (dup !== undefined) {
    const shown = JSON.stringify(dup.slice(0, 64));
    throw new TrackgateError('TG_ERR_DUPLICATE_PARAMETER', `parameter ${shown} given more than once`, { reason: 'malformed', detail: `duplicate JSON key ${shown}` });
  }
  const out: string[] = [];
  for (const [k, v] of Object.entries(parsed)) {
    if (namesParam(k, param)) out.push(typeof v === 'string' || typeof v === 'number' ? String(v) : JSON.stringify(v));
  }
  return out;
}

/** Values of the parts named `param` (RFC 7578), read as latin1 so byte offsets stay put; malformed → 400. */
function multipartValues(body: Buffer, contentType: string, param: string): string[] {
  const boundary = /;\s*boundary\s*=\s*(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  const b = boundary?.[1] ?? boundary?.[2];
  if (b === undefined) throw unreadable(`multipart body without a boundary: cannot check ${param}`, 'multipart Content-Type without boundary');
  const text = body.toString('latin1');
  const delimiter = `--${b}`;
  const broken = (): TrackgateError => unreadable(`malformed multipart body: cannot check ${param}`, 'multipart body without its closing delimiter');
  let pos = text.startsWith(delimiter) ? 0 : text.indexOf(`\r\n${delimiter}`) + 2;
  if (pos === 1) throw broken();
  const out: string[] = [];
  for (;;) {
    pos += delimiter.length;
    if (text.startsWith('--', pos)) return out;
    const lineEnd = text.indexOf('\r\n', pos);
    const headEnd = lineEnd < 0 ? -1 : text.indexOf('\r\n\r\n', lineEnd);
    if (headEnd < 0) throw broken();
    const next = text.indexOf(`\r\n${delimiter}`, headEnd + 4);
    if (next < 0) throw broken();
    if (partNames(text.slice(lineEnd + 2, headEnd)).some((n) => namesParam(n, param))) {
      out.push(Buffer.from(text.slice(headEnd + 4, next), 'latin1').toString('utf8'));
    }
    pos = next + 2;
  }
}

/** The `name` (and RFC 5987 `name*`) parameters of a part's Content-Disposition, raw and percent-decoded. */
function partNames(head: string): string[] {
  const names: string[] = [];
  for (const line of head.split('\r\n')) {
    if (!/^content-disposition\s*:/i.test(line)) continue;
    for (const m of line.matchAll(/;\s*name(\*?)\s*=\s*("(?:[^"\\]|\\.)*"|[^;\s]*)/gi)) {
      let v = m[2]!;
      if (v.startsWith('"')) v = v.slice(1, -1).replace(/\\(.)/g, '$1');
      if (m[1] === '*') v = v.replace(/^[^']*'[^']*'/, '');
      names.push(v);
      try { names.push(decodeURIComponent(v)); } catch { /* not percent-encoded: the raw name is the one */ }
    }
  }
  return names;
}
