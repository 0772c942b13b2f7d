/**
 * Every credential form trackgate knows, in the order their challenges are announced.
 * To add a form: write `forms/<id>.ts` exporting an AuthenticatorModule, and add one line here.
 */
import { basic } from './forms/basic.js';
import { sessionToken } from './forms/session-token.js';
import { oauthHeader } from './forms/oauth-header.js';
import { instance } from './forms/instance.js';
import type { AuthenticatorModule } from './module.js';

export const AUTHENTICATORS = [
  basic,
  sessionToken,
  oauthHeader,
  instance,
] as const satisfies readonly AuthenticatorModule<string, any>[];
