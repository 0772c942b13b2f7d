import { execFileSync } from 'node:child_process';
import { it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { startRecordingUpstream } from '../helpers/recording-upstream.js';
import { DEMO, startTrackgate } from '../helpers/trackgate.js';
it('curl trace', async () => {
  const up = await startRecordingUpstream();
  const g = await startTrackgate({ upstreamUrl: up.url, config: { authn: { digest: { realm: 'GPS Data Web Service', algorithms: ['SHA-512-256', 'SHA-256', 'MD5'] } } } });
  let log = '';
  for (const extra of [[], ['-X', 'POST', '-d', 'a=1']]) {
    const out = execFileSync('sh', ['-c', `/usr/bin/curl -sv --digest -u ${DEMO.user}:${DEMO.password} ${extra.join(' ')} '${g.url}/x?y=1' 2>&1 | grep -i -E "authorization|www-auth|< HTTP" ; true`]);
    log += out.toString() + '\n----\n';
  }
  log += g.logs.filter((l) => l.includes('rejected')).join('\n');
  writeFileSync('/tmp/curl-trace.txt', log);
  await g.close(); await up.close();
});
