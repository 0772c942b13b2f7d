/**
 * `npm run test:reliability` globalSetup: builds dist/ (as the unit suite does), starts the results file
 * afresh, and at the end prints the table (case class → tried → failures → figure) and writes it to
 * docs/reliability-last-run.md.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import buildDist from '../global-setup.js';
import { RESULTS_FILE, type ReliabilityRow } from './record.js';

export function renderTable(rows: readonly ReliabilityRow[]): string {
  const lines = ['| case class | cases tried | failures | figure |', '|---|---:|---:|---|'];
  for (const r of rows) lines.push(`| ${r.cls} | ${r.tried} | ${r.failures} | ${r.figure.replace(/\|/g, '\\|')} |`);
  return `${lines.join('\n')}\n`;
}

export default function setup(): () => void {
  buildDist();
  rmSync(RESULTS_FILE, { force: true });
  return () => {
    if (!existsSync(RESULTS_FILE)) return;
    const rows = readFileSync(RESULTS_FILE, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as ReliabilityRow);
    rows.sort((a, b) => a.cls.localeCompare(b.cls));
    const table = renderTable(rows);
    const out = new URL('../../docs/reliability-last-run.md', import.meta.url).pathname;
    writeFileSync(out, `# Reliability suite: last run\n\n\`npm run test:reliability\`, ${new Date().toISOString().slice(0, 10)}, Node ${process.version}.\n\n${table}`);
    process.stdout.write(`\nreliability table (also in docs/reliability-last-run.md):\n\n${table}\n`);
  };
}
