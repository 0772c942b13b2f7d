/**
 * docs/metrics.md is generated from the registries (`npm run docs:metrics`); this fails when it drifts from
 * what /metrics exposes, and checks that the reference lists every metric a running trackgate exposes.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { renderMetricsReference } from '../../src/cluster/metrics-reference.js';
import { Metrics } from '../../src/observability/metrics.js';

const DOC = new URL('../../docs/metrics.md', import.meta.url);

describe('docs/metrics.md', () => {
  it('is what the registries render (run `npm run docs:metrics` after adding or changing a metric)', async () => {
    if (readFileSync(DOC, 'utf8') !== await renderMetricsReference()) {
      expect.fail('docs/metrics.md is out of date with the metrics registries: run `npm run docs:metrics` and commit the result');
    }
  });

  it('has a row with the type and labels of every metric of a process', async () => {
    const doc = readFileSync(DOC, 'utf8');
    const m = new Metrics();
    const types = new Map((await m.registry.getMetricsAsJSON()).map((j) => [j.name, String(j.type)]));
    expect(types.size).toBeGreaterThan(50);
    for (const [name, type] of types) expect(doc, name).toMatch(new RegExp(`^\\| \`${name}\` \\| ${type} \\|`, 'm'));
    expect(doc).toMatch(/^\| `trackgate_store_duration_seconds` \| histogram \| `op` \|/m);
  });
});
