/**
 * docs/config.md is generated from the schema (`npm run docs:config`); this fails when the two drift apart,
 * and checks that the reference covers every key and every env variable.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { renderConfigDocs } from '../../src/config/docs.js';
import { configSchema } from '../../src/config-schema.js';
import { envKeys } from '../../src/config/env.js';

const DOC = new URL('../../docs/config.md', import.meta.url);

describe('docs/config.md', () => {
  const rendered = renderConfigDocs(configSchema);

  it('is what the schema renders (run `npm run docs:config` after changing src/config/schema.ts or a form\'s options)', () => {
    const committed = readFileSync(DOC, 'utf8');
    if (committed !== rendered) {
      expect.fail('docs/config.md is out of date with src/config/schema.ts: run `npm run docs:config` and commit the result');
    }
  });

  it('documents every config key with its env variable', () => {
    for (const k of envKeys(configSchema)) {
      const row = rendered.split('\n').find((l) => l.startsWith(`| \`${k.path.join('.')}\` |`));
      expect(row, k.path.join('.')).toBeDefined();
      expect(row).toContain(`\`${k.name}\``);
    }
  });

  it('is deterministic and has one table per section', () => {
    expect(renderConfigDocs(configSchema)).toBe(rendered);
    for (const section of ['Top-level keys', '`admin`', '`upstream`', '`store`', '`identity`', '`cache`', '`authn`', '`limits`', '`proxy`', '`logging`', '`shutdown`', '`routes[]` items']) {
      expect(rendered).toContain(`## ${section}\n`);
    }
    expect(rendered).toMatch(/\| `cache\.maxEntries` \| integer ≥ 1 \| `100000` \| `TRACKGATE_CACHE_MAX_ENTRIES` \| Maximum validated credentials kept\. \|/);
    expect(rendered).toMatch(/\| `routes\[\]\.path` \| string \| required \|/);
  });
});
