/**
 * The OpenAPI 3.1 document of `/openapi.json` (admin port): every token endpoint the running config serves and
 * every enabled credential form as a security scheme, generated from what the request path itself uses, so it
 * cannot drift: the paths and methods from the token-endpoint router, summaries and body fields from each
 * route's `doc`, error shapes by rendering a sample error through the dialect's own `renderError`, and the
 * schemes from the forms' carriers and challenges.
 */
import { STATUS_CODES } from 'node:http';
import type { Authenticator, AuthnId, Carriers, RequestView } from '../authn/types.js';
import { TrackgateError } from '../errors.js';
import type { IssueRouter } from '../issue/router.js';
import type { IssueRequest, IssueRoute } from '../issue/types.js';

export interface OpenApiSources {
  readonly router: IssueRouter;
  readonly forms: readonly Authenticator[];
  carriers(id: AuthnId): Carriers;
  readonly version: string;
  /** The proxy port's URL, where the endpoints are (the document itself is on the admin port). */
  readonly server: string | undefined;
  /** Upstream paths to list as forwarded `GET`s (`admin.openapiPaths`), for Swagger UI's "Try it out". */
  readonly forwarded?: readonly string[];
}

type Json = Record<string, unknown>;

/** The seeds' own spellings of header names (headers are case-insensitive; the documents show these). */
const HEADER_NAMES: Readonly<Record<string, string>> = {
  'authentication': 'Authentication', 'x-token': 'X-Token', 'instanceid': 'InstanceId', 'instancekey': 'InstanceKey', 'devicetoken': 'DeviceToken',
};

const PROBE: RequestView = {
  method: 'GET', url: '/', path: '/', headers: {}, httpVersion: '1.1', secure: true, remoteAddress: '127.0.0.1',
  query: () => undefined, cookie: () => undefined,
};

/** A request for rendering errors: no body, no credential. */
const SAMPLE_REQUEST: IssueRequest = {
  view: PROBE,
  body: async () => ({}),
  authenticate: async () => undefined,
  challengeOf: () => [],
  statusText: (status) => STATUS_CODES[status],
};

export function openApiDocument(src: OpenApiSources): Json {
  const schemes = securitySchemes(src);
  const paths: Record<string, Json> = {};
  for (const { dialect, route } of src.router.routes()) {
    const item = (paths[route.path] ??= {});
    const error = dialect.renderError(new TrackgateError('TG_ERR_BAD_REQUEST', 'what went wrong'), SAMPLE_REQUEST);
    item[route.method.toLowerCase()] = operation(dialect.id, route, schemaOf(error.body), schemes);
  }
  const refused = schemaOf(new TrackgateError('TG_ERR_NO_CREDENTIALS', 'authentication required').toBody());
  for (const path of src.forwarded ?? []) {
    if (paths[path]?.get !== undefined) continue;
    (paths[path] ??= {}).get = forwardedOperation(path, refused, schemes);
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'trackgate token endpoints',
      version: src.version,
      description: 'The legacy token endpoints trackgate serves itself, in each seed document\'s paths and shapes, and the credential forms it accepts on the proxy port. Generated from the running configuration.',
    },
    ...(src.server !== undefined ? { servers: [{ url: src.server, description: 'the proxy port' }] } : {}),
    tags: [...new Set([...src.router.routes()].map((r) => r.dialect.id)), ...(src.forwarded?.length ? [FORWARDED_TAG] : [])].map((name) => ({ name })),
    paths,
    components: { securitySchemes: Object.fromEntries(schemes.map((s) => [s.name, s.scheme])) },
  };
}

interface NamedScheme { readonly name: string; readonly form: AuthnId; readonly scheme: Json }

