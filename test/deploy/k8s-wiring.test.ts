/**
 * The sidecar wiring, checked against what trackgate actually reads: the ConfigMap's trackgate.yaml goes through
 * trackgate's own config loader with the container's environment (the image's ENV, then the manifest's env); the
 * ports, probe paths, mounted files and the app's identity settings must match the resulting config; and the
 * real trackgate, started with that config and those mounts laid out in a temp dir, answers its probes, signs
 * with the mounted key, checks passwords of the mounted accounts file and keeps its store where the volume is.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { configSchema, validateConfig } from '../../src/config-schema.js';
import { envKeys } from '../../src/config/env.js';
import { ROOT, runCli } from '../helpers/cli.js';
import { startCluster, type ClusterProc } from '../helpers/cluster-process.js';
import { freePort } from '../helpers/ports.js';
import { startRecordingUpstream } from '../helpers/recording-upstream.js';
import { basicAuth } from '../helpers/trackgate.js';
import { imageEnv } from './dockerfile.js';
import { byKind, composed, K8S, kustomize, type K8sObject } from './k8s-build.js';

type Doc = Record<string, any>;
const parent = mkdtempSync(join(tmpdir(), 'trackgate-k8s-wiring-'));
afterAll(() => rmSync(parent, { recursive: true, force: true }));

/** The Secrets' contents as docs/deploy-kubernetes.md has them created (only the Redis one is read through env). */
const REDIS_PASSWORD = randomBytes(12).toString('hex');
const SECRET_VALUES: Record<string, Record<string, string>> = {
  'trackgate-redis': { password: REDIS_PASSWORD, url: `redis://:${REDIS_PASSWORD}@trackgate-redis:6379/0` },
};
const GUIDE = readFileSync(join(ROOT, 'docs', 'deploy-kubernetes.md'), 'utf8');

/** `kubectl create secret generic NAME --from-file=KEY[=PATH]…` / `--from-literal=KEY=…` lines of the guide. */
function guideSecrets(): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const [, name, args] of GUIDE.matchAll(/kubectl create secret generic (\S+)((?: +--from-(?:file|literal)=\S+)+)/g)) {
    const keys = [...args!.matchAll(/--from-(?:file|literal)=([^=\s]+)/g)].map((m) => basename(m[1]!));
    out.set(name!, new Set(keys));
  }
  return out;
}

function containerEnv(container: Doc): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of container.env ?? []) {
    if (e.value !== undefined) env[e.name] = String(e.value);
    else {
      const ref = e.valueFrom.secretKeyRef;
      const value = SECRET_VALUES[ref.name]?.[ref.key];
      if (value === undefined) throw new Error(`${container.name}: env ${e.name} reads Secret ${ref.name} key ${ref.key}, which no test value stands for`);
      env[e.name] = value;
    }
  }
  return env;
}

/** Every string of a parsed YAML document passed through `f`. */
const localise = (node: unknown, f: (s: string) => string): unknown => {
  if (typeof node === 'string') return f(node);
  if (Array.isArray(node)) return node.map((n) => localise(n, f));
  if (typeof node === 'object' && node !== null) return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, localise(v, f)]));
  return node;
};

const getPath = (obj: unknown, path: string[]): unknown => path.reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], obj);

function wiring(objects: K8sObject[]) {
  const pod = byKind(objects, 'Deployment', 'gps-data-service').spec.template.spec;
  const all: Doc[] = [...(pod.initContainers ?? []), ...pod.containers];
  const trackgate = all.find((c) => c.name === 'trackgate')!;
  const app = pod.containers.find((c: Doc) => c.name === 'app');
  const configMap = byKind(objects, 'ConfigMap', 'trackgate-config');
  const configPath = trackgate.args[trackgate.args.indexOf('--config') + 1] as string;
  const env = { ...imageEnv(), ...containerEnv(trackgate) };
  const port = (name: string) => trackgate.ports.find((p: Doc) => p.name === name)?.containerPort as number;
  /** The mount that holds `path`, and its volume. */
  const mountOf = (path: string) => {
    const m = (trackgate.volumeMounts as Doc[]).filter((v) => path.startsWith(`${v.mountPath}/`)).sort((a, b) => b.mountPath.length - a.mountPath.length)[0];
    return m === undefined ? undefined : { mount: m, volume: (pod.volumes as Doc[]).find((v) => v.name === m.name)! };
  };
  return { pod, trackgate, app, configMap, configPath, env, port, mountOf };
}

