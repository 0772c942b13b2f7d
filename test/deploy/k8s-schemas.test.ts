/**
 * Every variant of k8s/ builds with the real `kubectl kustomize`, and every object it renders is valid for the
 * Kubernetes versions the manifests claim (1.29, the first with native sidecars, and a recent one), with unknown
 * fields refused: what `kubectl apply` (strict field validation) would say, without a cluster.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { byKind, kustomize, variants, type K8sObject } from './k8s-build.js';
import { KUBERNETES_VERSIONS, validator } from './k8s-validate.js';

const { list, cleanup } = variants();
afterAll(cleanup);
const rendered = new Map(list.map((v) => [v.name, kustomize(v.dir)]));

describe.each(KUBERNETES_VERSIONS)('k8s/ against the Kubernetes %s schemas', (version) => {
  const check = validator(version);
  it.each(list.map((v) => v.name))('%s: every object is valid, unknown fields included', (name) => {
    const objects = rendered.get(name)!;
    expect(objects.length).toBeGreaterThan(4);
    expect(objects.flatMap((o) => check.problems(o))).toEqual([]);
  });
});

describe('the schema check itself', () => {
  const check = validator(KUBERNETES_VERSIONS[0]);
  const single = () => structuredClone(rendered.get('single')!) as K8sObject[];

  it('refuses a misspelt field deep in the pod template', () => {
    const objects = single();
    const sidecar = byKind(objects, 'Deployment').spec.template.spec.initContainers[0];
    sidecar.readinesProbe = sidecar.readinessProbe;
    delete sidecar.readinessProbe;
    expect(check.problems(byKind(objects, 'Deployment'))).toEqual([
      'Deployment/gps-data-service: /spec/template/spec/initContainers/0: must NOT have additional properties (readinesProbe)',
    ]);
  });

  it('refuses a misspelt top-level field, a wrong type and a memory quantity Kubernetes cannot parse', () => {
    const objects = single();
    const deployment = byKind(objects, 'Deployment');
    deployment.spec.replica = 1;
    deployment.spec.template.spec.terminationGracePeriodSeconds = '45s';
    deployment.spec.template.spec.initContainers[0].resources.limits.memory = '384MB';
    const problems = check.problems(deployment);
    expect(problems).toContain('Deployment/gps-data-service: /spec: must NOT have additional properties (replica)');
    expect(problems).toContain('Deployment/gps-data-service: /spec/template/spec/terminationGracePeriodSeconds: must be integer');
    expect(problems.some((p) => p.includes('/resources/limits/memory: must match pattern'))).toBe(true);
  });

  it('refuses a kind the pinned version does not have, and checks custom resources against their CRD', () => {
    const pdb = { ...byKind(single(), 'PodDisruptionBudget'), apiVersion: 'policy/v1beta1' };
    expect(check.problems(pdb)).toEqual([expect.stringContaining('no schema for policy/v1beta1/PodDisruptionBudget')]);
    const monitor = {
      apiVersion: 'monitoring.coreos.com/v1', kind: 'ServiceMonitor', metadata: { name: 'trackgate', lables: {} },
      spec: { selector: { matchLabels: { 'app.kubernetes.io/name': 'trackgate' } }, endpoints: [{ port: 'metrics', intervall: '15s' }] },
    };
    expect(check.problems(monitor).sort()).toEqual([
      'ServiceMonitor/trackgate: /metadata/: must NOT have additional properties (lables)',
      'ServiceMonitor/trackgate: /spec/endpoints/0: must NOT have additional properties (intervall)',
    ]);
  });
});
