/**
 * Finding a repeated key in a JSON text. `JSON.parse` silently keeps the last of two equal keys, while other
 * parsers keep the first: a token-endpoint body with both would mean different things to trackgate and to
 * whatever else reads it, so it is refused instead (RFC 6749 §3.1: parameters MUST NOT be included more than once).
 */

/**
 * The first key that appears twice in one object of `text` (at any depth; keys compared after unescaping,
 * so `"a"` and `"\u0061"` are equal), or undefined. `text` must already be valid JSON.
 */
export function firstDuplicateKey(text: string): string | undefined {
  // One entry per open container: the keys seen so far for an object, null for an array.
  const open: (Set<string> | null)[] = [];
  let atKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      let end = i + 1;
      for (let d = text.charCodeAt(end); d !== 0x22; d = text.charCodeAt(end)) end += d === 0x5c /* \ */ ? 2 : 1;
      const keys = open[open.length - 1];
      if (atKey && keys) {
        const raw = text.slice(i, end + 1);
        const key = raw.includes('\\') ? (JSON.parse(raw) as string) : raw.slice(1, -1);
        if (keys.has(key)) return key;
        keys.add(key);
        atKey = false;
      }
      i = end;
    } else if (c === 0x7b /* { */) {
      open.push(new Set());
      atKey = true;
    } else if (c === 0x5b /* [ */) {
      open.push(null);
      atKey = false;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      open.pop();
      atKey = false;
    } else if (c === 0x2c /* , */) {
      atKey = open[open.length - 1] != null;
    }
  }
  return undefined;
}
