/** config/trackgate.schema.json is what `trackgate config-schema` renders; its property tree is the zod schema's keys. */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { renderConfigSchema } from '../../src/commands/config-schema.js';
import { envKeys } from '../../src/config/env.js';
import { configSchema } from '../../src/config-schema.js';

interface Node { properties?: Record<string, Node>; description?: string }
const leaves = (n: Node, path: string[] = []): string[] => Object.entries(n.properties ?? {})
  .flatMap(([k, c]) => (c.properties !== undefined ? leaves(c, [...path, k]) : [[...path, k].join('.')]));

describe('config/trackgate.schema.json', () => {
  const rendered = renderConfigSchema();
  it('is what `trackgate config-schema` renders (regenerate with `node bin/trackgate.js config-schema > config/trackgate.schema.json`)', () => {
    expect(readFileSync(new URL('../../config/trackgate.schema.json', import.meta.url), 'utf8') === rendered).toBe(true);
  });
  it('has a described property for every config key, and the sample config names it and parses', () => {
    const schema = JSON.parse(rendered) as Node;
    const keys = new Set(envKeys(configSchema).map((k) => k.path.join('.')));
    expect(new Set(leaves(schema).filter((p) => keys.has(p)))).toEqual(keys);
    const sample = readFileSync(new URL('../../config/trackgate.yaml', import.meta.url), 'utf8');
    expect(sample.split('\n')[0]).toBe('# yaml-language-server: $schema=./trackgate.schema.json');
    expect(configSchema.safeParse(parse(sample)).success).toBe(true);
  });
});
