/**
 * Every credential form trackgate knows, in the order their challenges are announced.
 * To add a form: write `forms/<id>.ts` exporting an AuthenticatorModule, and add one line here.
 */
import { basic } from './forms/basic.js';
import { digest } from './forms/digest/index.js';
import { sessionToken } from './forms/session-token.js';
import { oauth } from './forms/oauth.js';
import { instance } from './forms/instance.js';
import { bearer } from './forms/bearer.js';
import { remote } from './forms/remote.js';
import type { AuthenticatorModule } from './module.js';

export const AUTHENTICATORS = [
  basic,
  digest,
  sessionToken,
  oauth,
  instance,
  bearer,
  remote,
] as const satisfies readonly AuthenticatorModule<string, any>[];
