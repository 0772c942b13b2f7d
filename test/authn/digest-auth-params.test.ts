/** The RFC 9110 §11.2 auth-param parser used by Digest: valid lists, escapes, and bad input. */
import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { TrackgateError } from '../../src/errors.js';
import { MAX_AUTH_PARAMS, parseAuthParams, parseStrict, quoteString } from '../../src/authn/auth-params.js';

const obj = (s: string) => Object.fromEntries(parseAuthParams(s));

function malformed(s: string): string {
  try {
    parseAuthParams(s);
  } catch (err) {
    expect(err).toBeInstanceOf(TrackgateError);
    const e = err as TrackgateError;
    expect(e.code).toBe('TG_ERR_MALFORMED_CREDENTIALS');
    expect(e.reason).toBe('malformed');
    expect(e.status).toBe(400);
    return e.detail ?? '';
  }
  throw new Error(`expected ${JSON.stringify(s)} to be malformed`);
}

describe('parseAuthParams', () => {
  it('reads tokens and quoted strings, lower-cases names, keeps value case', () => {
    expect(obj('Realm="Home Base", qop=auth, NC=0000000A, algorithm=SHA-256')).toEqual({
      realm: 'Home Base', qop: 'auth', nc: '0000000A', algorithm: 'SHA-256',
    });
  });

  it('unescapes quoted-pairs (\\" and \\\\) and keeps commas and = inside quotes', () => {
    expect(obj('username="a\\"b\\\\c", uri="/x?a=1,b=2", cnonce="\\q"')).toEqual({ username: 'a"b\\c', uri: '/x?a=1,b=2', cnonce: 'q' });
    expect(obj('x=""')).toEqual({ x: '' });
  });

  it('accepts OWS around "=" and ",", tabs, empty list elements and a trailing comma', () => {
    expect(obj(' ,a = 1 ,\t, b\t=\t"2" ,, c=3, ')).toEqual({ a: '1', b: '2', c: '3' });
    expect(obj('')).toEqual({});
    expect(obj(' , ,')).toEqual({});
  });

  it('keeps obs-text (latin1 octets) in quoted strings', () => {
    expect(obj('username="J\u00c3\u00a4"')).toEqual({ username: 'J\u00c3\u00a4' });
  });

  it.each([
    ['token68', 'dXNlcjpwYXNz'],
    ['token68 with padding', 'dXNlcjpwYXNzMQ=='],
    ['missing value', 'a='],
    ['missing value before comma', 'a=, b=1'],
    ['missing "="', 'a 1'],
    ['no comma between params', 'a=1 b=2'],
    ['unterminated quote', 'a="abc'],
    ['unterminated after escape', 'a="abc\\'],
    ['quote inside a token value', 'a=ab"c"'],
    ['repeated name', 'a=1, A=2'],
    ['bad name', '"a"=1'],
    ['control char in quotes', 'a="x\u0001y"'],
    ['newline in quotes', 'a="x\ny"'],
    ['DEL in quotes', 'a="x\u007fy"'],
    ['escaped control char', 'a="x\\\u0000"'],
    ['char above latin1', 'a="\u20ac"'],
    ['separator as value', 'a=;'],
    ['leading "="', '=1'],
  ])('rejects %s', (_name, input) => {
    expect(malformed(input)).toMatch(/auth-params/);
  });

  it(`caps the number of parameters at ${MAX_AUTH_PARAMS}`, () => {
    const ok = Array.from({ length: MAX_AUTH_PARAMS }, (_, i) => `p${i}=1`).join(', ');
    expect(parseAuthParams(ok).size).toBe(MAX_AUTH_PARAMS);
    expect(malformed(`${ok}, extra=1`)).toMatch(/too many/);
  });

  it('never throws anything but a malformed-credentials error on random input', () => {
    const alphabet = ['a', 'Z', '0', '=', ',', ' ', '\t', '"', '\\', '\u0000', '\u00ff', '\u0100', '*', "'", '%', ';', '\n'];
    for (let n = 0; n < 3000; n++) {
      const bytes = randomBytes(1 + (n % 40));
      const s = [...bytes].map((b) => alphabet[b % alphabet.length]).join('');
      try {
        const m = parseAuthParams(s);
        for (const [k, v] of m) {
          expect(k).toBe(k.toLowerCase());
          expect(typeof v).toBe('string');
        }
      } catch (err) {
        expect(err).toBeInstanceOf(TrackgateError);
        expect((err as TrackgateError).code).toBe('TG_ERR_MALFORMED_CREDENTIALS');
      }
    }
  });

  it('round-trips what quoteString produces', () => {
    for (const v of ['plain', 'with "quotes"', 'back\\slash', 'a, b=c', '']) {
      expect(parseAuthParams(`x=${quoteString(v)}`).get('x')).toBe(v);
    }
  });
});

describe('parseAuthParams fast path', () => {
  /** The verdict of a parser: its map as entries, or the error detail. */
  const verdict = (parse: (s: string) => Map<string, string>, s: string): unknown => {
    try {
      return [...parse(s)];
    } catch (err) {
      return { error: (err as TrackgateError).detail };
    }
  };

  it('answers exactly as the strict parser for real headers and tens of thousands of mutations of them', () => {
    const seeds = [
      'username="Mufasa", realm="http-auth@example.org", uri="/dir/index.html", algorithm=MD5, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", nc=00000001, cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", qop=auth, response="8ca523f5e9506fed4657c9700eebdbec", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"',
      'username="a\\"b", realm="r", qop=auth',
      'a=b,,c="d" ,  e = "f"',
      'x="1", x="2"',
      '',
    ];
    // Characters that matter to the grammar, plus controls, DEL, obs-text and a non-latin1 character.
    const specials = ['"', '\\', ',', '=', ' ', '\t', '\r', '\n', '\u0000', '\u007f', '\u00e9', '\u20ac', 'a', '"x"', '=,'];
    let n = 0;
    for (const seed of seeds) {
      expect(verdict(parseAuthParams, seed)).toEqual(verdict(parseStrict, seed));
      for (let k = 0; k < 8000; k++) {
        const bytes = randomBytes(4);
        const at = bytes.readUInt16BE(0) % (seed.length + 1);
        const special = specials[bytes[2]! % specials.length]!;
        // Insert, replace or delete at a random position.
        const op = bytes[3]! % 3;
        const s = op === 0 ? seed.slice(0, at) + special + seed.slice(at)
          : op === 1 ? seed.slice(0, at) + special + seed.slice(at + 1)
            : seed.slice(0, at) + seed.slice(at + 1);
        expect(verdict(parseAuthParams, s), s).toEqual(verdict(parseStrict, s));
        n++;
      }
    }
    expect(n).toBe(seeds.length * 8000);
  });
});
