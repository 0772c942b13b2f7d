/**
 * Validates Kubernetes objects against the strict schemas committed in k8s-schemas/ (their sources: README.md
 * there): the kind must be known to the pinned version, every field must exist where it is written, types and
 * quantities must parse. Custom resources are checked against their CustomResourceDefinition's schema, their
 * metadata against ObjectMeta, as the API server does.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import type { K8sObject } from './k8s-build.js';

interface SchemaFile { source: string; kinds: Record<string, string>; definitions: Record<string, unknown> }

const read = (name: string): SchemaFile => JSON.parse(readFileSync(join(import.meta.dirname, 'k8s-schemas', name), 'utf8')) as SchemaFile;

export const KUBERNETES_VERSIONS = ['1.29.0', '1.32.1'] as const;
const CRDS = read('prometheus-operator-0.93.0.json');

export interface Validator {
  /** Problems with one object (`Deployment/gps-data-service: /spec/template/…: must NOT have additional properties (replica)`). */
  problems(obj: K8sObject): string[];
}

const say = (obj: K8sObject, errors: ErrorObject[] | null | undefined): string[] => (errors ?? []).map((e) => {
  const extra = e.keyword === 'additionalProperties' ? ` (${String((e.params as { additionalProperty: string }).additionalProperty)})` : '';
  return `${obj.kind}/${obj.metadata?.name}: ${e.instancePath || '/'}: ${e.message ?? e.keyword}${extra}`;
});

/**
 * The schemas' patterns are Go regular expressions (RE2); the Prometheus Operator's CRDs open some with the
 * inline flag `(?i)`, which JavaScript spells as the `i` flag.
 */
const goRegExp = Object.assign(
  (pattern: string, flags: string): RegExp => (pattern.includes('(?i)') ? new RegExp(pattern.replaceAll('(?i)', ''), `${flags}i`) : new RegExp(pattern, flags)),
  { code: 'goRegExp' },
);

export function validator(version: (typeof KUBERNETES_VERSIONS)[number]): Validator {
  const k8s = read(`kubernetes-${version}.json`);
  const ajv = new Ajv({ allErrors: true, strict: true, code: { regExp: goRegExp } });
  ajv.addSchema({ definitions: k8s.definitions }, 'k8s');
  ajv.addSchema({ definitions: CRDS.definitions }, 'crds');
  const compiled = new Map<string, ValidateFunction>();
  const compile = (ref: string): ValidateFunction => {
    let v = compiled.get(ref);
    if (v === undefined) { v = ajv.compile({ $ref: ref }); compiled.set(ref, v); }
    return v;
  };
  const objectMeta = compile('k8s#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta');
  return {
    problems(obj) {
      const key = `${obj.apiVersion}/${obj.kind}`;
      const builtin = k8s.kinds[key];
      if (builtin !== undefined) {
        const v = compile(`k8s#/definitions/${builtin}`);
        return v(obj) ? [] : say(obj, v.errors);
      }
      const custom = CRDS.kinds[key];
      if (custom === undefined) return [`${obj.kind}/${obj.metadata?.name}: no schema for ${key} in Kubernetes ${version} or the pinned CRDs`];
      const v = compile(`crds#/definitions/${custom.replaceAll('/', '~1')}`);
      const out = v(obj) ? [] : say(obj, v.errors);
      return objectMeta(obj.metadata) ? out : [...out, ...say(obj, objectMeta.errors).map((p) => p.replace(': /', ': /metadata/'))];
    },
  };
}
