#!/usr/bin/env node
// Writes what k8s/components/monitoring carries from monitoring/, so each has one source: the PrometheusRule from
// the rule file, and the dashboard kustomize's configMapGenerator reads (kustomize reads no file outside the
// component's folder, symlinks included, so it gets a copy). Run `node monitoring/render-k8s.mjs` after editing
// either; test/monitoring checks the outputs match.
//   --runbook-base URL   where the runbooks are published (default: RUNBOOK_BASE below); each alert's runbook_url
//                        becomes URL#<its anchor>, in the PrometheusRule only (the rule file keeps the default).
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parse, stringify } from 'yaml';

export const RULES = new URL('./trackgate-rules.yaml', import.meta.url);
export const DASHBOARD = new URL('./trackgate-dashboard.json', import.meta.url);
export const PROMETHEUS_RULE = new URL('../k8s/components/monitoring/prometheusrule.yaml', import.meta.url);
export const DASHBOARD_COPY = new URL('../k8s/components/monitoring/trackgate-dashboard.json', import.meta.url);
/** The runbooks' page as the rule file links it: docs/operations.md on the project's main branch. */
export const RUNBOOK_BASE = 'https://github.com/trackgate/trackgate/blob/main/docs/operations.md';

/** The PrometheusRule (Prometheus Operator) carrying the rule file's groups, runbook links moved to `runbookBase`. */
export function renderPrometheusRule(rulesYaml, runbookBase = RUNBOOK_BASE) {
  const { groups } = parse(rulesYaml);
  for (const rule of groups.flatMap((g) => g.rules)) {
    const url = rule.annotations?.runbook_url;
    if (url !== undefined) rule.annotations.runbook_url = `${runbookBase}${url.slice(url.indexOf('#'))}`;
  }
  const resource = {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PrometheusRule',
    metadata: { name: 'trackgate', labels: { 'app.kubernetes.io/name': 'trackgate', 'app.kubernetes.io/component': 'alerts' } },
    spec: { groups },
  };
  return `# Generated from monitoring/trackgate-rules.yaml by monitoring/render-k8s.mjs; edit the rule file.\n${stringify(resource, { lineWidth: 0 })}`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { 'runbook-base': { type: 'string', default: RUNBOOK_BASE } } });
  writeFileSync(PROMETHEUS_RULE, renderPrometheusRule(readFileSync(RULES, 'utf8'), values['runbook-base']));
  writeFileSync(DASHBOARD_COPY, readFileSync(DASHBOARD));
}
