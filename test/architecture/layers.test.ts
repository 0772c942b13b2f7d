/**
 * The import graph of src/ keeps the layers of docs/ARCHITECTURE.md ("Layers"): every import, static or
 * dynamic, value or type, points to the same layer or one below it; no two files import each other through
 * any chain; HTTP and database clients appear only in the layers that own them.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const SRC = resolve(import.meta.dirname, '../../src');

/**
 * Bottom to top; a layer may import its own files and any layer of a lower level, never a sibling on its
 * own level. A folder of src/ names its layer; a file directly in src/ is the composition root, except errors.ts.
 */
const LEVELS: readonly (readonly string[])[] = [
  ['errors', 'config'],
  ['observability'],
  ['store'],
  ['accounts', 'identity'],
  ['verify', 'inventory'],
  ['authn'],
  ['issue'],
  ['proxy'],
  ['admin'],
  ['root'],
];
/** Folders that are part of the composition root: they build apps and servers. */
const ROOT_FOLDERS = ['cluster', 'demo', 'commands', 'app'];

/** Packages that speak HTTP (serving or calling), and the layers allowed to import them. */
const HTTP_MODULES = ['node:http', 'node:https', 'node:http2', 'node:net', 'node:tls', 'undici', 'ws'];
const HTTP_LAYERS = ['proxy', 'admin', 'root'];
/** The verifiers that call a verification source (JWKS, RFC 7662 introspection, remote check) over undici. */
const OUTBOUND_SOURCES = new Set(['verify/external-jwt.ts', 'verify/introspection.ts', 'verify/remote-check.ts']);
/** Database clients: only the store layer holds a connection. */
const STORE_MODULES = ['ioredis', 'node:sqlite'];

function layerOf(file: string): string {
  const slash = file.indexOf('/');
  if (slash < 0) return file === 'errors.ts' ? 'errors' : 'root';
  const folder = file.slice(0, slash);
  return ROOT_FOLDERS.includes(folder) ? 'root' : folder;
}

const LEVEL = new Map(LEVELS.flatMap((names, level) => names.map((n) => [n, level] as const)));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(path);
    return e.name.endsWith('.ts') ? [relative(SRC, path)] : [];
  });
}

interface Arrow { readonly from: string; readonly to: string }

/** Every import of every file: `import`, `export … from`, `import type`, `import('…')` and `typeof import('…')`. */
function arrows(): Arrow[] {
  return sourceFiles(SRC).flatMap((from) => {
    const text = readFileSync(join(SRC, from), 'utf8');
    return ts.preProcessFile(text, true, true).importedFiles.map(({ fileName }) => ({
      from,
      to: fileName.startsWith('.') ? relative(SRC, resolve(SRC, dirname(from), fileName)).replace(/\.js$/, '.ts') : fileName,
    }));
  });
}

const ALL = arrows();
const OURS = ALL.filter((a) => a.to.endsWith('.ts'));
const named = (a: Arrow): string => `${a.from} -> ${a.to}`;

/** One cycle through each strongly connected set of files, as `a -> b -> … -> a`. */
function cycles(edges: readonly Arrow[]): string[] {
  const next = new Map<string, string[]>();
  for (const e of edges) next.set(e.from, [...(next.get(e.from) ?? []), e.to]);
  const found: string[] = [];
  const done = new Set<string>();
  const onPath: string[] = [];
  const visit = (file: string): void => {
    const at = onPath.indexOf(file);
    if (at >= 0) { found.push([...onPath.slice(at), file].join(' -> ')); return; }
    if (done.has(file)) return;
    onPath.push(file);
    for (const to of next.get(file) ?? []) visit(to);
    onPath.pop();
    done.add(file);
  };
  for (const file of [...next.keys()].sort()) visit(file);
  return found;
}

describe('the layers of src/', () => {
  it('place every file in a layer', () => {
    const unplaced = sourceFiles(SRC).filter((f) => !LEVEL.has(layerOf(f)));
    expect(unplaced, 'files of a folder that is no layer: add the folder to LEVELS (and to docs/ARCHITECTURE.md)').toEqual([]);
  });

  it('import only their own layer and the layers below', () => {
    const upward = OURS.filter((a) => {
      const [from, to] = [layerOf(a.from), layerOf(a.to)];
      return from !== to && !(LEVEL.get(to)! < LEVEL.get(from)!);
    });
    expect(upward.map((a) => `${named(a)} (${layerOf(a.from)} may not import ${layerOf(a.to)})`)).toEqual([]);
  });

  it('have no file cycles', () => {
    expect(cycles(OURS)).toEqual([]);
  });

  it('speak HTTP only in proxy, admin and the composition root', () => {
    const misplaced = ALL.filter((a) => HTTP_MODULES.includes(a.to) && !HTTP_LAYERS.includes(layerOf(a.from))
      && !(OUTBOUND_SOURCES.has(a.from) && a.to === 'undici'));
    expect(misplaced.map(named)).toEqual([]);
  });

  it('open databases only in store', () => {
    const misplaced = ALL.filter((a) => STORE_MODULES.includes(a.to) && layerOf(a.from) !== 'store');
    expect(misplaced.map(named)).toEqual([]);
  });

  it('finds an upward arrow and a cycle when there is one', () => {
    expect(cycles([{ from: 'a.ts', to: 'b.ts' }, { from: 'b.ts', to: 'c.ts' }, { from: 'c.ts', to: 'a.ts' }])).toEqual(['a.ts -> b.ts -> c.ts -> a.ts']);
    expect(ALL.some((a) => a.from === 'authn/pipeline.ts' && a.to.startsWith('verify/')), 'the parser sees relative imports').toBe(true);
    expect(ALL.some((a) => a.to === 'zod'), 'the parser sees package imports').toBe(true);
  });
});
