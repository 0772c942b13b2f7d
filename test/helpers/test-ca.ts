/**
 * A certificate authority for a test, made by openssl in a temp dir: `ca.crt`, and keys with certificates it
 * signs (`<name>.key`, `<name>.crt`), valid for a day.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestCa {
  readonly dir: string;
  /** A path in the CA's dir (`ca.crt`, `server.key`, …). */
  file(name: string): string;
  /** A key and a certificate for `cn` signed by the CA, with `san` (e.g. `DNS:redis.test,IP:127.0.0.1`). */
  issue(name: string, cn: string, san?: string): void;
  /** Removes the dir. */
  remove(): void;
}

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { stdio: 'ignore', timeout: 20_000 });
}

export function makeTestCa(label: string): TestCa {
  const dir = mkdtempSync(join(tmpdir(), `trackgate-${label}-`));
  const file = (name: string) => join(dir, name);
  const key = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl('req', '-x509', ...key, '-keyout', file('ca.key'), '-out', file('ca.crt'), '-days', '1', '-subj', '/CN=trackgate test CA');
  return {
    dir,
    file,
    issue: (name, cn, san) => {
      openssl('req', ...key, '-keyout', file(`${name}.key`), '-out', file(`${name}.csr`), '-subj', `/CN=${cn}`);
      if (san !== undefined) writeFileSync(file(`${name}.ext`), `subjectAltName=${san}\n`);
      openssl('x509', '-req', '-in', file(`${name}.csr`), '-CA', file('ca.crt'), '-CAkey', file('ca.key'), '-CAcreateserial',
        '-out', file(`${name}.crt`), '-days', '1', ...(san !== undefined ? ['-extfile', file(`${name}.ext`)] : []));
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
