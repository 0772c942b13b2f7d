/**
 * Reliability suite, identity spoofing (issue 13): a client sends its own identity header in every
 * spelling and split a framework downstream might read as `X-Identity-Assertion` (case, `_` and `.` for
 * `-`), duplicated, comma-joined, obs-folded, named by `Connection:`, announced by `Trailer:`, in a chunked
 * trailer; and a JWS signed by another key, as the identity header and as a Bearer token. Raw sockets,
 * a recording upstream that also keeps trailers.
 *
 * Per case: never a 5xx; the request is refused (4xx) or forwarded, and a forwarded request carries
 * exactly one header that normalises to the identity header, trackgate's own (it verifies against the
 * admin port's JWKS, for the authenticated user), or none on a public path; the forged value appears
 * nowhere in what the upstream received, headers or trailers.
 */
import { generateKeyPairSync } from 'node:crypto';
import { createLocalJWKSet, jwtVerify, SignJWT, type JSONWebKeySet } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { useGate } from '../helpers/gate.js';
import { basicAuth, DEMO } from '../helpers/trackgate.js';
import { portOf, rawRequest } from '../helpers/raw-http.js';
import { CaseTally } from './lib/case-tally.js';
import { leakedSecrets } from './lib/leaks.js';
import { runPool } from './lib/run-pool.js';

const AUTH = basicAuth(DEMO.user, DEMO.password);
const IDENTITY = 'x-identity-assertion';
let jwks: ReturnType<typeof createLocalJWKSet>;
/** Raw trailers the upstream received, by request target. */
const trailers = new Map<string, string[]>();

const gate = useGate({ config: { routes: [{ path: '/pub', access: 'public' }], authn: { bearer: { enabled: true } } } });
beforeAll(async () => {
  const reply = gate.up.respond;
  gate.up.respond = (req, res, rec) => { trailers.set(rec.url, req.rawTrailers); reply(req, res, rec); };
  jwks = createLocalJWKSet(await (await fetch(`${gate.adminUrl}/.well-known/jwks.json`)).json() as JSONWebKeySet);
});

/** Every spelling of the identity header name a lenient framework could fold into it: case and separators. */
function spellings(): string[] {
  const words = ['x', 'identity', 'assertion'];
  const cases: ((w: string, i: number) => string)[] = [
    (w) => w, (w) => w.toUpperCase(), (w) => w[0]!.toUpperCase() + w.slice(1),
    (w) => [...w].map((ch, j) => (j % 2 === 0 ? ch.toUpperCase() : ch)).join(''),
    (w, i) => (i === 1 ? w.toUpperCase() : w),
  ];
  const out: string[] = [];
  for (const a of ['-', '_', '.']) {
    for (const b of ['-', '_', '.']) {
      for (const c of cases) out.push(`${c(words[0]!, 0)}${a}${c(words[1]!, 1)}${b}${c(words[2]!, 2)}`);
    }
  }
  return out;
}

const normalise = (name: string): string => name.toLowerCase().replace(/[_.]/g, '-');

/** How the forged value travels; `refused` when trackgate must answer 4xx whatever the target. */
interface Carrier { name: string; refused?: boolean; build(spelling: string, forged: string, target: string, auth: string): string }
const hostLine = 'Host: 127.0.0.1\r\n';
const get = (target: string, auth: string, lines: string): string => `GET ${target} HTTP/1.1\r\n${hostLine}${auth}${lines}\r\n`;
const CARRIERS: Carrier[] = [
  { name: 'the header', build: (s, f, t, a) => get(t, a, `${s}: ${f}\r\n`) },
  { name: 'twice', build: (s, f, t, a) => get(t, a, `${s}: ${f}\r\n${s}: ${f}-2\r\n`) },
  { name: 'beside the canonical name', build: (s, f, t, a) => get(t, a, `X-Identity-Assertion: ${f}-c\r\n${s}: ${f}\r\n`) },
  { name: 'comma-joined values', build: (s, f, t, a) => get(t, a, `${s}: ${f}, ${f}-2\r\n`) },
  { name: 'an empty value then the forgery', build: (s, f, t, a) => get(t, a, `${s}:\r\n${s}: ${f}\r\n`) },
  { name: 'obs-folded', refused: true, build: (s, f, t, a) => get(t, a, `${s}: ${f}\r\n  ${f}-fold\r\n`) },
  { name: 'named by Connection', refused: true, build: (s, f, t, a) => get(t, a, `Connection: keep-alive, ${s}\r\n${s}: ${f}\r\n`) },
  { name: 'in a chunked trailer', build: (s, f, t, a) => `POST ${t} HTTP/1.1\r\n${hostLine}${a}Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n${s}: ${f}\r\n\r\n` },
  { name: 'announced by Trailer, in the trailer', build: (s, f, t, a) => `POST ${t} HTTP/1.1\r\n${hostLine}${a}Trailer: ${s}\r\nTE: trailers\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n${s}: ${f}\r\n\r\n` },
  { name: 'in the header and the trailer', build: (s, f, t, a) => `POST ${t} HTTP/1.1\r\n${hostLine}${a}${s}: ${f}\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n${s}: ${f}-t\r\n\r\n` },
];