function operation(dialectId: string, route: IssueRoute, errorSchema: Json, schemes: readonly NamedScheme[]): Json {
  const doc = route.doc;
  const success = doc?.success ?? 200;
  const op: Json = {
    operationId: `${dialectId}_${route.method.toLowerCase()}_${route.path.replace(/[^A-Za-z0-9]+/g, '_').replace(/^_|_$/g, '')}`,
    tags: [dialectId],
    summary: doc?.summary ?? `${dialectId} endpoint`,
    responses: {
      [String(success)]: success === 303
        ? {
          description: 'Redirect to the gateway with the token in `_token` and a `token` cookie.',
          headers: {
            Location: { description: '`gateway?_token=<token>`, relative to the token URL.', schema: { type: 'string' } },
            'Set-Cookie': { description: '`token=<token>; Expires=…; Path=/; HttpOnly; SameSite=Lax`', schema: { type: 'string' } },
          },
        }
        : doc?.sample !== undefined
          ? { description: 'Success, in the seed document\'s shape.', content: { 'application/json': { schema: schemaOf(doc.sample(SAMPLE_REQUEST)) } } }
          : { description: 'Success, in the seed document\'s shape.' },
      default: { description: 'An error, in this dialect\'s shape.', content: { 'application/json': { schema: errorSchema } } },
    },
  };
  if (doc?.headers !== undefined) {
    op.parameters = Object.entries(doc.headers).map(([name, required]) => ({ name, in: 'header', required: required === true, schema: { type: 'string' } }));
  }
  if (route.method === 'POST' && doc?.fields !== undefined) {
    const names = Object.keys(doc.fields);
    const schema: Json = { type: 'object', properties: Object.fromEntries(names.map((n) => [n, {}])) };
    const required = names.filter((n) => doc.fields![n] === true);
    if (required.length > 0) schema.required = required;
    op.requestBody = { required: true, content: { 'application/json': { schema }, 'application/x-www-form-urlencoded': { schema } } };
  }
  const security = (doc?.forms ?? []).flatMap((form) => schemes.filter((s) => s.form === form).map((s) => ({ [s.name]: [] })));
  if (security.length > 0) op.security = security;
  return op;
}

const FORWARDED_TAG = 'upstream';

/** An upstream path: trackgate authenticates the request with any enabled form and forwards it with the identity header. */
function forwardedOperation(path: string, refused: Json, schemes: readonly NamedScheme[]): Json {
  return {
    operationId: `upstream_get_${path.replace(/[^A-Za-z0-9]+/g, '_').replace(/^_|_$/g, '') || 'root'}`,
    tags: [FORWARDED_TAG],
    summary: 'Forwarded to the upstream with the identity header, once a credential of any enabled form is verified.',
    responses: {
      200: { description: 'The upstream\'s answer.' },
      401: { description: 'No credential, or an invalid one: trackgate\'s error, with the challenges in `WWW-Authenticate`.', content: { 'application/json': { schema: refused } } },
    },
    security: schemes.map((s) => ({ [s.name]: [] })),
  };
}

/**
 * One scheme per way an enabled form reads its credential: `http` for the Authorization header (the scheme its
 * challenge announces), `apiKey` for every other header, cookie and query parameter it reads.
 */
function securitySchemes(src: OpenApiSources): NamedScheme[] {
  const out: NamedScheme[] = [];
  for (const form of src.forms) {
    const carriers = src.carriers(form.id);
    for (const header of carriers.headers ?? []) {
      if (header === 'authorization') {
        const challenge = form.challenge?.({ req: PROBE });
        const first = (typeof challenge === 'string' ? challenge : challenge?.[0])?.split(' ')[0];
        if (first === undefined || first === '') continue;
        const scheme: Json = { type: 'http', scheme: first.toLowerCase() };
        if (first.toLowerCase() === 'bearer') scheme.bearerFormat = 'opaque token or JWT';
        out.push({ name: form.id, form: form.id, scheme });
        continue;
      }
      const name = HEADER_NAMES[header] ?? header;
      out.push({ name: `${form.id}_header_${name}`, form: form.id, scheme: { type: 'apiKey', in: 'header', name } });
    }
    for (const cookie of carriers.cookies ?? []) out.push({ name: `${form.id}_cookie_${cookie}`, form: form.id, scheme: { type: 'apiKey', in: 'cookie', name: cookie } });
    for (const query of carriers.query ?? []) out.push({ name: `${form.id}_query_${query}`, form: form.id, scheme: { type: 'apiKey', in: 'query', name: query } });
  }
  return out;
}

/** A JSON Schema of the shape of `value` (a rendered sample), as specific as one example allows. */
export function schemaOf(value: unknown): Json {
  if (value === null) return { type: 'null' };
  if (Array.isArray(value)) return value.length > 0 ? { type: 'array', items: schemaOf(value[0]) } : { type: 'array' };
  if (typeof value === 'object') {
    const entries = Object.entries(value as Json);
    return { type: 'object', properties: Object.fromEntries(entries.map(([k, v]) => [k, schemaOf(v)])), required: entries.map(([k]) => k) };
  }
  if (typeof value === 'number') return { type: Number.isInteger(value) ? 'integer' : 'number' };
  if (typeof value === 'boolean') return { type: 'boolean' };
  return { type: 'string' };
}
