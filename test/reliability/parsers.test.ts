/**
 * Reliability suite, parsers (issue 13): random and adversarial input to every parser of client input,
 * property-based (fast-check). Two layers:
 * - unit properties on the parser functions themselves (auth-param lists, Authorization schemes, cookies,
 *   query strings, body fields, every form's `extract`), thousands of runs: only a TrackgateError with a
 *   4xx status may come out, and what they compute holds (round trips, the fast path agrees with the
 *   strict one, credentials the view reads are the ones scrubbed);
 * - the same inputs through a real trackgate with every form and every token endpoint on, a few hundred
 *   requests per class: never a 5xx, a short JSON body on every error, no credential of the request in
 *   any log line or upstream URL, and the server still serving afterwards.
 *
 * `RELIABILITY_SEED=<n>` replays a run (the seed is in every failure message).
 */
import { Agent, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { parseAuthParams, parseStrict, quoteString } from '../../src/authn/auth-params.js';
import { authorizationParams } from '../../src/authn/authorization-header.js';
import { decodeBasic } from '../../src/authn/forms/basic.js';
import { decodeExtValue, parseDigestCredential } from '../../src/authn/forms/digest/credential.js';
import { cookieValues, queryValues } from '../../src/authn/stored-token.js';
import type { RequestView } from '../../src/authn/types.js';
import { TrackgateError } from '../../src/errors.js';
import { stringField } from '../../src/issue/body.js';
import { parseCookies, stripCookies } from '../../src/proxy/cookies.js';
import { scrubQuery } from '../../src/proxy/query.js';
import { NodeRequestView } from '../../src/proxy/request-view.js';
import { TrustedProxies } from '../../src/proxy/trusted-proxies.js';
import { useGate } from '../helpers/gate.js';
import { basicAuth, DEMO } from '../helpers/trackgate.js';
import { CaseTally } from './lib/case-tally.js';
import { fieldChar, fragments, latin1Char, RUN_SEED, tallyProperty } from './lib/fuzz-property.js';
import { leakedSecrets } from './lib/leaks.js';
import { runPool } from './lib/run-pool.js';

/** The request views here come from no trusted proxy. */
const NO_PROXIES = new TrustedProxies([], false);
const SEED = RUN_SEED;

const gate = useGate({
  config: {
    authn: { bearer: { enabled: true }, oauth: { enabled: true }, instance: { enabled: true }, session_token: { enabled: true } },
    // Unlimited, so a fuzz run keeps reaching the parsers instead of collecting 429s after the tenth bad password.
    throttle: { user: { limit: 0 }, ip: { limit: 0 } },
    routes: [{ path: '/pub', access: 'public' }],
    logging: { level: 'debug' },
  },
});

/** Undefined when `fn` returned, else why what it threw is not a client error. */
function onlyClientErrors(fn: () => unknown, code?: string): string | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    if (!(err instanceof TrackgateError)) return `threw a non-TrackgateError: ${String(err)}`;
    if (err.status < 400 || err.status > 499) return `status ${err.status}`;
    if (code !== undefined && err.code !== code) return `code ${err.code}, not ${code}`;
    return undefined;
  }
}

const expectNoFailures = (tally: CaseTally, figure: string, shrunk: (string | undefined)[]): void => {
  const shown = tally.record(figure);
  expect({ seed: SEED, failures: tally.failures.length, shrunk: shrunk.filter((s) => s !== undefined), first: shown })
    .toEqual({ seed: SEED, failures: 0, shrunk: [], first: [] });
};

const TCHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
const tchar = fc.constantFrom(...TCHARS);
const token = fc.string({ unit: tchar, minLength: 1, maxLength: 12 });
const ows = fc.constantFrom('', ' ', '\t', '  ', ' \t');
/** Text a quoted-string can carry (quoteString escapes `"` and `\`): HTAB, SP, VCHAR, obs-text. */
const quotable = fc.string({ unit: fieldChar, maxLength: 24 });
const AUTH_PARAM_PARTS = [
  'a', 'Z', '0', '-', '_', '.', '*', '=', '"', '\\', ',', ' ', '\t', ';', "'", '%', '\u0000', '\u007f', '\u00e4', '\u00ff',
  'realm', 'username*', "UTF-8''", 'nonce', '""', '\\"', '=,', ',,', 'qop=auth', 'nc=00000001', 'response="', 'dXNlcjpwYXNz==',
];

