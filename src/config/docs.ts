/**
 * The config reference (`docs/config.md`), rendered from the schema itself so the two cannot drift:
 * `trackgate config-docs` prints it, `npm run docs:config` writes it, and a test compares the file with
 * {@link renderConfigDocs}.
 */
import { z } from 'zod';
import { envKeys } from './env.js';

interface Node {
  type?: string | string[];
  properties?: Record<string, Node>;
  items?: Node;
  anyOf?: Node[];
  enum?: unknown[];
  const?: unknown;
  default?: unknown;
  description?: string;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  pattern?: string;
  required?: string[];
}

interface Row { path: string; node: Node; required: boolean }

const HEADER = `# Configuration reference

<!-- Generated from src/config/schema.ts by \`npm run docs:config\`; do not edit by hand (a test fails when
     this file and the schema drift apart). -->

trackgate reads one YAML file (\`trackgate --config FILE\`). Every key is optional and has the default shown.
Unknown keys are errors. Any key can be overridden from the environment: \`TRACKGATE_\` + the key path in
UPPER_SNAKE_CASE, levels joined by \`_\` (\`cache.maxEntries\` → \`TRACKGATE_CACHE_MAX_ENTRIES\`). Values are YAML
scalars; a list is a comma list (\`TRACKGATE_AUTHN_DIGEST_ALGORITHMS=SHA-256,MD5\`) or YAML/JSON, which lists of
objects need (\`TRACKGATE_ROUTES='[{path: /public, access: public}]'\`); string keys take the value as is. Two short aliases exist: \`TRACKGATE_UPSTREAM\` (= \`upstream.url\`) and \`TRACKGATE_STORE\`
(= \`store.url\`). A \`TRACKGATE_*\` variable that names no key is logged as a warning at start.
`;

/** Renders the Markdown reference of the config schema: one section (and table) per top-level block. */
export function renderConfigDocs(schema: z.ZodType): string {
  const root = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Node;
  const envByPath = new Map<string, string[]>();
  for (const k of envKeys(schema)) {
    const p = k.path.join('.');
    envByPath.set(p, [...(envByPath.get(p) ?? []), k.name]);
  }

  const topLevel: Row[] = [];
  const sections: { title: string; description: string | undefined; rows: Row[] }[] = [];
  for (const [key, node] of Object.entries(root.properties ?? {})) {
    if (isObject(node)) sections.push({ title: key, description: node.description, rows: leaves(node, [key]) });
    else topLevel.push({ path: key, node, required: root.required?.includes(key) ?? false });
  }

  const out: string[] = [HEADER];
  out.push('## Top-level keys\n', table(topLevel, envByPath));
  for (const s of sections) {
    out.push(`## \`${s.title}\`\n`);
    if (s.description) out.push(`${s.description}\n`);
    out.push(table(s.rows, envByPath));
  }
  // Lists of objects (routes): document the keys of one item.
  for (const [key, node] of Object.entries(root.properties ?? {})) {
    const item = node.items;
    if (node.type !== 'array' || item === undefined || !isObject(item)) continue;
    out.push(`## \`${key}[]\` items\n`, `Each entry of \`${key}\` (set the whole list with \`${envByPath.get(key)?.[0] ?? ''}\`).\n`);
    out.push(table(leaves(item, [`${key}[]`]), new Map()));
  }
  return `${out.join('\n').trimEnd()}\n`;
}

function isObject(node: Node): boolean {
  return node.type === 'object' && node.properties !== undefined;
}

function leaves(node: Node, path: string[]): Row[] {
  const rows: Row[] = [];
  for (const [k, child] of Object.entries(node.properties ?? {})) {
    if (isObject(child)) rows.push(...leaves(child, [...path, k]));
    else rows.push({ path: [...path, k].join('.'), node: child, required: node.required?.includes(k) ?? false });
  }
  return rows;
}

function table(rows: Row[], envByPath: ReadonlyMap<string, string[]>): string {
  const lines = ['| key | type | default | env | description |', '|---|---|---|---|---|'];
  for (const { path, node, required } of rows) {
    const env = (envByPath.get(path) ?? []).map((n) => `\`${n}\``).join(', ') || '—';
    const def = node.default !== undefined ? code(JSON.stringify(node.default)) : required ? 'required' : '—';
    lines.push(`| \`${path}\` | ${cell(typeOf(node))} | ${def} | ${env} | ${cell(node.description ?? '')} |`);
  }
  return `${lines.join('\n')}\n`;
}

/** A short human type: `integer ≥ 1`, `"a" \| "b"`, `list of string`, … */
function typeOf(node: Node): string {
  if (node.enum !== undefined) return node.enum.map((v) => JSON.stringify(v)).join(' | ');
  if (node.const !== undefined) return JSON.stringify(node.const);
  if (node.anyOf !== undefined) return node.anyOf.map(typeOf).join(' | ');
  const type = Array.isArray(node.type) ? node.type.join(' | ') : node.type;
  switch (type) {
    case 'integer':
    case 'number': {
      const bounds: string[] = [];
      if (node.minimum !== undefined) bounds.push(`≥ ${node.minimum}`);
      if (node.maximum !== undefined && node.maximum < Number.MAX_SAFE_INTEGER) bounds.push(`≤ ${node.maximum}`);
      return bounds.length ? `${type} ${bounds.join(', ')}` : type;
    }
    case 'array':
      return `list of ${node.items === undefined ? 'any' : isObject(node.items) ? 'objects' : typeOf(node.items)}`;
    case 'object':
      return 'object';
    case undefined:
      return 'any';
    default:
      return type;
  }
}

function code(s: string): string {
  return `\`${s}\``;
}

/** Escapes what would break a table cell (`|`, newlines) or read as HTML (`<` outside code spans). */
function cell(s: string): string {
  return s.split('`').map((part, i) => (i % 2 === 0 ? part.replace(/</g, '\\<') : part)).join('`')
    .replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}
