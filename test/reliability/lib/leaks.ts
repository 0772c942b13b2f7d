/**
 * Finding secrets where they must never be: log lines, upstream URLs and headers. Matching ignores case,
 * because a parser that lower-cases what it echoes (a header name, a parameter name) leaks a base64 secret
 * just the same.
 */

/** The secrets (at least `minLength` characters, shorter ones match by chance) that occur in any of `texts`. */
export function leakedSecrets(texts: readonly string[], secrets: Iterable<string>, minLength = 8): string[] {
  const haystack = texts.join('\n').toLowerCase();
  const out: string[] = [];
  for (const s of secrets) if (s.length >= minLength && haystack.includes(s.toLowerCase())) out.push(s);
  return out;
}
