/**
 * The order of a 401's challenges (one `WWW-Authenticate` line each), chosen so that the Digest clients people
 * use all answer Digest (measured: docs/configuration.md "Digest and common clients"). httpie and digest-fetch
 * read only the first line, wget 1.21 only the last, python-requests merges every line and computes with the
 * last `algorithm=` it sees. So the first Digest challenge leads, the other Digest challenges close the list
 * in their configured order, and every other form's challenge keeps its place in between. RFC 7616 §3.7 asks
 * for the challenges in order of preference: the Digest ones still are, among themselves.
 */

const DIGEST_RE = /^digest\s/i;
const ALGORITHM_RE = /(?:^|[\s,])algorithm=("?)([^",\s]+)\1/i;
/** What python-requests computes: it fails on any other last `algorithm=` (SHA-256-sess, SHA-512-256). */
const REQUESTS_ALGORITHMS: ReadonlySet<string> = new Set(['md5', 'md5-sess', 'sha-256']);

export function orderChallenges(challenges: string[]): string[] {
  const digest = challenges.filter((c) => DIGEST_RE.test(c));
  if (digest.length === 0) return challenges;
  const others = challenges.filter((c) => !DIGEST_RE.test(c));
  const [first, ...rest] = digest as [string, ...string[]];
  // The last line is the one python-requests computes with: one it can, if any of the others is.
  let i = rest.length - 1;
  while (i >= 0 && !REQUESTS_ALGORITHMS.has((ALGORITHM_RE.exec(rest[i]!)?.[2] ?? 'md5').toLowerCase())) i--;
  if (i >= 0 && i < rest.length - 1) rest.push(...rest.splice(i, 1));
  return [first, ...others, ...rest];
}
