/**
 * Reliability: path canonicalisation (issue 13 item 2). A generated corpus of path spellings, every class
 * of src/authn/canonical-path.ts combined with the prefixes of a public, a deny and a kind-restricted rule,
 * at each position and in each case, sent on raw sockets to two real trackgates (case-sensitive and
 * `routing.caseInsensitive`) in front of the recording upstream. A request "got through" when the
 * upstream received it on a path that some common upstream (Tomcat/Spring, IIS/ASP.NET, one that decodes
 * twice or normalises Unicode) reads as under the deny or the kind-restricted rule: per class that count
 * must be 0, no answer may be a 5xx, legit paths must be forwarded byte for byte, and whatever is
 * forwarded must be the canonical spelling itself.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalPath } from '../../src/authn/canonical-path.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { basicAuth, DEMO, startTrackgate, type TestGate } from '../helpers/trackgate.js';
import { portOf, rawRequest } from '../helpers/raw-http.js';
import { recordRow } from './record.js';

const AUTH = basicAuth(DEMO.user, DEMO.password);
const ROUTES = [
  { path: '/public', access: 'public' },
  { path: '/closed', access: 'deny' },
  { path: '/admin', access: { kinds: ['admin'] } },
  { path: '/reports', methods: ['GET'], access: 'deny' },
  { path: '/devices', methods: ['DELETE'], access: 'deny' },
];
/** The rules the demo user (a `user`, not an `admin`) may never get past. */
const PROTECTED = ['closed', 'admin'];

interface Case { cls: string; method: string; target: string; headers: string[]; body?: string }

const hex = (c: string): string => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`;
const utf8Escapes = (s: string): string => [...Buffer.from(s, 'utf8')].map((b) => `%${b.toString(16).toUpperCase()}`).join('');

/** Each way to write a path segment that a quirky upstream reads as `..` (a step back out of /public). */
const TRAVERSALS: Record<string, string[]> = {
  'dot segments': ['..', '.%2e', '%2e.', '%2e%2e', '%2E%2E', './..', '..%2f'],
  'path parameters (;)': ['..;', '..;x', ';/..', '..;jsessionid=0A1B', '%2e%2e;'],
  'double encoding': ['%252e%252e', '%252E%252E', '%25%32%65%25%32%65', '..%252f', '%2e%2e%252f'],
  'overlong and invalid UTF-8': ['%c0%ae%c0%ae', '%e0%80%ae%e0%80%ae', '%f0%80%80%ae%f0%80%80%ae', '%c0%2e%c0%2e', '..%c0%af', '..%e0%80%af', '..%c1%9c', '..%80', '..%c3', '..%ed%a0%80'],
  'NUL and control characters': ['..%00', '%00/..', '..%0a', '..%0d', '..%09', '..%7f'],
  'IIS %u encoding': ['%u002e%u002e', '%U002E%U002E', '..%u002f', '..%u005c', '%uff0e%uff0e'],
  'trailing dots and spaces': ['...', '..%20', '.. .', '..%2e', '%2e%2e%20'],
  'backslashes and encoded separators': ['..\\', '..%5c', '..%5C', '..%2f', '..%2F', '%2e%2e%5c'],
  'Unicode look-alikes': [utf8Escapes('．．'), utf8Escapes('..／'), utf8Escapes('..＼'), utf8Escapes('..∕'), utf8Escapes('。。'), utf8Escapes('‥'), utf8Escapes('..\u200b')],
  'fragments': ['#/..', '..#', '%23/..'],
};

/** Each way to write the end of a protected segment that a quirky upstream drops or reads past. */
const SUFFIXES: Record<string, string[]> = {
  'path parameters (;)': [';', ';x', ';jsessionid=0A1B', ';a=b;c=d', '%3b', '%3Bx'],
  'double encoding': ['%25', '%2500', '%252f', '%255c', '%2520'],
  'overlong and invalid UTF-8': ['%c0%ae', '%c0%af', '%c0%80', '%80', '%c3', '%ff', '%f4%90%80%80'],
  'NUL and control characters': ['%00', '%00.json', '%01', '%0a', '%0d%0a', '%1f', '%7f'],
  'IIS %u encoding': ['%u002e', '%u0000', '%u0020', '%u002f'],
  'trailing dots and spaces': ['.', '..', '...', '%20', '.%20', '%20.', '%2e', '%2E%20', '%20%20', '%09'],
  'backslashes and encoded separators': ['\\', '%5c', '%2f', '%2F', '\\x', '/%2f'],
  'Unicode look-alikes': [utf8Escapes('\u00a0'), utf8Escapes('\u3000'), utf8Escapes('\u200b'), utf8Escapes('\u00ad'), utf8Escapes('\ufeff'), utf8Escapes('．'), utf8Escapes('／')],
  'fragments': ['#', '#x', '#/x'],
  'characters outside RFC 3986': ['{x}', '|', '^', '`', '"', '<', '[0]'],
  'Windows file names': ['::$DATA', ':$DATA', '::%24DATA', '::$data', '.::$DATA', '%20::$DATA', '%3A%3A$DATA', ':%3A$DATA', '%3A%3A%24DATA', '%3a$DATA'],
};

