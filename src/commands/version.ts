/** `trackgate --version`: the package's version and the Node.js running it (the image's Node may differ from a developer's). */
import { readFileSync } from 'node:fs';

/** package.json sits one folder above src/ and dist/ alike. */
const PACKAGE_JSON = new URL('../../package.json', import.meta.url);

export function versionLine(): string {
  const { version } = JSON.parse(readFileSync(PACKAGE_JSON, 'utf8')) as { version: string };
  return `trackgate ${version} (Node.js ${process.version})\n`;
}
