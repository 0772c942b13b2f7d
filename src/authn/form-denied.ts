/**
 * The 401 of a valid credential whose form a `deny` policy switched off: its body names the forms the client
 * can move to (`accepted`), so a developer reading one failed response knows what to change.
 */
import { TrackgateError, type ErrorCode } from '../errors.js';
import type { AuthnId } from './types.js';

export class FormDeniedError extends TrackgateError {
  readonly accepted: readonly AuthnId[];

  constructor(form: AuthnId, policy: string, accepted: readonly AuthnId[], headers: Record<string, string | string[]>) {
    super('TG_ERR_FORM_DENIED', `${form} credentials are no longer accepted here`, {
      reason: 'denied', detail: `migration policy ${policy} denies ${form}`, headers,
    });
    this.accepted = accepted;
  }

  override toBody(): { error: ErrorCode; message: string; accepted: readonly AuthnId[] } {
    return { error: this.code, message: this.message, accepted: this.accepted };
  }
}
