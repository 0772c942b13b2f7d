/** The user fields of `user/create` and `user/create_anon`, checked before anything is stored. */
import { stringField } from '../../body.js';
import { badField } from './errors.js';

/** Largest `extra` object kept with a user (serialised JSON). */
export const MAX_EXTRA_BYTES = 8 * 1024;
export const MAX_PASSWORD = 1024;
const MAX_USERNAME = 128;
const MAX_KEY = 256;
const CONTROL_RE = /[\u0000-\u001f\u007f]/;

export function usernameField(body: Record<string, unknown>): string {
  const raw = stringField(body, 'username');
  if (raw === undefined || raw === '') throw badField('username required');
  const username = raw.normalize('NFC');
  if (username.length > MAX_USERNAME || CONTROL_RE.test(username) || username.includes(':') || username.trim() !== username) {
    throw badField(`username must be at most ${MAX_USERNAME} characters, without ":", control characters or surrounding spaces`);
  }
  if (username.startsWith('_')) throw badField('usernames starting with "_" are reserved for anonymous users');
  return username;
}

export function keyField(body: Record<string, unknown>): string | undefined {
  const key = stringField(body, 'key');
  if (key === undefined || key === '') return undefined;
  if (key.length > MAX_KEY || CONTROL_RE.test(key)) throw badField(`key must be at most ${MAX_KEY} characters without control characters`);
  return key;
}

export function emailField(body: Record<string, unknown>): string | undefined {
  const email = stringField(body, 'email');
  if (email === undefined || email === '') return undefined;
  if (email.length > 254 || !/^[^\s@]+@[^\s@]+$/.test(email) || CONTROL_RE.test(email)) throw badField('email is not an e-mail address');
  return email;
}

export function displayNameField(body: Record<string, unknown>): string | undefined {
  const name = stringField(body, 'name') ?? stringField(body, 'display_name');
  if (name === undefined || name === '') return undefined;
  if (name.length > MAX_USERNAME || CONTROL_RE.test(name)) throw badField(`name must be at most ${MAX_USERNAME} characters without control characters`);
  return name;
}

/**
 * `extra`: a JSON object (JSON body), a JSON object in a string (form body), and/or `extra[name]=value` form
 * fields. Built with Object.fromEntries, so a `__proto__` name is an ordinary own property.
 */
export function extraField(body: Record<string, unknown>): Record<string, unknown> | undefined {
  const entries: [string, unknown][] = [];
  let present = false;
  const raw = body.extra;
  if (raw !== undefined && raw !== null && raw !== '') {
    let obj: unknown = raw;
    if (typeof raw === 'string') {
      try {
        obj = JSON.parse(raw);
      } catch {
        throw badField('extra must be a JSON object');
      }
    }
    if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) throw badField('extra must be a JSON object');
    entries.push(...Object.entries(obj));
    present = true;
  }
  for (const [k, v] of Object.entries(body)) {
    const m = /^extra\[([^[\]]+)\]$/.exec(k);
    if (m) { entries.push([m[1]!, v]); present = true; }
  }
  if (!present) return undefined;
  const extra = Object.fromEntries(entries);
  if (Buffer.byteLength(JSON.stringify(extra)) > MAX_EXTRA_BYTES) throw badField(`extra must be at most ${MAX_EXTRA_BYTES} bytes of JSON`);
  return extra;
}
