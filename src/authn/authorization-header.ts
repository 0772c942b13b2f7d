/**
 * Parsing of the `Authorization` header's auth-scheme (RFC 9110 §11.6.2), shared by the forms that use it.
 * Scheme names are case-insensitive.
 */
import type { RequestView } from './types.js';

/** Returns the credentials after `<scheme> ` when the Authorization header uses `scheme`, else undefined. */
export function authorizationParams(req: RequestView, scheme: string, header = 'authorization'): string | undefined {
  const value = req.headers[header];
  if (typeof value !== 'string' || value.length <= scheme.length) return undefined;
  if (value.charCodeAt(scheme.length) !== 0x20) return undefined;
  if (value.slice(0, scheme.length).toLowerCase() !== scheme.toLowerCase()) return undefined;
  return value.slice(scheme.length + 1).trim();
}
