/**
 * The image's HEALTHCHECK and OCI labels. No Docker engine runs here, so the health command is run as the
 * container would run it (`node -e …` with the image's TRACKGATE_ADMIN_LISTEN spelling) against a real trackgate.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { useGate } from '../helpers/gate.js';
import { freePort } from '../helpers/ports.js';
import { DOCKERFILE, imageEnv, STAGES } from './dockerfile.js';

const finalStage = STAGES.at(-1)!.replace(/\\\n\s*/g, ' ');
const healthcheck = /^HEALTHCHECK (.*?)CMD (\[.*\])$/m.exec(finalStage);

/**
 * Runs the HEALTHCHECK command with the admin address the container would have; resolves with its exit code.
 * Asynchronously: the trackgate it asks runs in this process.
 */
function check(adminListen: string): Promise<number | null> {
  const [cmd, ...args] = JSON.parse(healthcheck![2]!) as string[];
  expect(cmd).toBe('node');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { env: { ...process.env, TRACKGATE_ADMIN_LISTEN: adminListen }, stdio: 'ignore', timeout: 10_000 });
    child.on('error', reject);
    child.on('exit', (code) => resolve(code));
  });
}

describe('Dockerfile HEALTHCHECK', () => {
  const gate = useGate();

  it('is declared in the final stage, as an exec-form command with bounded timing', () => {
    expect(healthcheck, DOCKERFILE).not.toBeNull();
    expect(healthcheck![1]).toMatch(/--timeout=\d+s/);
    expect(healthcheck![1]).toMatch(/--interval=\d+s/);
  });

  it('passes against a running trackgate on the admin port the image configures (0.0.0.0:PORT)', async () => {
    expect(imageEnv().TRACKGATE_ADMIN_LISTEN).toMatch(/^0\.0\.0\.0:\d+$/);
    const port = new URL(gate.adminUrl).port;
    expect(await check(`0.0.0.0:${port}`)).toBe(0);
  });

  it('fails when nothing answers there', async () => {
    expect(await check(`0.0.0.0:${await freePort()}`)).toBe(1);
  });
});

describe('Dockerfile OCI labels', () => {
  it('name the image, and its licence as package.json does', () => {
    const { license } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { license: string };
    expect(finalStage).toMatch(/org\.opencontainers\.image\.title="trackgate"/);
    expect(finalStage).toContain(`org.opencontainers.image.licenses="${license}"`);
  });

  it('take the version, revision and source from build arguments, the version defaulting to package.json\'s', () => {
    const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    const arg = (name: string): string | undefined => new RegExp(`^ARG ${name}=(\\S+)$`, 'm').exec(finalStage)?.[1];
    expect(arg('VERSION')).toBe(version);
    expect(arg('SOURCE')).toMatch(/^https:\/\/github\.com\/trackgate\/trackgate$/);
    expect(arg('REVISION')).toBeDefined();
    expect(finalStage).toContain('org.opencontainers.image.version="${VERSION}"');
    expect(finalStage).toContain('org.opencontainers.image.revision="${REVISION}"');
    expect(finalStage).toContain('org.opencontainers.image.source="${SOURCE}"');
  });
});
