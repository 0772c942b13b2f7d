/**
 * Summarises a V8 .cpuprofile (from `node --cpu-prof`): the top functions by self time, and by inclusive
 * time for trackgate's own code.
 *
 *   node bench/cpuprofile-top.js <file.cpuprofile> [top=30]
 */
import { readFileSync } from 'node:fs';

export function summarise(profile, top = 30) {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  // Self time per node: each sample is one tick of `timeDeltas`.
  const self = new Map();
  const deltas = profile.timeDeltas ?? [];
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i];
    const dt = deltas[i + 1] ?? deltas[i] ?? 0;
    self.set(id, (self.get(id) ?? 0) + dt);
  }
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const keyOf = (n) => {
    const cf = n.callFrame;
    const url = cf.url.replace(/^file:\/\//, '').replace(/^.*\/node_modules\//, 'node_modules/').replace(/^.*\/dist\//, 'dist/');
    return `${cf.functionName || '(anonymous)'}  ${url}${url ? `:${cf.lineNumber + 1}` : ''}`;
  };
  const bySelf = new Map();
  const byTotal = new Map();
  for (const [id, t] of self) {
    const n = nodes.get(id);
    const k = keyOf(n);
    bySelf.set(k, (bySelf.get(k) ?? 0) + t);
    // Inclusive: charge every distinct frame on the stack once.
    const seen = new Set();
    for (let p = id; p !== undefined; p = parent.get(p)) {
      const key = keyOf(nodes.get(p));
      if (seen.has(key)) continue;
      seen.add(key);
      byTotal.set(key, (byTotal.get(key) ?? 0) + t);
    }
  }
  // Self time by component: what the process spends its time on.
  const component = (n) => {
    const { url, functionName } = n.callFrame;
    if (url.includes('/dist/')) return 'trackgate (dist/)';
    const mod = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
    if (mod) return `node_modules/${mod[1]}`;
    if (url.startsWith('node:')) return /_http_|http_parser|llhttp/.test(url) ? 'node:http' : /stream|net|buffer/.test(url) ? 'node: streams/net/buffer' : 'node: other';
    if (url.startsWith('wasm://')) return 'wasm (undici llhttp)';
    if (functionName === '(garbage collector)') return 'GC';
    if (functionName === '(idle)') return 'idle';
    if (functionName === '(program)') return 'V8/native (program)';
    if (/^(writev|writeLatin1String|writeUtf8String|writeBuffer|readStart|readStop|close|shutdown)$/.test(functionName)) return 'socket syscalls (native)';
    if (url === '' && /^[A-Za-z]/.test(functionName)) return `native: ${functionName}`;
    return url ? 'other JS' : 'other native';
  };
  const byComponent = new Map();
  for (const [id, t] of self) {
    const c = component(nodes.get(id));
    byComponent.set(c, (byComponent.get(c) ?? 0) + t);
  }
  const fmt = (m, filter = () => true) => [...m].filter(([k]) => filter(k)).sort((a, b) => b[1] - a[1]).slice(0, top)
    .map(([k, t]) => `${((100 * t) / total).toFixed(1).padStart(5)}%  ${(t / 1000).toFixed(0).padStart(7)} ms  ${k}`).join('\n');
  return `total sampled: ${(total / 1000).toFixed(0)} ms\n\nSelf time by component:\n${fmt(byComponent)}\n\nTop ${top} by self time:\n${fmt(bySelf)}\n\nTop ${top} trackgate functions by inclusive time:\n${fmt(byTotal, (k) => k.includes('dist/'))}\n`;
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop())) {
  const [file, top] = process.argv.slice(2);
  if (!file) { process.stderr.write('usage: node bench/cpuprofile-top.js <file.cpuprofile> [top]\n'); process.exit(2); }
  process.stdout.write(summarise(JSON.parse(readFileSync(file, 'utf8')), Number(top ?? 30)));
}
