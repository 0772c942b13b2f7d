/**
 * No Docker engine or cluster runs here, so the Dockerfile and the Kubernetes manifests are checked by reading
 * them: the things that break a sidecar in production (wrong ports, probes on the wrong port, a config the
 * binary would reject, a grace period shorter than trackgate's drain, a Service that bypasses trackgate).
 * The manifests as `kubectl kustomize k8s/overlays/single` renders them; k8s-wiring.test.ts and
 * k8s-schemas.test.ts check every variant further.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { validateConfig } from '../../src/config-schema.js';
import { imageEnv } from './dockerfile.js';
import { byKind as find, K8S, kustomize } from './k8s-build.js';

const root = new URL('../../', import.meta.url);
const read = (p: string) => readFileSync(new URL(p, root), 'utf8');

type Doc = Record<string, any>;
const docs = kustomize(`${K8S}/overlays/single`);
const byKind = (kind: string) => find(docs, kind);

describe('k8s/overlays/single', () => {
  const deployment = byKind('Deployment');
  const pod = deployment.spec.template.spec;
  const sidecar = pod.initContainers.find((c: Doc) => c.name === 'trackgate');
  const configYaml = byKind('ConfigMap').data['trackgate.yaml'];
  const env = { ...imageEnv(), ...Object.fromEntries(sidecar.env.map((e: Doc) => [e.name, e.value])) };
  const config = validateConfig(parse(configYaml), 'k8s ConfigMap trackgate.yaml', env).config;

  it('runs trackgate as a native sidecar (init container with restartPolicy Always)', () => {
    expect(sidecar.restartPolicy).toBe('Always');
    expect(sidecar.args).toEqual(['--config', '/etc/trackgate/config/trackgate.yaml']);
  });

  it('embeds a config that trackgate accepts, listening where the ports say', () => {
    const ports = Object.fromEntries(sidecar.ports.map((p: Doc) => [p.name, p.containerPort]));
    expect(config.listen).toBe(`0.0.0.0:${ports.proxy}`);
    expect(config.admin.listen).toBe(`0.0.0.0:${ports.metrics}`);
    expect(new URL(config.upstream.url).hostname).toBe('127.0.0.1');
    expect(config.identity.keysFile).toMatch(/^\/etc\/trackgate\/keys\//);
    expect(config.secretFile).toMatch(/^\/etc\/trackgate\/hmac\//);
  });

  it('probes health and readiness on the admin port', () => {
    expect(sidecar.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
    expect(sidecar.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'metrics' });
    expect(deployment.spec.template.metadata.annotations['prometheus.io/port']).toBe('9090');
  });

  it('gives the pod longer to stop than trackgate needs to drain', () => {
    expect(pod.terminationGracePeriodSeconds * 1000).toBeGreaterThan(config.shutdown.graceMs);
  });

  it('waits in preStop for the endpoint to go before trackgate drains, within the grace period (issue 13 item 6)', () => {
    const exec = sidecar.lifecycle.preStop.exec.command as string[];
    expect(exec[0]).toBe('node'); // whatever the image, it has node
    const preStopMs = Number(/setTimeout\(\(\) => \{\}, (\d+)\)/.exec(exec.join(' '))?.[1]);
    expect(preStopMs).toBeGreaterThanOrEqual(3000);
    const app = pod.containers.find((c: Doc) => c.name === 'app');
    const appSleep = app?.lifecycle?.preStop?.exec?.command as string[] | undefined;
    expect(appSleep?.[0]).toBe('sleep');
    const appPreStopMs = Number(appSleep?.[1]) * 1000;
    expect(appPreStopMs).toBeGreaterThanOrEqual(3000);
    // Native sidecars stop after the app containers: the app's preStop, then trackgate's, then its drain.
    expect(pod.terminationGracePeriodSeconds * 1000).toBeGreaterThan(appPreStopMs + preStopMs + config.shutdown.graceMs);
  });

  it('runs unprivileged with a read-only root filesystem and a writable state volume', () => {
    expect(sidecar.securityContext).toMatchObject({ runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    for (const c of [...pod.initContainers, ...pod.containers]) {
      expect(c.securityContext, c.name).toMatchObject({ runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
      expect(Number.isInteger(c.securityContext.runAsUser ?? pod.securityContext.runAsUser), c.name).toBe(true);
    }
    const storePath = config.store.url.slice('sqlite:'.length);
    expect(sidecar.volumeMounts.some((m: Doc) => storePath.startsWith(`${m.mountPath}/`) && !m.readOnly)).toBe(true);
  });

  it('gives trackgate the memory its validation cache and large bodies can take (256 MiB + 0.5 KiB per entry, from the bench)', () => {
    const mib = (q: string) => {
      const m = /^(\d+)(Mi|Gi)$/.exec(q);
      if (m === null) throw new Error(`unexpected memory quantity ${q}`);
      return Number(m[1]) * (m[2] === 'Gi' ? 1024 : 1);
    };
    const limit = mib(sidecar.resources.limits.memory);
    expect(limit).toBeGreaterThanOrEqual(256 + (0.5 * config.cache.maxEntries) / 1024);
    // The request covers a loaded sidecar (100-125 MiB measured with an empty cache, 145-183 filling 100,000
    // identities), so the scheduler does not place it where that much is not free.
    expect(mib(sidecar.resources.requests.memory)).toBeGreaterThanOrEqual(150);
    expect(mib(sidecar.resources.requests.memory)).toBeLessThanOrEqual(limit);
  });

  it('routes the Service to trackgate, never straight to the app', () => {
    expect(find(docs, 'Service', 'gps-data-service').spec.ports.every((p: Doc) => p.targetPort === 'proxy')).toBe(true);
  });
});

describe('Dockerfile', () => {
  const dockerfile = read('Dockerfile');
  const stages = dockerfile.split(/^FROM /m).slice(1);
  const final = stages.at(-1)!;

  it('uses the current Node LTS and a multi-stage build, each base pinned by exact version and digest', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    const bases = stages.map((s) => /^(\S+)/.exec(s)![1]!);
    for (const b of bases) expect(b).toMatch(/^node:24\.\d+\.\d+-bookworm(-slim)?@sha256:[0-9a-f]{64}$/);
    // One Node release in every stage: the modules the build stage installs are those of the runtime's Node.
    expect(new Set(bases.map((b) => /^node:([\d.]+)-/.exec(b)![1]))).toHaveProperty('size', 1);
    expect(bases.at(-1)).toMatch(/-slim@/);
  });

  it('holds no demo config, accounts or keys: config/ is neither copied nor in the build context', () => {
    for (const s of stages) expect(s).not.toMatch(/^(COPY|ADD) .*\bconfig\b/m);
    expect(read('.dockerignore').split('\n')).toContain('config');
    expect(final).toMatch(/^CMD \["--config", "\/etc\/trackgate\/trackgate\.yaml"\]$/m);
  });

  it('runs as a non-root user and exposes the proxy and admin ports', () => {
    expect(final).toMatch(/^USER node$/m);
    expect(final).toMatch(/^EXPOSE 8080 9090$/m);
    expect(final).toMatch(/TRACKGATE_LISTEN=0\.0\.0\.0:8080/);
    expect(final).toMatch(/TRACKGATE_ADMIN_LISTEN=0\.0\.0\.0:9090/);
  });

  it('starts the package binary', () => {
    const pkg = JSON.parse(read('package.json'));
    expect(final).toMatch(new RegExp(`^ENTRYPOINT \\["node", (".+", )*"${pkg.bin.trackgate}"\\]$`, 'm'));
  });

  it('copies every file the runtime needs and excludes the rest', () => {
    for (const p of ['dist', 'bin', 'node_modules', 'package.json']) expect(final).toMatch(new RegExp(`COPY .*${p}`));
    const ignore = read('.dockerignore').split('\n');
    for (const p of ['node_modules', '.git', 'data']) expect(ignore).toContain(p);
  });
});