type Target = 'authed' | 'public';

/** Why what the upstream got for `path` breaks the identity guarantee, or undefined. */
async function checkForwarded(path: string, target: Target, forged: string, expectedSub: string): Promise<string | undefined> {
  const rec = gate.up.received.find((r) => r.url === path);
  if (rec === undefined) return 'answered 2xx but nothing reached the upstream';
  const identities: string[] = [];
  for (let i = 0; i < rec.rawHeaders.length; i += 2) if (normalise(rec.rawHeaders[i]!) === IDENTITY) identities.push(rec.rawHeaders[i + 1]!);
  const everything = [...rec.rawHeaders, ...(trailers.get(path) ?? [])];
  if (leakedSecrets(everything, [forged]).length > 0) return `the forged value reached the upstream: ${JSON.stringify(everything).slice(0, 300)}`;
  if ((trailers.get(path) ?? []).some((v, i) => i % 2 === 0 && normalise(v) === IDENTITY)) return 'an identity header reached the upstream in a trailer';
  if (target === 'public') return identities.length === 0 ? undefined : `a public request carried ${identities.length} identity headers`;
  if (identities.length !== 1) return `${identities.length} identity headers upstream`;
  try {
    const { payload } = await jwtVerify(identities[0]!, jwks, { issuer: 'trackgate-test', audience: 'upstream-test' });
    return payload.sub === expectedSub ? undefined : `identity header for ${payload.sub}, not ${expectedSub}`;
  } catch (err) {
    return `the identity header does not verify: ${(err as Error).message}`;
  }
}

/** Sends `payload` and judges the answer and what the upstream got; undefined when the guarantee held. */
async function runCase(payload: string, path: string, target: Target, forged: string, refused: boolean, expectedSub: string): Promise<string | undefined> {
  const r = await rawRequest(portOf(gate.url), Buffer.from(payload, 'latin1'), { timeoutMs: 4000 });
  const status = r.responses[0]?.status;
  if (status === undefined) return `no answer (${r.error ?? 'no error'})`;
  if (status >= 500) return `status ${status}`;
  if (refused) return status >= 400 && !gate.up.received.some((x) => x.url === path) ? undefined : `expected a 4xx and nothing forwarded, got ${status}`;
  if (status >= 400) return target === 'public' ? `a public request got ${status}` : undefined;
  return checkForwarded(path, target, forged, expectedSub);
}

/** The subject trackgate asserts for the demo user (read from a plain request, not assumed). */
async function baselineSubject(): Promise<string> {
  const path = '/baseline/1';
  const r = await rawRequest(portOf(gate.url), get(path, `Authorization: ${AUTH}\r\n`, ''));
  expect(r.responses[0]?.status).toBe(200);
  const value = gate.up.received.find((x) => x.url === path)!.headers[IDENTITY] as string;
  return (await jwtVerify(value, jwks, { issuer: 'trackgate-test', audience: 'upstream-test' })).payload.sub!;
}

