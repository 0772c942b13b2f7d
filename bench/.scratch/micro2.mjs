import { createHash, createHmac, randomBytes } from 'node:crypto';
import { CredentialDigester } from '/work/main/dist/verify/cache-key.js';
import { createLogger } from '/work/main/dist/observability/log.js';
import { pino } from 'pino';
function bench(name, n, fn) {
  for (let i = 0; i < n/5; i++) fn(i);
  const rs = [];
  for (let r = 0; r < 5; r++) { const t0 = process.cpuUsage(); for (let i = 0; i < n; i++) fn(i); const d = process.cpuUsage(t0); rs.push((d.user + d.system) * 1000 / n); }
  rs.sort((a,b)=>a-b); console.log(name.padEnd(40), rs[2].toFixed(0), 'ns');
}
const secret = randomBytes(32);
const dg = new CredentialDigester(secret);
const key = createHmac('sha256', secret).update('trackgate/credential-digest/v1').digest();
const ipad = Buffer.alloc(64, 0x36), opad = Buffer.alloc(64, 0x5c);
for (let i = 0; i < key.length; i++) { ipad[i] ^= key[i]; opad[i] ^= key[i]; }
const inner0 = createHash('sha256').update(ipad), outer0 = createHash('sha256').update(opad);
const lp = (s) => `${Buffer.byteLength(s, 'utf8')}:${s}`;
function fast(scheme, parts) {
  let s = lp(scheme); for (const p of parts) s += lp(p);
  const inner = inner0.copy().update(s, 'utf8').digest();
  return outer0.copy().update(inner).digest('base64url');
}
function hmacOne(scheme, parts) {
  let s = lp(scheme); for (const p of parts) s += lp(p);
  return createHmac('sha256', key).update(s, 'utf8').digest('base64url');
}
const parts = ['bench-user', 'bench-password-1'];
console.log(dg.digest('basic', parts) === fast('basic', parts), fast('basic', parts) === hmacOne('basic', parts));
const N = 200000;
bench('digester.digest (current)', N, () => dg.digest('basic', parts));
bench('createHmac single update', N, () => hmacOne('basic', parts));
bench('hash.copy inner/outer', N, () => fast('basic', parts));
const logger = createLogger({ level: 'info', destination: pino.destination({ dest: '/dev/null', sync: false }) });
const line = () => ({ method: 'GET', path: '/v2/positions?device=bench-device', status: 200, ms: 0.42, scheme: 'basic', rid: 'b8a7f3c2-1111-4222-8333-944455556666', ip: '127.0.0.1', sub: 'bench-user', kind: 'user', cache: 'hit', fp: 'abcdefabcdefabcd' });
bench('logger.info(access line)', N/4, () => logger.info(line(), 'request'));
const plain = pino({ level: 'info', base: { service: 'trackgate' }, timestamp: pino.stdTimeFunctions.isoTime, formatters: { level: (l) => ({ level: l }) } }, pino.destination({ dest: '/dev/null', sync: false }));
bench('pino no redact/serializers', N/4, () => plain.info(line(), 'request'));