describe('parsers, unit properties (fast-check)', () => {
  it('auth-param lists (Digest): the fast path agrees with the strict parser; only TG_ERR_MALFORMED_CREDENTIALS; round trips; token68 never echoed', () => {
    const tally = new CaseTally('parsers (unit): auth-param lists');
    const shrunk: (string | undefined)[] = [];
    const adversarial = fc.oneof(fragments(AUTH_PARAM_PARTS), fc.string({ unit: latin1Char, maxLength: 80 }));
    shrunk.push(tallyProperty(tally, adversarial, (input) => {
      let fast: unknown; let strict: unknown;
      try { fast = Object.fromEntries(parseAuthParams(input)); } catch (err) { fast = err instanceof TrackgateError ? err.code : `non-TrackgateError ${String(err)}`; }
      try { strict = Object.fromEntries(parseStrict(input)); } catch (err) { strict = err instanceof TrackgateError ? err.code : `non-TrackgateError ${String(err)}`; }
      if (JSON.stringify(fast) !== JSON.stringify(strict)) return `fast path ${JSON.stringify(fast)} but strict ${JSON.stringify(strict)}`;
      if (typeof fast === 'string' && fast !== 'TG_ERR_MALFORMED_CREDENTIALS') return `threw ${fast}`;
      return undefined;
    }, 3000, SEED));
    // A list written by a conforming client (random names, token or quoted values, OWS, empty elements) reads back.
    const list = fc.uniqueArray(fc.tuple(token, fc.oneof(token, quotable), fc.boolean(), ows, ows, fc.constantFrom(',', ', ', ' ,', ',,', ', ,')),
      { maxLength: 12, selector: ([name]) => name.toLowerCase() });
    shrunk.push(tallyProperty(tally, list, (params) => {
      const text = params.map(([name, value, quote, a, b], i) => {
        const v = quote || !/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(value) ? quoteString(value) : value;
        return `${name}${a}=${b}${v}${i < params.length - 1 ? params[i]![5] : ''}`;
      }).join('');
      const got = JSON.stringify([...parseAuthParams(text)]);
      const want = JSON.stringify(params.map(([name, value]) => [name.toLowerCase(), value]));
      return got === want ? undefined : `${JSON.stringify(text)} parsed as ${got}`;
    }, 1500, SEED));
    // `Digest <token68>` (a Basic-style secret under the wrong scheme): refused, and the secret is not in the log detail.
    const token68 = fc.string({ unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-._~'), minLength: 12, maxLength: 60 })
      .chain((t) => fc.constantFrom(t, `${t}=`, `${t}==`));
    shrunk.push(tallyProperty(tally, token68, (t) => {
      try {
        parseAuthParams(t);
        return 'accepted a token68';
      } catch (err) {
        if (!(err instanceof TrackgateError)) return `threw ${String(err)}`;
        const echoed = `${err.message} ${err.detail ?? ''}`.toLowerCase();
        return echoed.includes(t.replace(/=+$/, '').toLowerCase()) ? `error echoes the token68: ${err.detail}` : undefined;
      }
    }, 500, SEED, ['dXNlcjpwYXNzd29yZA==', 'bXktc2VjcmV0LXRva2Vu']));
    expectNoFailures(tally, `${tally.tried} runs, seed ${SEED}`, shrunk);
  });

  it('Authorization schemes: scheme matching, Basic, Digest fields and username*, every enabled form\'s extract', () => {
    const tally = new CaseTally('parsers (unit): Authorization schemes');
    const shrunk: (string | undefined)[] = [];
    const schemes = fc.constantFrom('Basic', 'Digest', 'Bearer', 'OAuth', 'X-Token', 'B', '');
    shrunk.push(tallyProperty(tally, fc.tuple(schemes, fc.string({ unit: latin1Char, maxLength: 40 })), ([scheme, value]) => {
      const view = { headers: { authorization: value } } as unknown as RequestView;
      const got = authorizationParams(view, scheme);
      if (got === undefined) return undefined;
      if (value.slice(0, scheme.length).toLowerCase() !== scheme.toLowerCase() || value[scheme.length] !== ' ') return `matched ${JSON.stringify(value)} as ${scheme}`;
      return got === value.slice(scheme.length + 1).trim() ? undefined : `params ${JSON.stringify(got)}`;
    }, 2000, SEED));
    shrunk.push(tallyProperty(tally, fc.oneof(fc.string({ unit: latin1Char, maxLength: 40 }), fc.base64String({ maxLength: 40 })),
      (t) => onlyClientErrors(() => decodeBasic(t), 'TG_ERR_MALFORMED_CREDENTIALS'), 2000, SEED));
    const noControls = (s: string): boolean => !/[\u0000-\u001f\u007f]/.test(s);
    const user = fc.string({ unit: 'grapheme', maxLength: 16 }).filter((s) => noControls(s) && !s.includes(':'));
    const password = fc.string({ unit: 'grapheme', maxLength: 24 }).filter(noControls);
    shrunk.push(tallyProperty(tally, fc.tuple(user, password), ([u, p]) => {
      const got = decodeBasic(Buffer.from(`${u}:${p}`, 'utf8').toString('base64'));
      return got.username === u && got.password === p ? undefined : `decoded ${JSON.stringify(got)}`;
    }, 1000, SEED));
    const digestName = fc.constantFrom('username', 'username*', 'userhash', 'realm', 'nonce', 'uri', 'response', 'algorithm', 'qop', 'nc', 'cnonce', 'opaque', 'charset');
    const digestValue = fc.oneof(fc.string({ unit: latin1Char, maxLength: 20 }), fc.constantFrom('true', 'false', 'TRUE', '00000001', '00000000', 'ffffffff', 'auth',
      "UTF-8''J%C3%A4s%C3%B8n", "utf-8''%ff", "ISO-8859-1''%e4", "x''a", '0', 'abcdef0123', 'MD5'));
    shrunk.push(tallyProperty(tally, fc.dictionary(digestName, digestValue, { maxKeys: 13 }),
      (d) => onlyClientErrors(() => parseDigestCredential(new Map(Object.entries(d))), 'TG_ERR_MALFORMED_CREDENTIALS'), 3000, SEED));
    shrunk.push(tallyProperty(tally, fc.oneof(fragments(["UTF-8''", "iso-8859-1''", "'", '%', '%C3', '%A4', '%ff', 'a', 'en', '-', '%2', '%%']), fc.string({ unit: latin1Char, maxLength: 30 })),
      (v) => onlyClientErrors(() => decodeExtValue(v), 'TG_ERR_MALFORMED_CREDENTIALS'), 2000, SEED));
    // RFC 8187: any user name, percent-encoded as UTF-8 octets, decodes to itself.
    shrunk.push(tallyProperty(tally, fc.string({ unit: 'grapheme', minLength: 1, maxLength: 16 }), (name) => {
      const encoded = [...Buffer.from(name, 'utf8')].map((b) => (/[A-Za-z0-9]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).padStart(2, '0')}`)).join('');
      const got = decodeExtValue(`UTF-8''${encoded}`);
      return got === name ? undefined : `decoded ${JSON.stringify(got)}`;
    }, 1000, SEED));
    // Every enabled form's extract on random carriers: a credential, nothing, or a 4xx TrackgateError.
    const forms = gate.app.runtime.pipeline.enabledForms;
    const headerValue = fc.oneof(fc.string({ unit: fieldChar, maxLength: 40 }), fragments(['Basic ', 'Bearer ', 'OAuth ', 'Digest ', 'dXNlcjpwYXNz', '=', '"', ',', ' ', 'a.b.c', 'username="u"', '\t']));
    const carriers = fc.record({
      authorization: headerValue, authentication: headerValue, instanceid: headerValue, instancekey: headerValue,
      devicetoken: headerValue, 'x-token': headerValue, cookie: fragments(['token=', 'a=1', ';', ' ', '"', 'tok', '=', '%', 'x']),
    }, { requiredKeys: [] });
    const query = fragments(['_token=', 'access_token=', 'user_id=', 'a', '&', '=', '%5F', '%', '+', 'x', '%ZZ']);
    shrunk.push(tallyProperty(tally, fc.tuple(carriers, query), ([headers, q]) => {
      const req = { method: 'GET', url: q === '' ? '/x' : `/x?${q}`, headers, httpVersion: '1.1', socket: { remoteAddress: '127.0.0.1' } };
      const view = new NodeRequestView(req as unknown as IncomingMessage, NO_PROXIES);
      for (const f of forms) {
        const why = onlyClientErrors(() => f.extract(view));
        if (why !== undefined) return `${f.id}.extract: ${why}`;
      }
      return undefined;
    }, 3000, SEED));
    expectNoFailures(tally, `${tally.tried} runs over ${forms.length} forms, seed ${SEED}`, shrunk);
  });

  it('Cookie header: parsing never throws; stripping removes exactly the credential cookies and keeps every other value', () => {
    const tally = new CaseTally('parsers (unit): Cookie header');
    const names = new Set(['token', 'session']);
    const header = fc.oneof(fragments(['token', 'session', 'a', 'b', '=', ';', '; ', ' ', '"', ',', '%', 'x=1', 'token=v', ' token =w', '=y', '\t']),
      fc.string({ unit: fieldChar, maxLength: 60 }));
    const shrunk = [tallyProperty(tally, header, (h) => {
      const before = parseCookies(h);
      const stripped = stripCookies(h, names);
      const after = parseCookies(stripped ?? '');
      for (const n of names) if (after.has(n)) return `kept ${n} in ${JSON.stringify(stripped)}`;
      for (const [n, v] of before) if (!names.has(n) && after.get(n) !== v) return `cookie ${n} changed from ${JSON.stringify(v)} to ${JSON.stringify(after.get(n))}`;
      return undefined;
    }, 4000, SEED)];
    expectNoFailures(tally, `${tally.tried} runs, seed ${SEED}`, shrunk);
  });

  it('query strings: a credential parameter the request view reads is never left in the scrubbed target; the rest is kept as sent', () => {
    const tally = new CaseTally('parsers (unit): query strings');
    const names = ['_token', 'access_token'];
    const query = fc.oneof(fragments(['_token', 'access_token', '%5F', '%5f', 'token', '_', '=', '&', '&&', '+', '%', '%2', '%ZZ', '%C3%A4', 'a', '=x', '?', '#', ';', '%00']),
      fc.string({ unit: latin1Char, maxLength: 40 }).map((s) => encodeURI(s).replace(/%25/g, '%')));
    const shrunk = [tallyProperty(tally, query, (q) => {
      const out = scrubQuery(`/p?${q}`, names);
      // Each pair's name as the view reads it (URLSearchParams; it drops one leading "?" of the whole query only).
      const nameOf = (pair: string, i: number): string | undefined => [...new URLSearchParams(i === 0 ? pair : `&${pair}`).keys()][0];
      const want = q.split('&').filter((pair, i) => !names.includes(nameOf(pair, i) ?? ''));
      const got = out.includes('?') ? out.slice(out.indexOf('?') + 1).split('&') : [];
      return JSON.stringify(got) === JSON.stringify(want) ? undefined : `kept ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`;
    }, 4000, SEED, ['?_token=secret', '?access_token=secret&a=1', '%5Ftoken=s&?_token=t'])];
    expectNoFailures(tally, `${tally.tried} runs, seed ${SEED}`, shrunk);
  });

  it('token endpoint body fields: a string, nothing, or a 400', () => {
    const tally = new CaseTally('parsers (unit): body fields');
    const shrunk = [tallyProperty(tally, fc.tuple(fc.jsonValue(), fc.constantFrom('username', 'password', '__proto__', 'constructor', 'toString', 'x')), ([value, name]) => {
      const body = JSON.parse(`{${JSON.stringify(name)}:${JSON.stringify(value)}}`) as Record<string, unknown>;
      return onlyClientErrors(() => {
        const got = stringField(body, name);
        if (got !== undefined && typeof got !== 'string') throw new Error(`returned ${typeof got}`);
      }, 'TG_ERR_BAD_REQUEST');
    }, 2000, SEED)];
    expectNoFailures(tally, `${tally.tried} runs, seed ${SEED}`, shrunk);
  });
});

// ---------------------------------------------------------------------------------------------------------
// Through a real trackgate.

interface Sent { method: string; path: string; headers: Record<string, string>; body?: Buffer }
interface Answer { status: number; headers: IncomingHttpHeaders; body: Buffer }

const agent = new Agent({ keepAlive: true, maxSockets: 4 });
afterAll(() => agent.destroy());

function send(r: Sent): Promise<Answer> {
  const port = Number(new URL(gate.url).port);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method: r.method, path: r.path, headers: r.headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.setTimeout(15000, () => req.destroy(new Error('no answer in 15 s')));
    req.on('error', reject);
    req.end(r.body);
  });
}

/** Statuses a parser may legitimately end in: success, redirect, or a defined client error. Never a 5xx. */
const ALLOWED = new Set([200, 201, 204, 303, 400, 401, 403, 404, 405, 409, 413, 415, 429, 431]);

/** What is wrong with trackgate's answer to a fuzzed request, or undefined. */
function judge(a: Answer): string | undefined {
  if (!ALLOWED.has(a.status)) return `status ${a.status}`;
  if (a.status < 400) return undefined;
  const type = String(a.headers['content-type'] ?? '');
  if (!type.startsWith('application/json')) return `${a.status} with content-type ${type}`;
  if (a.body.length > 512) return `${a.status} with a ${a.body.length}-byte body`;
  try { JSON.parse(a.body.toString('utf8')); } catch { return `${a.status} body is not JSON`; }
  return undefined;
}

/** A secret placeholder: every generated credential holds one, replaced by a unique random marker before sending. */
const S = '{{S}}';
let markerCount = 0;
const freshMarker = (): string => `Sq${Math.random().toString(36).slice(2, 10)}k${(markerCount++).toString(36)}`;
/** `text` with each placeholder replaced by its own secret (`<marker><n>z`: none is a substring of another). */
const fill = (text: string, marker: string): string => text.split(S).reduce((acc, part, i) => `${acc}${marker}${i - 1}z${part}`);

/** Runs the sampled requests, judging each answer; returns the secrets they carried (for the leak checks). */
async function fuzzThroughServer(tally: CaseTally, requests: readonly ((marker: string) => Sent & { secrets: string[] })[]): Promise<{ secrets: Map<string, string>; ms: number[] }> {
  const secrets = new Map<string, string>();
  const ms: number[] = [];
  await runPool(requests, 4, async (make) => {
    const r = make(freshMarker());
    for (const secret of r.secrets) secrets.set(secret, `${r.method} ${r.path} ${JSON.stringify(r.headers)}`.slice(0, 300));
    const t0 = performance.now();
    let why: string | undefined;
    try {
      why = judge(await send(r));
    } catch (err) {
      why = `no answer: ${(err as Error).message}`;
    }
    ms.push(performance.now() - t0);
    tally.count(why === undefined ? undefined : `${why}: ${r.method} ${JSON.stringify(r.path).slice(0, 80)} ${JSON.stringify(r.headers).slice(0, 200)} ${r.body?.toString('latin1').slice(0, 120) ?? ''}`);
  });
  return { secrets, ms };
}

/** What the server layer checks after each class: nothing leaked, nothing internal, still serving. */
async function serverAfterwards(secrets: Map<string, string>): Promise<string[]> {
  const problems: string[] = [];
  const leakedToLogs = leakedSecrets(gate.logs, secrets.keys());
  for (const s of leakedToLogs.slice(0, 3)) {
    problems.push(`in logs: ${s} of ${secrets.get(s)}: ${gate.logs.find((l) => l.toLowerCase().includes(s.toLowerCase()))?.slice(0, 300)}`);
  }
  const upstreamTexts = gate.up.received.flatMap((r) => [r.url, ...r.rawHeaders.filter((_, i) => i % 2 === 1)]);
  for (const s of leakedSecrets(upstreamTexts, secrets.keys()).slice(0, 3)) problems.push(`upstream saw ${s} of ${secrets.get(s)}`);
  const internal = gate.logRecords().filter((l) => l.err === 'TG_ERR_INTERNAL' || l.level === 'error' || l.level === 'fatal' || (typeof l.status === 'number' && l.status >= 500));
  if (internal.length > 0) problems.push(`internal errors logged: ${JSON.stringify(internal[0]).slice(0, 300)}`);
  const ok = await send({ method: 'GET', path: '/after', headers: { authorization: basicAuth(DEMO.user, DEMO.password) } });
  if (ok.status !== 200) problems.push(`a valid request afterwards got ${ok.status}`);
  return problems;
}

const p99 = (xs: number[]): string => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? '-' : `${s[Math.min(s.length - 1, Math.floor(s.length * 0.99))]!.toFixed(1)} ms`;
};

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');
/** Header-safe text around a secret placeholder. */
const noise = fc.string({ unit: fieldChar, maxLength: 12 });
const withSecret = fc.tuple(noise, noise).map(([a, b]) => `${a}${S}${b}`);

describe('parsers, through a real trackgate', () => {
  it('Authorization, every scheme: never a 5xx, a short JSON error body, no credential in a log line', async () => {
    const tally = new CaseTally('parsers (server): Authorization, every scheme');
    const digestParam = fc.tuple(
      fc.constantFrom('username', 'username*', 'realm', 'nonce', 'uri', 'response', 'algorithm', 'qop', 'nc', 'cnonce', 'opaque', 'userhash', 'charset', 'x'),
      fc.oneof(fc.constant(`"${S}"`), fc.constant(S), quotable.map(quoteString), token, fc.constantFrom('"unterminated', '"a\\"b,c"', "UTF-8''J%C3%A4s%C3%B8n", '00000001', 'auth', '"auth-int"', 'MD5', '"/x"', '""', "UTF-8''%ff")),
      ows, fc.constantFrom(', ', ',', ' , ', ',,'),
    );
    const value = fc.oneof(
      fc.tuple(fc.constantFrom('Basic', 'basic', 'BASIC'), fc.string({ unit: 'grapheme', maxLength: 10 }), noise).map(([s, u, p]) => [s, 'b64', `${u}:${S}${p}`] as const),
      fc.tuple(fc.constantFrom('Basic', 'Bearer', 'OAuth', 'Digest', 'bearer', 'oauth'), withSecret).map(([s, t]) => [s, 'raw', t] as const),
      fc.tuple(fc.constantFrom('Digest', 'digest', 'DIGEST'), fc.array(digestParam, { maxLength: 14 }))
        .map(([s, ps]) => [s, 'raw', ps.map(([n, v, o, sep]) => `${n}${o}=${o}${v}${sep}`).join('')] as const),
      fc.tuple(fc.constantFrom('Digest', 'Basic', 'Negotiate', 'X-Token', 'Bearer\t', 'Digestx', ''), fc.constantFrom(`${S}`, `${S}==`, `a.${S}.b`, `eyJhbGciOiJub25lIn0.${S}.`)).map(([s, t]) => [s, 'raw', t] as const),
    );
    const header = fc.constantFrom('authorization', 'authorization', 'authentication');
    const path = fc.constantFrom('/x', '/pub/x', '/rest/v2/token', '/rest/v2/auth-digest', '/1/oauth/token', '/x?user_id=1');
    const samples = fc.sample(fc.tuple(value, header, path), { numRuns: 300, seed: SEED });
    const { secrets, ms } = await fuzzThroughServer(tally, samples.map(([[scheme, kind, raw], name, p]) => (marker) => {
      const cred = fill(raw, marker);
      const param = kind === 'b64' ? b64(cred) : cred;
      return { method: p.startsWith('/1/') ? 'POST' : 'GET', path: p, headers: { [name]: `${scheme} ${param}` }, secrets: [marker, ...(param.length >= 12 ? [param] : [])] };
    }));
    const problems = await serverAfterwards(secrets);
    for (const p of problems) tally.failures.push(p);
    expectNoFailures(tally, `p99 ${p99(ms)}, ${secrets.size} secrets checked against ${gate.logs.length} log lines`, []);
  });

  it('Cookie and query carriers: never a 5xx, no credential in a log line or an upstream URL', async () => {
    const tally = new CaseTally('parsers (server): Cookie and query carriers');
    const cookie = fc.array(fc.oneof(
      fc.tuple(fc.constantFrom('token', ' token', 'token ', 'TOKEN', 'session', 'a', '', '"token"'), fc.oneof(fc.constant(S), fc.constant(`"${S}"`), withSecret, noise))
        .map(([n, v]) => `${n}=${v}`),
      fc.constantFrom('', ' ', 'junk', '=', '==', ';', 'a=b', 'token', '"'),
    ), { maxLength: 5 }).map((parts) => parts.join('; '));
    const queryPart = fc.oneof(
      fc.tuple(fc.constantFrom('_token', 'access_token', '%5Ftoken', '%5ftoken', 'access%5Ftoken', '?_token', '_token%00', '_token[]', 'user_id', 'x', '', '_tok%65n'),
        fc.oneof(fc.constant(S), fc.constant(`${S}%ZZ`), fc.constant(`${S}+${S}`), fc.constant(''), token)).map(([n, v]) => `${n}=${v}`),
      fc.constantFrom('', '&', '=', '%', '%ZZ', '+', '_token', 'a=1=2'),
    );
    const query = fc.array(queryPart, { maxLength: 5 }).map((parts) => parts.join('&'));
    const path = fc.constantFrom('/x', '/pub/y', '/rest/v2/gateway', '/1/user/create_anon');
    const samples = fc.sample(fc.tuple(cookie, query, path, fc.boolean()), { numRuns: 250, seed: SEED });
    const { secrets, ms } = await fuzzThroughServer(tally, samples.map(([c, q, p, withBasic]) => (marker) => {
      const headers: Record<string, string> = {};
      const cookieValue = fill(c, marker);
      if (cookieValue !== '') headers.cookie = cookieValue;
      if (withBasic) headers.authorization = basicAuth(DEMO.user, DEMO.password);
      const target = `${p}${q === '' ? '' : `?${fill(q, `${marker}q`)}`}`;
      // The credentials are what trackgate itself reads from these carriers (a marker under another name is data).
      const view = new NodeRequestView({ method: 'GET', url: target, headers, httpVersion: '1.1', socket: {} } as unknown as IncomingMessage, NO_PROXIES);
      const read = [...queryValues(view, '_token'), ...queryValues(view, 'access_token'), ...cookieValues(view, 'token')];
      return { method: p.startsWith('/1/') ? 'POST' : 'GET', path: target, headers, secrets: read.filter((v) => v.includes(marker)) };
    }));
    const problems = await serverAfterwards(secrets);
    for (const p of problems) tally.failures.push(p);
    expectNoFailures(tally, `p99 ${p99(ms)}, ${secrets.size} credentials read, checked in ${gate.up.received.length} forwarded requests and the logs`, []);
  });

  it('token endpoint bodies of every dialect (JSON and form): never a 5xx, a short JSON error body, no value of the body in a log line', async () => {
    const tally = new CaseTally('parsers (server): token endpoint bodies');
    const endpoints = ['/rest/v2/token', '/auth/password', '/auth/refresh', '/auth/login', '/v1/Auth/Login', '/v1/Auth/RefreshToken',
      '/1/oauth/token', '/1/user/create_anon', '/1/user/create', '/oauth/introspect', '/oauth/revoke'];
    const fieldName = fc.constantFrom('username', 'password', 'key', 'duration', 'grant_type', 'refresh_token', 'refreshToken', 'client_id', 'client_secret',
      'account_id', 'loginFields', 'AccessToken', 'RefreshToken', 'token', 'token_type_hint', 'extra', 'extra[a]', 'email', 'name', '__proto__', 'constructor', 'toString', 'x');
    const fieldValue = fc.oneof(
      fc.constant(S), withSecret, fc.constantFrom('password', 'client_credentials', 'refresh_token', 'demo-app', DEMO.user, '3600', '-1', '1e9', '', ' '),
      fc.jsonValue({ maxDepth: 3 }), fc.constant({ Email: S, deviceToken: S }), fc.constant({ a: { b: { c: [S] } } }),
    );
    const body = fc.array(fc.tuple(fieldName, fieldValue), { maxLength: 8 });
    const contentType = fc.constantFrom('application/json', 'application/x-www-form-urlencoded', 'application/json-patch+json', 'text/plain', '',
      'application/json; charset=utf-8', 'multipart/form-data; boundary=x', 'application/xml', 'APPLICATION/JSON', 'application/x-www-form-urlencoded;charset=latin1');
    const encoding = fc.constantFrom('json', 'json', 'form', 'form', 'duplicate-json', 'truncated-json', 'raw', 'array', 'huge');
    const extraHeaders = fc.record({
      instanceid: fc.constantFrom(DEMO.instanceId, DEMO.apiInstanceId, 'nope', S), instancekey: fc.constantFrom(DEMO.instanceKey, S, ''),
      authorization: fc.constantFrom(basicAuth(DEMO.clientId, DEMO.clientSecret), basicAuth(DEMO.adminEmail, DEMO.adminPassword), `Basic ${S}`, 'Basic', `Bearer ${S}`),
    }, { requiredKeys: [] });
    const samples = fc.sample(fc.tuple(fc.constantFrom(...endpoints), body, contentType, encoding, extraHeaders, fc.constantFrom('POST', 'POST', 'POST', 'GET', 'PUT')), { numRuns: 300, seed: SEED });
    const render = (fields: [string, unknown][], enc: string, marker: string): string => {
      const sub = (v: unknown): unknown => JSON.parse(JSON.stringify(v ?? null).split(S).join(marker));
      switch (enc) {
        case 'form': return fields.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(typeof v === 'string' ? String(sub(v)) : JSON.stringify(sub(v)))}`).join('&');
        case 'duplicate-json': return `{${fields.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(sub(v))}`).join(',')}${fields.length > 0 ? `,${JSON.stringify(fields[0]![0])}:"${marker}"` : ''}}`;
        case 'truncated-json': return JSON.stringify(Object.fromEntries(fields.map(([k, v]) => [k, sub(v)]))).slice(0, -1);
        case 'raw': return `${marker}\u0000\u00ff{"`;
        case 'array': return JSON.stringify(fields.map(([k, v]) => ({ [k]: sub(v) })));
        case 'huge': return JSON.stringify({ password: marker, pad: 'x'.repeat(70 * 1024) });
        default: return JSON.stringify(Object.fromEntries(fields.map(([k, v]) => [k, sub(v)])));
      }
    };
    const { secrets, ms } = await fuzzThroughServer(tally, samples.map(([path, fields, type, enc, hdrs, method]) => (marker) => {
      const payload = Buffer.from(render(fields, enc, marker), 'utf8');
      const headers: Record<string, string> = { 'content-length': String(payload.length) };
      if (type !== '') headers['content-type'] = type;
      for (const [k, v] of Object.entries(hdrs)) headers[k] = fill(v, `${marker}h`);
      return { method, path, headers, body: payload, secrets: [marker] };
    }));
    const problems = await serverAfterwards(secrets);
    for (const p of problems) tally.failures.push(p);
    expectNoFailures(tally, `p99 ${p99(ms)} over ${endpoints.length} endpoints`, []);
  });
});