describe('identity spoofing', () => {
  it('every spelling and split of the identity header: only trackgate\'s own single value reaches the upstream', async () => {
    const tally = new CaseTally('identity: spellings and splits of the header');
    const sub = await baselineSubject();
    const jobs: { spelling: string; carrier: Carrier; target: Target }[] = [];
    for (const spelling of spellings()) {
      for (const carrier of CARRIERS) for (const target of ['authed', 'public'] as const) jobs.push({ spelling, carrier, target });
    }
    let forwarded = 0;
    await runPool(jobs, 4, async ({ spelling, carrier, target }, i) => {
      const path = `${target === 'public' ? '/pub' : ''}/id/${i}`;
      const forged = `forged${i}q${Math.random().toString(36).slice(2, 10)}`;
      const payload = carrier.build(spelling, forged, path, target === 'authed' ? `Authorization: ${AUTH}\r\n` : '');
      const why = await runCase(payload, path, target, forged, carrier.refused === true, sub);
      if (gate.up.received.some((x) => x.url === path)) forwarded++;
      tally.count(why === undefined ? undefined : `${target} ${JSON.stringify(spelling)} ${carrier.name}: ${why}`);
    });
    const shown = tally.record(`${spellings().length} spellings × ${CARRIERS.length} carriers × 2 targets; ${forwarded} forwarded`, 8);
    expect({ failures: tally.failures.length, first: shown }).toEqual({ failures: 0, first: [] });
  });

  it('a JWS signed by another key: never forwarded as the identity header, never accepted as a credential', async () => {
    const tally = new CaseTally('identity: a JWS signed by another key');
    const sub = await baselineSubject();
    const { privateKey } = generateKeyPairSync('ed25519');
    const ours = ((await (await fetch(`${gate.adminUrl}/.well-known/jwks.json`)).json()) as JSONWebKeySet).keys[0]!;
    const claims = { sub: 'admin@example.com', kind: 'admin', scheme: 'basic' };
    const now = Math.floor(Date.now() / 1000);
    const sign = (kid: string | undefined) => new SignJWT(claims).setProtectedHeader({ alg: 'EdDSA', ...(kid !== undefined ? { kid } : {}) })
      .setIssuer('trackgate-test').setAudience('upstream-test').setIssuedAt(now).setExpirationTime(now + 60).sign(privateKey);
    const forgeries = [
      await sign(ours.kid), await sign(undefined), await sign('other-key'),
      // alg=none, and a structurally valid token with a garbage signature under our kid.
      `${Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url')}.${Buffer.from(JSON.stringify({ ...claims, iss: 'trackgate-test', aud: 'upstream-test', exp: now + 60 })).toString('base64url')}.`,
      `${(await sign(ours.kid)).split('.').slice(0, 2).join('.')}.${Buffer.alloc(64, 1).toString('base64url')}`,
    ];
    let n = 0;
    for (const forged of forgeries) {
      // As the identity header, from a user, on a public path, and from nobody.
      for (const [target, auth] of [['authed', `Authorization: ${AUTH}\r\n`], ['public', ''], ['anonymous', '']] as const) {
        const path = `${target === 'public' ? '/pub' : ''}/jws/${n++}`;
        const r = await rawRequest(portOf(gate.url), get(path, auth, `X-Identity-Assertion: ${forged}\r\n`));
        const status = r.responses[0]?.status ?? 0;
        let why: string | undefined;
        if (target === 'anonymous') why = status === 401 && !gate.up.received.some((x) => x.url === path) ? undefined : `anonymous request with a forged header got ${status}`;
        else why = status !== 200 ? `status ${status}` : await checkForwarded(path, target, forged, sub);
        tally.count(why === undefined ? undefined : `${target} forged header: ${why}`);
      }
      // As a credential: Bearer, Authentication: Bearer, OAuth.
      for (const header of [`Authorization: Bearer ${forged}`, `Authentication: Bearer ${forged}`]) {
        const path = `/jws/${n++}`;
        const r = await rawRequest(portOf(gate.url), get(path, '', `${header}\r\n`));
        const status = r.responses[0]?.status ?? 0;
        const ok = (status === 401 || status === 400) && !gate.up.received.some((x) => x.url === path);
        tally.count(ok ? undefined : `${header.split(' ')[0]} forged JWS got ${status}`);
      }
    }
    const shown = tally.record(`${forgeries.length} forgeries (another key, our kid, no kid, alg none, bad signature) × 5 carriers`);
    expect({ failures: tally.failures.length, first: shown }).toEqual({ failures: 0, first: [] });
  });

  it('never answered 5xx nor logged an internal error', () => {
    const records = gate.logRecords();
    expect(records.filter((l) => l.err === 'TG_ERR_INTERNAL' || l.level === 'error' || l.level === 'fatal' || (typeof l.status === 'number' && l.status >= 500))).toEqual([]);
  });
});
