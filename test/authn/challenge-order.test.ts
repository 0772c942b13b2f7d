/** The order of a 401's challenges (src/authn/challenge-order.ts): first Digest leads, the other Digest ones close. */
import { describe, expect, it } from 'vitest';
import { orderChallenges } from '../../src/authn/challenge-order.js';

const d = (alg: string) => `Digest realm="r", qop="auth", algorithm=${alg}, nonce="n"`;
const B = 'Basic realm="r"';
const REST = ['X-Token', 'OAuth realm="g"', 'Bearer realm="r"'];

describe('orderChallenges', () => {
  it('the first Digest challenge leads, the others close the list, the rest keep their order between', () => {
    expect(orderChallenges([B, d('MD5'), d('SHA-256'), ...REST])).toEqual([d('MD5'), B, ...REST, d('SHA-256')]);
  });

  it('without Digest, or with Digest only, nothing moves', () => {
    expect(orderChallenges([B, ...REST])).toEqual([B, ...REST]);
    expect(orderChallenges([d('SHA-256'), d('MD5')])).toEqual([d('SHA-256'), d('MD5')]);
  });

  it('a single Digest challenge leads', () => {
    expect(orderChallenges([B, d('SHA-256'), ...REST])).toEqual([d('SHA-256'), B, ...REST]);
  });

  it('the last one is one python-requests can compute (MD5, MD5-sess, SHA-256) when another is offered', () => {
    expect(orderChallenges([B, d('MD5'), d('SHA-256'), d('SHA-512-256')])).toEqual([d('MD5'), B, d('SHA-512-256'), d('SHA-256')]);
    expect(orderChallenges([d('SHA-256'), d('MD5'), d('SHA-256-sess')])).toEqual([d('SHA-256'), d('SHA-256-sess'), d('MD5')]);
    // None of the others is: left as configured.
    expect(orderChallenges([d('MD5'), B, d('SHA-512-256')])).toEqual([d('MD5'), B, d('SHA-512-256')]);
  });

  it('a challenge without algorithm= is MD5 (RFC 7616 §3.3)', () => {
    const plain = 'Digest realm="r", nonce="n"';
    expect(orderChallenges([d('MD5'), plain, d('SHA-512-256')])).toEqual([d('MD5'), d('SHA-512-256'), plain]);
  });
});
