// Builds the strict JSON schemas the manifests are validated against (test/deploy/k8s-schemas.test.ts), from
// the upstream OpenAPI documents named in README.md. Run by hand when a pinned version changes:
//   node test/deploy/k8s-schemas/build.mjs kubernetes 1.29.0 <swagger.json> > test/deploy/k8s-schemas/kubernetes-1.29.0.json
//   node test/deploy/k8s-schemas/build.mjs crds prometheus-operator-0.93.0 <crd.yaml>... > test/deploy/k8s-schemas/prometheus-operator-0.93.0.json
// Strict: an object with declared properties admits no others (as the API server's strict field validation,
// kubectl's default since 1.27, refuses them); a typo in a field name fails instead of being dropped.
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';

/** The kinds a manifest of ours may use; their schemas are kept with every definition they reach. */
const KINDS = new Set([
  'v1/ConfigMap', 'v1/Secret', 'v1/Service', 'v1/ServiceAccount', 'v1/PersistentVolumeClaim',
  'apps/v1/Deployment', 'apps/v1/StatefulSet', 'apps/v1/DaemonSet',
  'policy/v1/PodDisruptionBudget', 'networking.k8s.io/v1/NetworkPolicy', 'networking.k8s.io/v1/Ingress',
  'autoscaling/v2/HorizontalPodAutoscaler',
]);
/** Kubernetes' quantity syntax (resource.Quantity): 100m, 384Mi, 1e3, 0.5. */
const QUANTITY = '^[+-]?([0-9]+(\\.[0-9]*)?|\\.[0-9]+)(([KMGTPE]i)|[numkMGTPE]|([eE][+-]?[0-9]+))?$';

/** Drops prose and vendor keywords; makes declared objects closed. */
function strict(node) {
  if (Array.isArray(node)) return node.map(strict);
  if (typeof node !== 'object' || node === null) return node;
  if (node['x-kubernetes-int-or-string'] === true) return { anyOf: [{ type: 'integer' }, { type: 'string' }] };
  const out = {};
  for (const [k, v] of Object.entries(node)) {
    if (k === 'description' || k === 'format' || k.startsWith('x-kubernetes-')) continue;
    out[k] = k === 'properties' ? Object.fromEntries(Object.entries(v).map(([p, s]) => [p, strict(s)])) : strict(v);
  }
  if (out.properties !== undefined && out.additionalProperties === undefined && node['x-kubernetes-preserve-unknown-fields'] !== true) {
    out.additionalProperties = false;
  }
  return out;
}

function kubernetes(version, file) {
  const spec = JSON.parse(readFileSync(file, 'utf8'));
  const defs = spec.definitions;
  const kinds = {};
  for (const [name, def] of Object.entries(defs)) {
    for (const gvk of def['x-kubernetes-group-version-kind'] ?? []) {
      const key = `${gvk.group === '' ? '' : `${gvk.group}/`}${gvk.version}/${gvk.kind}`;
      if (KINDS.has(key) && def.properties?.metadata !== undefined) kinds[key] = name;
    }
  }
  const missing = [...KINDS].filter((k) => kinds[k] === undefined);
  if (missing.length > 0) throw new Error(`not in the spec: ${missing.join(', ')}`);
  const keep = new Set();
  const reach = (node) => {
    if (Array.isArray(node)) { node.forEach(reach); return; }
    if (typeof node !== 'object' || node === null) return;
    if (typeof node.$ref === 'string') {
      const name = node.$ref.replace('#/definitions/', '');
      if (!keep.has(name)) { keep.add(name); reach(defs[name]); }
    }
    Object.values(node).forEach(reach);
  };
  for (const name of Object.values(kinds)) { keep.add(name); reach(defs[name]); }
  const definitions = {};
  for (const name of [...keep].sort()) definitions[name] = strict(defs[name]);
  // Written as a string or a number in YAML (`cpu: 1`, `port: 8080`, `memory: 384Mi`).
  definitions['io.k8s.apimachinery.pkg.util.intstr.IntOrString'] = { anyOf: [{ type: 'integer' }, { type: 'string' }] };
  definitions['io.k8s.apimachinery.pkg.api.resource.Quantity'] = { anyOf: [{ type: 'number' }, { type: 'string', pattern: QUANTITY }] };
  return { source: `Kubernetes ${version} OpenAPI (api/openapi-spec/swagger.json)`, kinds, definitions };
}

function crds(name, files) {
  const kinds = {};
  const definitions = {};
  for (const file of files) {
    for (const doc of parseAllDocuments(readFileSync(file, 'utf8'))) {
      const crd = doc.toJS();
      if (crd?.kind !== 'CustomResourceDefinition') continue;
      for (const v of crd.spec.versions) {
        if (!v.served) continue;
        const key = `${crd.spec.group}/${v.name}/${crd.spec.names.kind}`;
        const schema = strict(v.schema.openAPIV3Schema);
        // metadata is checked against ObjectMeta of the Kubernetes schema, as the API server does.
        schema.properties.metadata = { type: 'object' };
        kinds[key] = key;
        definitions[key] = schema;
      }
    }
  }
  return { source: `${name} CustomResourceDefinitions (example/prometheus-operator-crd/)`, kinds, definitions };
}

const [what, version, ...files] = process.argv.slice(2);
const out = what === 'kubernetes' ? kubernetes(version, files[0]) : crds(version, files);
process.stdout.write(`${JSON.stringify(out, null, 1)}\n`);
