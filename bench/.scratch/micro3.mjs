import { REDACT_PATHS, redactQuery } from '/work/main/dist/observability/log.js';
import { pino } from 'pino';
function bench(name, n, fn) {
  for (let i = 0; i < n/5; i++) fn(i);
  const rs = [];
  for (let r = 0; r < 5; r++) { const t0 = process.cpuUsage(); for (let i = 0; i < n; i++) fn(i); const d = process.cpuUsage(t0); rs.push((d.user + d.system) * 1000 / n); }
  rs.sort((a,b)=>a-b); console.log(name.padEnd(40), rs[2].toFixed(0), 'ns');
}
const dest = () => pino.destination({ dest: '/dev/null', sync: false });
const base = { level: 'info', base: { service: 'trackgate' }, timestamp: pino.stdTimeFunctions.isoTime, formatters: { level: (l) => ({ level: l }) } };
const line = () => ({ method: 'GET', path: '/v2/positions?device=bench-device', status: 200, ms: 0.42, scheme: 'basic', rid: 'b8a7f3c2-1111-4222-8333-944455556666', ip: '127.0.0.1', sub: 'bench-user', kind: 'user', cache: 'hit', fp: 'abcdefabcdefabcd' });
const N = 20000;
console.log(REDACT_PATHS.length, 'paths');
bench('plain', N, ((l) => () => l.info(line(), 'request'))(pino(base, dest())));
bench('serializers only', N, ((l) => () => l.info(line(), 'request'))(pino({ ...base, serializers: { path: (v) => redactQuery(v), url: (v) => redactQuery(v) } }, dest())));
bench('redact only', N, ((l) => () => l.info(line(), 'request'))(pino({ ...base, redact: { paths: [...REDACT_PATHS], censor: '[redacted]' } }, dest())));
bench('redact no wildcards', N, ((l) => () => l.info(line(), 'request'))(pino({ ...base, redact: { paths: REDACT_PATHS.filter(p => !p.includes('*')), censor: '[redacted]' } }, dest())));
bench('redactQuery', N*10, () => redactQuery('/v2/positions?device=bench-device'));
