/**
 * The manifests as `kubectl kustomize` renders them (the real kubectl, installed by .ci/run), for every variant a
 * platform team may apply: each overlay, each with the classic-sidecar fallback, and each with the monitoring
 * component once k8s/components/monitoring exists. The combinations are test-only kustomizations written to a
 * temporary folder, pointing back at k8s/ by relative paths (kustomize refuses absolute ones).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { ROOT } from '../helpers/cli.js';

export type K8sObject = Record<string, any> & { apiVersion: string; kind: string; metadata: { name: string } };

export const K8S = join(ROOT, 'k8s');
export const OVERLAYS = ['single', 'replicas'] as const;
export const hasMonitoring = (): boolean => existsSync(join(K8S, 'components', 'monitoring', 'kustomization.yaml'));

export interface Variant { name: string; dir: string }

/** `kubectl kustomize DIR`, parsed; throws with kubectl's message when it fails. */
export function kustomize(dir: string): K8sObject[] {
  const out = execFileSync('kubectl', ['kustomize', dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
  return parseAllDocuments(out).map((d) => d.toJS() as K8sObject).filter((o) => o !== null);
}

/** A test-only kustomization of `resource` plus `components` (paths under k8s/), in a new folder under `parent`. */
export function composed(parent: string, name: string, resource: string, components: string[]): Variant {
  const dir = join(parent, name);
  mkdirSync(dir, { recursive: true });
  const rel = (p: string) => relative(dir, join(K8S, p));
  writeFileSync(join(dir, 'kustomization.yaml'), stringify({
    apiVersion: 'kustomize.config.k8s.io/v1beta1', kind: 'Kustomization', resources: [rel(resource)], components: components.map(rel),
  }));
  return { name, dir };
}

/** Every variant to check; `cleanup()` removes the test-only kustomizations. */
export function variants(): { list: Variant[]; cleanup(): void } {
  const parent = mkdtempSync(join(tmpdir(), 'trackgate-k8s-'));
  const list: Variant[] = [{ name: 'base', dir: join(K8S, 'base') }];
  for (const o of OVERLAYS) {
    list.push({ name: o, dir: join(K8S, 'overlays', o) });
    list.push(composed(parent, `${o}+classic-sidecar`, `overlays/${o}`, ['components/classic-sidecar']));
    if (hasMonitoring()) list.push(composed(parent, `${o}+monitoring`, `overlays/${o}`, ['components/monitoring']));
  }
  return { list, cleanup: () => rmSync(parent, { recursive: true, force: true }) };
}

export const byKind = (objects: K8sObject[], kind: string, name?: string): K8sObject => {
  const found = objects.find((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  if (found === undefined) throw new Error(`no ${kind}${name === undefined ? '' : ` ${name}`} in the output`);
  return found;
};