const VARIANTS = [
  { name: 'single', dir: join(K8S, 'overlays', 'single') },
  { name: 'replicas', dir: join(K8S, 'overlays', 'replicas') },
  composed(parent, 'single+classic-sidecar', 'overlays/single', ['components/classic-sidecar']),
];

describe.each(VARIANTS)('$name: what the manifests say matches what trackgate reads', ({ name, dir }) => {
  const objects = kustomize(dir);
  const w = wiring(objects);
  const configText = w.configMap.data[basename(w.configPath)] as string;
  const raw = parse(configText) as Record<string, unknown>;
  const loaded = validateConfig(raw, w.configPath, w.env);
  const { config } = loaded;

  it('mounts the ConfigMap where --config points, and every TRACKGATE_ variable is a config key', () => {
    const at = w.mountOf(w.configPath);
    expect(at?.volume.configMap?.name).toBe('trackgate-config');
    expect(dirname(w.configPath)).toBe(at?.mount.mountPath);
    expect(loaded.envUnknown).toEqual([]);
    const known = new Set(envKeys(configSchema).map((k) => k.name));
    for (const n of Object.keys(w.env).filter((k) => k.startsWith('TRACKGATE_'))) expect(known, n).toContain(n);
  });

  it('sets no key both in the ConfigMap and in the environment with different values (the variable would win unseen)', () => {
    for (const key of envKeys(configSchema).filter((k) => w.env[k.name] !== undefined)) {
      const inFile = getPath(raw, key.path);
      if (inFile !== undefined) expect(getPath(config, key.path), `${key.name} vs ${key.path.join('.')}`).toEqual(inFile);
    }
  });

  it('listens on the container ports, the app on 127.0.0.1 where upstream.url points', () => {
    expect(config.listen).toBe(`0.0.0.0:${w.port('proxy')}`);
    expect(config.admin.listen).toBe(`0.0.0.0:${w.port('metrics')}`);
    const upstream = new URL(config.upstream.url);
    expect(upstream.hostname).toBe('127.0.0.1');
    expect(w.app.env.find((e: Doc) => e.name === 'LISTEN_ADDRESS').value).toBe(upstream.host);
    expect(w.app.ports ?? []).toEqual([]); // nothing to reach from outside the pod
  });

  it('probes the admin paths on the admin port, and the Services and NetworkPolicy name ports that exist', () => {
    expect(w.trackgate.startupProbe.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
    expect(w.trackgate.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
    expect(w.trackgate.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'metrics' });
    expect(byKind(objects, 'Service', 'gps-data-service').spec.ports.map((p: Doc) => p.targetPort)).toEqual(['proxy']);
    expect(byKind(objects, 'Service', 'gps-data-service-metrics').spec.ports.map((p: Doc) => p.targetPort)).toEqual(['metrics']);
    const policyPorts = byKind(objects, 'NetworkPolicy', 'gps-data-service').spec.ingress.flatMap((r: Doc) => r.ports.map((p: Doc) => p.port));
    expect(policyPorts.sort()).toEqual(['metrics', 'proxy']);
    expect(w.pod.enableServiceLinks).toBe(false);
  });

  it('gives the app the identity settings trackgate signs with, and its JWKS on the admin port', () => {
    const appEnv = Object.fromEntries(w.app.env.map((e: Doc) => [e.name, e.value]));
    expect(appEnv.IDENTITY_HEADER).toBe(config.identity.header);
    expect(appEnv.IDENTITY_ISSUER).toBe(config.identity.issuer);
    expect(appEnv.IDENTITY_AUDIENCE).toBe(config.identity.audience);
    expect(appEnv.IDENTITY_JWKS_URL).toBe(`http://127.0.0.1:${w.port('metrics')}/.well-known/jwks.json`);
  });

  it('reads each secret file from a whole-directory Secret mount that the guide creates with that key', () => {
    const secrets = guideSecrets();
    const files = [config.identity.keysFile!, config.secretFile!, loaded.accountsPath];
    for (const file of files) {
      const at = w.mountOf(file);
      expect(at, file).toBeDefined();
      expect(at!.mount.subPath).toBeUndefined();
      expect(at!.mount.readOnly).toBe(true);
      expect(dirname(file)).toBe(at!.mount.mountPath);
      const secretName = at!.volume.secret?.secretName as string;
      expect(secrets.get(secretName), `docs/deploy-kubernetes.md creates Secret ${secretName}`).toContain(basename(file));
    }
    for (const m of w.trackgate.volumeMounts as Doc[]) expect(m.subPath).toBeUndefined();
  });

  it('keeps the store where nothing is lost on a reschedule', () => {
    if (config.store.url.startsWith('sqlite:')) {
      const at = w.mountOf(config.store.url.slice('sqlite:'.length));
      expect(at?.volume.persistentVolumeClaim?.claimName).toBeDefined();
      expect(at?.mount.readOnly).not.toBe(true);
      expect(byKind(objects, 'Deployment').spec.replicas).toBe(1);
      expect(byKind(objects, 'Deployment').spec.strategy.type).toBe('Recreate');
    } else {
      expect(config.store.url).toBe(SECRET_VALUES['trackgate-redis']!.url);
      expect(secretsCreated('trackgate-redis')).toEqual(new Set(['password', 'url']));
      expect(objects.some((o) => o.kind === 'HorizontalPodAutoscaler')).toBe(true);
    }
    expect(name === 'replicas').toBe(config.store.url.startsWith('redis:'));
  });
});

const secretsCreated = (name: string) => guideSecrets().get(name);

const accepts = (port: number) => new Promise<boolean>((resolve) => {
  const socket = connect(port, '127.0.0.1', () => { socket.destroy(); resolve(true); });
  socket.on('error', () => resolve(false));
});

/** A real redis-server with the try-it Redis StatefulSet's own arguments ($(VAR) expanded as the kubelet does). */
async function startComponentRedis(objects: K8sObject[], dataDir: string): Promise<{ port: number; child: ChildProcess }> {
  const redis = byKind(objects, 'StatefulSet', 'trackgate-redis').spec.template.spec.containers[0];
  const env = containerEnv(redis);
  const args = (redis.args as string[]).map((a) => a.replace(/\$\((\w+)\)/g, (_, v: string) => env[v]!))
    .map((a) => (a === redis.volumeMounts[0].mountPath ? dataDir : a));
  const port = await freePort();
  const child = spawn('redis-server', [...args, '--port', String(port), '--bind', '127.0.0.1', '--daemonize', 'no'], { stdio: 'ignore' });
  const deadline = Date.now() + 10_000;
  while (!(await accepts(port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`redis-server with the StatefulSet's arguments did not start (${args.join(' ')})`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  return { port, child };
}

describe.each(VARIANTS.slice(0, 2))('$name: the real trackgate with that config and those mounts', ({ name, dir }) => {
  it('starts, answers its probes, signs with the mounted key and checks the mounted accounts', async () => {
    const objects = kustomize(dir);
    const w = wiring(objects);
    const root = join(parent, `run-${name}`);
    const mounts = (w.trackgate.volumeMounts as Doc[]).map((m) => m.mountPath as string).sort((a, b) => b.length - a.length);
    const local = (s: string) => {
      for (const m of mounts) if (s.includes(m)) return s.replace(m, join(root, m));
      return s;
    };
    for (const m of mounts) mkdirSync(join(root, m), { recursive: true });
    // The Secrets' files, made the way the guide makes them.
    const raw = parse(w.configMap.data[basename(w.configPath)]) as Doc;
    const keysFile = local(raw.identity.keysFile);
    writeFileSync(keysFile, (await runCli(['keys', 'generate'])).stdout);
    writeFileSync(local(raw.secretFile), randomBytes(32));
    const added = await runCli(['accounts', 'add', 'user', 'dispatcher', '--accounts', local(raw.accountsFile)], { input: 'dispatcher-password\n' });
    expect(added.code, added.stderr).toBe(0);

    const up = await startRecordingUpstream();
    let redis: { port: number; child: ChildProcess } | undefined;
    let tg: ClusterProc | undefined;
    try {
      if (name === 'replicas') redis = await startComponentRedis(objects, mkdtempSync(join(root, 'redis-')));
      const env = Object.fromEntries(Object.entries(w.env).map(([k, v]) => [k, local(v)]));
      if (redis !== undefined) env.TRACKGATE_STORE = env.TRACKGATE_STORE!.replace('trackgate-redis:6379', `127.0.0.1:${redis.port}`);
      const configFile = local(w.configPath);
      tg = await startCluster({
        dir: dirname(configFile), name: basename(configFile, '.yaml'),
        config: localise(raw, local) as Record<string, unknown>,
        env: { ...env, TRACKGATE_LISTEN: '127.0.0.1:0', TRACKGATE_ADMIN_LISTEN: '127.0.0.1:0', TRACKGATE_UPSTREAM: up.url },
      });
      expect(tg.configFile).toBe(configFile);
      for (const probe of [w.trackgate.startupProbe, w.trackgate.livenessProbe, w.trackgate.readinessProbe]) {
        const res = await fetch(`${tg.admin}${probe.httpGet.path}`);
        expect(res.status, probe.httpGet.path).toBe(200);
      }
      const ready = await (await fetch(`${tg.admin}/readyz`)).json() as { checks: Record<string, { ok: boolean }> };
      expect(Object.values(ready.checks).every((c) => c.ok)).toBe(true);
      const jwks = await (await fetch(`${tg.admin}/.well-known/jwks.json`)).json() as { keys: { kid: string }[] };
      const mounted = JSON.parse(readFileSync(keysFile, 'utf8')) as { keys: { kid: string }[] };
      expect(jwks.keys.map((k) => k.kid)).toEqual(mounted.keys.map((k) => k.kid));

      const res = await fetch(`${tg.proxy}/v1/positions`, { headers: { authorization: basicAuth('dispatcher', 'dispatcher-password') } });
      expect(res.status).toBe(200);
      const appEnv = Object.fromEntries(w.app.env.map((e: Doc) => [e.name, e.value]));
      const header = up.received.at(-1)!.headers[appEnv.IDENTITY_HEADER.toLowerCase()] as string;
      const { payload } = await jwtVerify(header, createLocalJWKSet(jwks as never), { issuer: appEnv.IDENTITY_ISSUER, audience: appEnv.IDENTITY_AUDIENCE });
      expect(payload.sub).toBe('dispatcher');
      const wrong = await fetch(`${tg.proxy}/v1/positions`, { headers: { authorization: basicAuth('dispatcher', 'wrong') } });
      expect(wrong.status).toBe(401);
      if (redis === undefined) expect(existsSync(local(w.env.TRACKGATE_STORE!.slice('sqlite:'.length)))).toBe(true);
    } finally {
      tg?.kill();
      redis?.child.kill('SIGKILL');
      await up.close();
    }
  }, 30_000);
});
