/**
 * Method overrides: headers and a parameter with which many upstream frameworks run another method than
 * the request line's (Rails' Rack::MethodOverride, Spring's HiddenHttpMethodFilter, Symfony/Laravel,
 * ASP.NET and Google-style APIs). A route rule decided on `POST` would not hold for the `DELETE` the
 * upstream then runs, so a request carrying one is refused. A `_method` field inside a form body is not
 * seen (forwarded bodies are streamed or buffered, never parsed): docs/SECURITY.md says so.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { TrackgateError } from '../errors.js';
import { normaliseHeaderName } from './header-name.js';
import type { NodeRequestView } from './request-view.js';

const OVERRIDE_HEADERS = new Set(['x-http-method-override', 'x-http-method', 'x-method-override']);

/** The query parameter Spring, Symfony and Laravel read as the method (on POST). */
export const OVERRIDE_PARAM = '_method';

export function refuseMethodOverride(headers: IncomingHttpHeaders, view: NodeRequestView): void {
  for (const name in headers) {
    // Every override header starts with `x`; `_` and `.` spellings are read as `-` by CGI-style servers.
    if (name.charCodeAt(0) === 0x78 && OVERRIDE_HEADERS.has(normaliseHeaderName(name))) {
      throw new TrackgateError('TG_ERR_METHOD_OVERRIDE', 'method override headers are not accepted', { detail: `header ${name}` });
    }
  }
  if (view.query(OVERRIDE_PARAM) !== undefined) {
    throw new TrackgateError('TG_ERR_METHOD_OVERRIDE', 'method override parameters are not accepted', { detail: `query parameter ${OVERRIDE_PARAM}` });
  }
}
