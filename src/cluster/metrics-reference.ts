/**
 * The metrics reference (docs/metrics.md): trackgate's own metrics, Node's process metrics and the cluster
 * primary's, each read from a registry built the way a running process builds it.
 */
import client from 'prom-client';
import { Metrics } from '../observability/metrics.js';
import { renderMetricsDocs } from '../observability/metrics-docs.js';
import { PrimaryMetrics } from './metrics.js';

export async function renderMetricsReference(): Promise<string> {
  const own = new Metrics({ defaultMetrics: false });
  const ownNames = new Set(own.registry.getMetricsAsArray().map((m) => (m as { name: string }).name));
  const processMetrics = new client.Registry();
  client.collectDefaultMetrics({ register: processMetrics });
  const primary = new PrimaryMetrics(() => [], { processMetrics: false });
  return renderMetricsDocs([
    {
      title: 'trackgate',
      intro: 'Every process serving the proxy port (a single process, or each worker: the primary sums them, see below).',
      registry: own.registry,
    },
    {
      title: 'Node.js process',
      intro: 'prom-client\'s default metrics under their standard names (no prefix), as stock Node.js dashboards expect. With `workers` > 1 the primary adds its own process to the workers\' (sums for memory and CPU; prom-client\'s rule for each other one). The list is Linux\'s.',
      registry: processMetrics,
    },
    {
      title: 'Cluster primary (`workers` > 1)',
      intro: 'Added by the primary to the sum of its workers\' metrics.',
      registry: primary.registry,
      except: ownNames,
    },
  ]);
}