/** Spellings of a protected name itself: each letter replaced at each position. */
function nameVariants(name: string): Record<string, string[]> {
  const at = (i: number, s: string): string => name.slice(0, i) + s + name.slice(i + 1);
  const letters = [...Array(name.length).keys()];
  return {
    'percent-encoded unreserved characters': [...letters.map((i) => at(i, hex(name[i]!))), ...letters.map((i) => at(i, hex(name[i]!).toUpperCase())), [...name].map(hex).join('')],
    'double encoding': letters.map((i) => at(i, `%25${hex(name[i]!).slice(1)}`)),
    'IIS %u encoding': letters.map((i) => at(i, `%u00${hex(name[i]!).slice(1)}`)),
    'Unicode look-alikes': letters.flatMap((i) => {
      const c = name.charCodeAt(i);
      // fullwidth, circled, mathematical bold: all NFKC-equal to the ASCII letter.
      return [String.fromCharCode(0xff41 + c - 0x61), String.fromCharCode(0x24d0 + c - 0x61), String.fromCodePoint(0x1d41a + c - 0x61)].map((v) => at(i, utf8Escapes(v)));
    }),
    'case variants': caseVariants(name),
  };
}

function caseVariants(name: string): string[] {
  const out: string[] = [];
  for (let mask = 1; mask < 1 << name.length; mask++) out.push([...name].map((c, i) => (mask & (1 << i) ? c.toUpperCase() : c)).join(''));
  return out;
}

/** The corpus: every spelling at every position, alternately with the demo user's credential and none. */
function corpus(): Case[] {
  const cases: Case[] = [];
  let n = 0;
  const add = (cls: string, target: string, method = 'GET', headers: string[] = [], body?: string): void => {
    cases.push({ cls, method, target, headers: n++ % 2 === 0 ? [`Authorization: ${AUTH}`, ...headers] : headers, ...(body === undefined ? {} : { body }) });
  };
  for (const p of PROTECTED) {
    for (const [cls, list] of Object.entries(TRAVERSALS)) {
      for (const t of list) {
        add(cls, `/public/${t}/${p}`);
        add(cls, `/public/x/${t}/${t}/${p}/y`);
        add(cls, `/public${t}/${p}`);
        add(cls, `/${t}/${p}`);
        add(cls, `/${p}/${t}/${p}`);
      }
    }
    for (const [cls, list] of Object.entries(SUFFIXES)) {
      for (const s of list) {
        add(cls, `/${p}${s}`);
        add(cls, `/${p}${s}/x`);
        add(cls, `/${s}/${p}`.replace('//', '/'));
        add(cls, `/public/${s}/../${p}`);
        add(cls, `/${p}/x${s}`);
      }
    }
    for (const [cls, list] of Object.entries(nameVariants(p))) {
      for (const v of list) {
        add(cls, `/${v}`);
        add(cls, `/${v}/x`);
        add(cls, `/public/../${v}`);
      }
    }
  }
  // A rule about GET covers HEAD; a method override would make the upstream run another method.
  for (const t of ['/reports', '/reports/x', '/Reports/x']) add('methods: HEAD under a GET rule', t, 'HEAD');
  for (const name of ['X-HTTP-Method-Override', 'X-HTTP-Method', 'X-Method-Override', 'x_http_method_override', 'X.HTTP.Method.Override', 'x-http-method-override']) {
    for (const value of ['DELETE', 'delete']) add('methods: overrides', '/devices/1', 'POST', [`${name}: ${value}`, 'Content-Length: 0']);
  }
  for (const q of ['_method=DELETE', '%5Fmethod=DELETE', '_m%65thod=DELETE', 'a=1&_method=delete']) add('methods: overrides', `/devices/1?${q}`, 'POST', ['Content-Length: 0']);
  for (const [type, body] of [
    ['application/x-www-form-urlencoded', '_method=DELETE'], ['application/x-www-form-urlencoded', 'a=1&_method=delete'],
    ['multipart/form-data; boundary=b', '--b\r\nContent-Disposition: form-data; name="_method"\r\n\r\nDELETE\r\n--b--\r\n'],
    ['application/json', '{"_method":"DELETE"}'], ['text/plain', '_method=DELETE'],
  ] as const) {
    for (const t of ['/devices/1', '/Devices/1', '/devices']) add('methods: overrides', t, 'POST', [`Content-Type: ${type}`, `Content-Length: ${Buffer.byteLength(body)}`], body);
  }
  return cases;
}

