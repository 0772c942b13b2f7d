/**
 * The peers trackgate is compared with, configured in the run's temp dir and proxying to the same
 * upstream: nginx (1 worker, upstream keep-alive; no auth, auth_basic apr1, auth_basic bcrypt cost 5, one
 * server block each) and Apache httpd (event MPM, mod_proxy_http with keep-alive; mod_auth_digest, and a
 * no-auth reference vhost).
 */
import { mkdirSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { run } from './procs.js';
import { REALM } from './fixtures.js';

const isRoot = process.getuid?.() === 0;

/** The unprivileged account nginx/apache workers run as when started by root. */
export async function workerUser() {
  for (const u of ['www-data', 'nobody']) {
    const r = await run(['id', '-gn', u]);
    if (r.code === 0) return { user: u, group: r.stdout.trim() };
  }
  return { user: 'nobody', group: 'nogroup' };
}

export async function nginxConfig(dir, { upstreamPort, ports }) {
  const root = join(dir, 'nginx');
  mkdirSync(join(root, 'tmp'), { recursive: true });
  chmodSync(root, 0o755);
  const { user, group } = await workerUser();
  const server = (port, auth) => `
  server {
    listen 127.0.0.1:${port};
    location / {
${auth === undefined ? '' : `      auth_basic "${REALM}";\n      auth_basic_user_file ${join(dir, auth)};\n`}      proxy_pass http://up;
    }
  }`;
  const conf = `${isRoot ? `user ${user} ${group};` : ''}
worker_processes 1;
daemon off;
master_process on;
pid ${join(root, 'nginx.pid')};
error_log ${join(root, 'error.log')} warn;
events { worker_connections 4096; multi_accept on; }
http {
  access_log off;
  client_body_temp_path ${join(root, 'tmp', 'body')};
  proxy_temp_path ${join(root, 'tmp', 'proxy')};
  fastcgi_temp_path ${join(root, 'tmp', 'fastcgi')};
  uwsgi_temp_path ${join(root, 'tmp', 'uwsgi')};
  scgi_temp_path ${join(root, 'tmp', 'scgi')};
  keepalive_requests 10000000;
  keepalive_timeout 120s;
  upstream up {
    server 127.0.0.1:${upstreamPort};
    keepalive 64;
    keepalive_requests 10000000;
    keepalive_timeout 120s;
  }
  proxy_http_version 1.1;
  proxy_set_header Connection "";
  # Responses are buffered in memory only (a 1 MiB body fits; nothing goes to temp files).
  proxy_buffer_size 16k;
  proxy_buffers 64 16k;
  proxy_busy_buffers_size 64k;
  proxy_max_temp_file_size 0;
${server(ports.noauth)}
${server(ports.apr1, 'htpasswd-apr1')}
${server(ports.bcrypt, 'htpasswd-bcrypt')}
}
`;
  const file = join(root, 'nginx.conf');
  writeFileSync(file, conf);
  return { file, argv: ['nginx', '-p', root, '-c', file] };
}

const MODULES = ['mpm_event', 'authn_core', 'authn_file', 'authz_core', 'authz_user', 'auth_digest', 'proxy', 'proxy_http'];

export async function apacheConfig(dir, { upstreamPort, ports, modulesDir = '/usr/lib/apache2/modules', binary = 'apache2' }) {
  const root = join(dir, 'apache');
  mkdirSync(root, { recursive: true });
  chmodSync(root, 0o777);
  const { user, group } = await workerUser();
  const proxy = `  ProxyPass "/" "http://127.0.0.1:${upstreamPort}/" keepalive=On
  ProxyPassReverse "/" "http://127.0.0.1:${upstreamPort}/"`;
  const conf = `ServerRoot "${root}"
DefaultRuntimeDir "${root}"
PidFile "${join(root, 'httpd.pid')}"
Mutex file:${root} default
ServerName 127.0.0.1
${MODULES.map((m) => `LoadModule ${m}_module ${join(modulesDir, `mod_${m}.so`)}`).join('\n')}
${isRoot ? `User ${user}\nGroup ${group}` : ''}
ErrorLog "${join(root, 'error.log')}"
LogLevel warn
Listen 127.0.0.1:${ports.digest}
Listen 127.0.0.1:${ports.noauth}
KeepAlive On
MaxKeepAliveRequests 0
KeepAliveTimeout 120
Timeout 60
# One process, enough threads for every connection (the whole server is pinned to one CPU anyway).
StartServers 1
ServerLimit 1
ThreadLimit 64
ThreadsPerChild 64
MaxRequestWorkers 64
MinSpareThreads 1
MaxSpareThreads 64
MaxConnectionsPerChild 0
<VirtualHost 127.0.0.1:${ports.digest}>
  <Location "/">
    AuthType Digest
    AuthName "${REALM}"
    AuthDigestProvider file
    AuthUserFile "${join(dir, 'htdigest')}"
    AuthDigestNonceLifetime 86400
    Require valid-user
  </Location>
${proxy}
</VirtualHost>
<VirtualHost 127.0.0.1:${ports.noauth}>
${proxy}
</VirtualHost>
`;
  const file = join(root, 'apache2.conf');
  writeFileSync(file, conf);
  const check = await run([binary, '-t', '-f', file]);
  if (check.code !== 0) throw new Error(`apache2 -t: ${check.stderr || check.stdout}`);
  return { file, argv: [binary, '-f', file, '-DFOREGROUND'] };
}
