import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { accessLineWriter } from '../../src/observability/access-line.js';
import { redactQuery } from '../../src/observability/log.js';

function capture() {
  const lines: string[] = [];
  return { lines, destination: { write: (s: string) => { lines.push(s); } } };
}

const NOW = Date.UTC(2026, 10, 23, 12, 0, 0, 123);

describe('access line writer', () => {
  it('writes the line pino would write for the same fields (escaping, omitted undefined, non-finite numbers)', () => {
    const base = { service: 'trackgate', pid: 42 };
    const fields = {
      method: 'GET', path: '/a?x="q"&_token=secret', status: 200, ms: 1.25, scheme: 'basic', rid: undefined, ip: '127.0.0.1',
      sub: 'j.\u00fcser "quoted" \\ back\nslash\u0001', kind: 'user', cache: 'hit', fp: 'abc', detail: '\u2028 separator',
    };
    const ours = capture();
    accessLineWriter({ destination: ours.destination, base, censorPath: redactQuery, now: () => NOW })('info', fields, 'request "ok"');
    const theirs = capture();
    pino({
      level: 'info', base, serializers: { path: (v: string) => redactQuery(v) }, timestamp: () => `,"time":"${new Date(NOW).toISOString()}"`,
      formatters: { level: (label: string) => ({ level: label }) },
    }, theirs.destination).info(fields, 'request "ok"');
    expect(ours.lines).toHaveLength(1);
    expect(ours.lines[0]!.endsWith('}\n')).toBe(true);
    const a = JSON.parse(ours.lines[0]!) as Record<string, unknown>;
    expect(a).toEqual(JSON.parse(theirs.lines[0]!));
    expect(a.path).toBe('/a?x="q"&_token=[redacted]');
    expect(a.time).toBe('2026-11-23T12:00:00.123Z');
    expect('rid' in a).toBe(false);
    const nan = capture();
    accessLineWriter({ destination: nan.destination, base: {}, censorPath: (p) => p })('warn', { ms: Number.NaN }, 'm');
    expect(JSON.parse(nan.lines[0]!)).toEqual({ level: 'warn', time: expect.any(String), ms: null, msg: 'm' });
  });
});

describe('redactQuery', () => {
  it('censors secret parameters however they are spelled, and leaves other queries as they are', () => {
    expect(redactQuery('/p?device=x&page=2')).toBe('/p?device=x&page=2');
    expect(redactQuery('/p?tokenizer=1&my_token=2')).toBe('/p?tokenizer=1&my_token=2');
    expect(redactQuery('/p?Token=abc&b=1')).toBe('/p?Token=[redacted]&b=1');
    expect(redactQuery('/p?a=1&%5Ftoken=abc')).toBe('/p?a=1&%5Ftoken=[redacted]');
    expect(redactQuery('/p?key=k&api_key=z')).toBe('/p?key=[redacted]&api_key=[redacted]');
    expect(redactQuery('/p?x=%zz&password=p')).toBe('/p?x=%zz&password=[redacted]');
  });
});