/** Paths legit clients send (the seeds' and their kin): they must reach the upstream as they are. */
const LEGIT = [
  '/v1/Devices/ABC-1/positions', '/rest/v2/gateway', '/rest/v2/devices/d-1/track.csv?points=10;limit=2', '/.well-known/jwks.json',
  '/v1/things:batchGet', '/users/a%40b.com', '/search/two%20words', '/caf%C3%A8', '/public/page', '/public/', '/closedx', '/administrator',
  "/api/(x)/*/+/,/=/!/$/&/'/~u_v-w.x", '/rest/v2/devices/', '/',
];

// ---- What upstreams read -------------------------------------------------------------------------

/** Lenient UTF-8 (overlong forms read as their code point, invalid bytes dropped), as old decoders did. */
function lenientUtf8(bytes: number[]): string {
  let out = '';
  for (let i = 0; i < bytes.length;) {
    const b = bytes[i]!;
    const need = b >= 0xf0 ? 3 : b >= 0xe0 ? 2 : b >= 0xc0 ? 1 : 0;
    if (b >= 0x80 && need === 0) { i++; continue; }
    let cp = need === 0 ? b : b & (0x3f >> need);
    let ok = true;
    for (let k = 1; k <= need; k++) {
      const c = bytes[i + k];
      if (c === undefined || (c & 0xc0) !== 0x80) { ok = false; break; }
      cp = (cp << 6) | (c & 0x3f);
    }
    if (ok && cp <= 0x10ffff && (cp < 0xd800 || cp > 0xdfff)) out += String.fromCodePoint(cp);
    i += ok ? need + 1 : 1;
  }
  return out;
}

function decodeOnce(p: string): string {
  return p.replace(/%u([0-9a-f]{4})/gi, (_, h: string) => String.fromCharCode(parseInt(h, 16)))
    .replace(/(?:%[0-9a-f]{2})+/gi, (run) => lenientUtf8(run.slice(1).split('%').map((h) => parseInt(h, 16))));
}

/**
 * The path an upstream with every common quirk at once routes on: fragment cut, `;` parameters dropped
 * (Tomcat, Spring), decoded up to three times (%u too, overlong UTF-8 read), NFKC and best-fit
 * look-alikes folded, `\` read as `/`, a C string's NUL end, controls and invisible characters dropped,
 * NTFS `::$DATA` streams and trailing dots and spaces stripped (Windows), dot and empty segments resolved; lower-cased when the
 * upstream is case-insensitive.
 */
function quirkyReading(target: string, caseInsensitive: boolean): string {
  let p = target.split('?')[0]!.split('#')[0]!;
  for (let round = 0; round < 3; round++) p = decodeOnce(p.split('/').map((s) => s.replace(/;.*$/s, '')).join('/'));
  p = p.split('#')[0]!.normalize('NFKC').replace(/[\u2044\u2215\u29f8]/g, '/').replace(/[\u2216\u29f9\u00a5\u20a9]/g, '\\')
    .replace(/[\u3002\uff61]/g, '.').replace(/\\/g, '/').replace(/\0.*$/s, '').replace(/[\p{Cc}\p{Cf}]/gu, '')
    .replace(/::?\$data/gi, '');
  const segments: string[] = [];
  for (const raw of p.split('/')) {
    const s = raw.replace(/;.*$/s, '');
    if (s === '..') { segments.pop(); continue; }
    const stripped = s.replace(/[. \u00a0\u3000]+$/u, '');
    if (stripped === '') continue;
    segments.push(stripped);
  }
  const out = `/${segments.join('/')}`;
  return caseInsensitive ? out.toLowerCase() : out;
}

const under = (names: readonly string[], reading: string): boolean => names.some((p) => reading === `/${p}` || reading.startsWith(`/${p}/`));
const isProtected = (reading: string): boolean => under(PROTECTED, reading);
/** The method-limited rules' paths: a HEAD or an overridden POST must never reach them. */
const METHOD_RULED = ['reports', 'devices'];

// ---- The run -------------------------------------------------------------------------------------

let up: RecordingUpstream;
const gates: { name: string; caseInsensitive: boolean; gate: TestGate }[] = [];

beforeAll(async () => {
  up = await startRecordingUpstream();
  for (const caseInsensitive of [false, true]) {
    const gate = await startTrackgate({ upstreamUrl: up.url, config: { routes: ROUTES, routing: { caseInsensitive }, logging: { level: 'warn', access: false } } });
    gates.push({ name: caseInsensitive ? 'case-insensitive' : 'case-sensitive', caseInsensitive, gate });
  }
});
afterAll(async () => {
  for (const g of gates) await g.gate.close();
  await up.close();
});

interface Outcome { status: number | undefined; forwarded: string | undefined; forwardedMethod: string | undefined }

