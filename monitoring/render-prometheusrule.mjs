#!/usr/bin/env node
// Writes k8s/components/monitoring/prometheusrule.yaml from monitoring/trackgate-rules.yaml, so the alerts have
// one source: `node monitoring/render-prometheusrule.mjs` after editing the rule file (test/monitoring checks it).
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';

export const RULES = new URL('./trackgate-rules.yaml', import.meta.url);
export const PROMETHEUS_RULE = new URL('../k8s/components/monitoring/prometheusrule.yaml', import.meta.url);

/** The PrometheusRule (Prometheus Operator) carrying the rule file's groups unchanged. */
export function renderPrometheusRule(rulesYaml) {
  const { groups } = parse(rulesYaml);
  const rule = {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PrometheusRule',
    metadata: { name: 'trackgate', labels: { 'app.kubernetes.io/name': 'trackgate', 'app.kubernetes.io/component': 'alerts' } },
    spec: { groups },
  };
  return `# Generated from monitoring/trackgate-rules.yaml by monitoring/render-prometheusrule.mjs; edit the rule file.\n${stringify(rule, { lineWidth: 0 })}`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(PROMETHEUS_RULE, renderPrometheusRule(readFileSync(RULES, 'utf8')));
}