/** Sends every case (a few at a time), each tagged with `c=<id>` so the upstream's record is found again. */
async function run(gate: TestGate, cases: readonly Case[]): Promise<Outcome[]> {
  up.received.length = 0;
  const statuses: (number | undefined)[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < cases.length) {
      const i = next++;
      const c = cases[i]!;
      const tagged = `${c.target}${c.target.includes('?') ? '&' : '?'}c=${i}`;
      const r = await rawRequest(portOf(gate.url), [`${c.method} ${tagged} HTTP/1.1`, 'Host: 127.0.0.1', ...c.headers, 'Connection: close', '', c.body ?? ''].join('\r\n'), {
        bodiless: c.method === 'HEAD' ? new Set([0]) : new Set(),
      });
      statuses[i] = r.responses[0]?.status;
    }
  };
  await Promise.all(Array.from({ length: 6 }, worker));
  const byId = new Map<number, { url: string; method: string }>();
  for (const rec of up.received) {
    const m = /[?&]c=(\d+)$/.exec(rec.url);
    if (m) byId.set(Number(m[1]), { url: rec.url.slice(0, m.index), method: rec.method });
  }
  return cases.map((_, i) => ({ status: statuses[i], forwarded: byId.get(i)?.url, forwardedMethod: byId.get(i)?.method }));
}

describe('path canonicalisation: a generated corpus of spellings', () => {
  const cases = corpus();

  it('nothing reaches the upstream on a protected path, no 5xx, legit paths byte for byte, forwarded = canonical', async () => {
    const started = performance.now();
    const byClass = new Map<string, { tried: number; through: number; fiveXx: number; noAnswer: number }>();
    const legit = { tried: 0, failures: 0 };
    const canonical = { tried: 0, failures: 0 };
    const examples: string[] = [];
    for (const { name, caseInsensitive, gate } of gates) {
      const outcomes = await run(gate, cases);
      cases.forEach((c, i) => {
        const o = outcomes[i]!;
        const row = byClass.get(c.cls) ?? { tried: 0, through: 0, fiveXx: 0, noAnswer: 0 };
        byClass.set(c.cls, row);
        row.tried++;
        if (o.status === undefined) row.noAnswer++;
        else if (o.status >= 500) row.fiveXx++;
        const reading = o.forwarded === undefined ? undefined : quirkyReading(o.forwarded, caseInsensitive);
        const got = reading !== undefined && (c.cls.startsWith('methods:') ? under(METHOD_RULED, reading) : isProtected(reading));
        if (got) {
          row.through++;
          if (examples.length < 10) examples.push(`${name}: ${c.method} ${c.target} → ${o.forwardedMethod} ${o.forwarded}`);
        }
        if (o.forwarded !== undefined) {
          canonical.tried++;
          const path = o.forwarded.split('?')[0]!;
          let fixed: string | undefined;
          try { fixed = canonicalPath(path, caseInsensitive); } catch { fixed = undefined; }
          if (fixed !== path) { canonical.failures++; if (examples.length < 10) examples.push(`${name}: forwarded a non-canonical ${o.forwarded}`); }
        }
      });
      const legitOut = await run(gate, LEGIT.map((target, i) => ({ cls: 'legit', method: 'GET', target, headers: i % 2 === 0 || !target.startsWith('/public') ? [`Authorization: ${AUTH}`] : [] })));
      legitOut.forEach((o, i) => {
        legit.tried++;
        if (o.status !== 200 || o.forwarded !== LEGIT[i]) { legit.failures++; examples.push(`${name}: legit ${LEGIT[i]} → ${o.status} ${o.forwarded}`); }
      });
    }
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    let total = 0;
    for (const [cls, r] of [...byClass].sort()) {
      total += r.tried;
      recordRow({ cls: `paths: ${cls}`, tried: r.tried, failures: r.through + r.fiveXx + r.noAnswer, figure: `${r.through} reached a protected path, ${r.fiveXx} 5xx, ${r.noAnswer} unanswered` });
    }
    recordRow({ cls: 'paths: legit paths forwarded byte for byte', tried: legit.tried, failures: legit.failures, figure: `${LEGIT.length} paths × 2 instances` });
    recordRow({ cls: 'paths: forwarded spelling is the canonical one', tried: canonical.tried, failures: canonical.failures, figure: `${total} spellings in ${seconds} s (both instances)` });

    expect(examples).toEqual([]);
    for (const [cls, r] of byClass) expect({ cls, through: r.through, fiveXx: r.fiveXx, noAnswer: r.noAnswer }).toEqual({ cls, through: 0, fiveXx: 0, noAnswer: 0 });
    expect(legit.failures).toBe(0);
    expect(canonical.failures).toBe(0);
    // The corpus is the point: a refactoring that shrinks it by accident should show.
    expect(total).toBeGreaterThan(1000);
  });
});
