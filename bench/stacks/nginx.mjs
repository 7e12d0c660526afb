// nginx instances: the reference edge, and the origin every stack proxies to.
//
// Each instance is an unprivileged-style config in its own prefix under the run's temp dir:
// loopback ports above 1024, pid/logs/temp paths in the prefix, `daemon off` so that the master
// stays our child (and the leader of the process group we kill). When the benchmark runs as
// root, nginx's workers drop to its default user as usual; nothing here needs privileges.

import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { findCommand } from '../../scripts/system-deps.mjs';
import { SERVER_NAME } from '../lib/certs.mjs';
import { spawnServer, stopServer, waitForPort } from '../lib/procs.mjs';

function nginxVersionString() {
  // `nginx -v` prints "nginx version: nginx/1.22.1" on stderr.
  const r = spawnSync(findCommand('nginx'), ['-v'], { encoding: 'utf8' });
  return `${r.stderr}${r.stdout}`.replace(/^nginx version:\s*/, '').trim();
}

function writeConf(prefix, { workers, http, workerConnections = 4096 }) {
  mkdirSync(join(prefix, 'logs'), { recursive: true });
  mkdirSync(join(prefix, 'tmp'), { recursive: true });
  const t = (name) => `${name}_temp_path ${join(prefix, 'tmp', name)};`;
  const conf = `
daemon off;
master_process on;
worker_processes ${workers};
${workerConnections > 4096 ? `worker_rlimit_nofile ${workerConnections};\n` : ''}pid ${join(prefix, 'nginx.pid')};
error_log ${join(prefix, 'logs', 'error.log')} warn;
events {
  worker_connections ${workerConnections};
}
http {
  access_log off;  # no stack logs requests in this benchmark
  ${t('client_body')} ${t('proxy')} ${t('fastcgi')} ${t('uwsgi')} ${t('scgi')}
  # wrk keeps its connections for the whole measurement
  keepalive_requests 10000000;
  keepalive_timeout 300s;
${http}
}
`;
  const file = join(prefix, 'nginx.conf');
  writeFileSync(file, conf);
  return file;
}

async function startNginx(prefix, port, confFile, what, env = {}, spawn = spawnServer) {
  const nginx = findCommand('nginx');
  // -e: nginx 1.22 would otherwise try its compiled-in error log before reading our config.
  const child = spawn(nginx, ['-p', prefix, '-e', join(prefix, 'logs', 'error.log'), '-c', confFile], {
    logFile: join(prefix, 'logs', 'stdout.log'),
    env,
  });
  await waitForPort(port, { child, what });
  return child;
}

/**
 * The origin: nginx answering a static 200 from memory. Cheaper per request than any Node
 * server (about a third of node:http's CPU), so on 2 shared cores it takes the smallest possible
 * share of the CPU away from the stack under test and does not cap the fastest stack first.
 */
export async function startOrigin(dir, port) {
  const prefix = join(dir, 'nginx-origin');
  const conf = writeConf(prefix, {
    workers: 1,
    http: `
  server {
    listen 127.0.0.1:${port} reuseport backlog=4096;
    location / {
      default_type text/plain;
      return 200 "ok\\n";
    }
  }`,
  });
  const child = await startNginx(prefix, port, conf, 'origin (nginx)');
  return { name: 'origin', pid: child.pid, url: `http://127.0.0.1:${port}`, stop: () => stopServer(child) };
}

/**
 * nginx as an mTLS edge: verify the client certificate against the client CA, proxy to the
 * origin over kept-alive upstream connections, and pass the same kind of client-certificate
 * headers that Gatehouse passes (status, serial, subject, issuer, validity, fingerprint).
 * Session tickets and the session cache are off, as for the bare Node stack: the benchmark
 * clients never resume, so tickets would only add server work (see shared notes). TLS 1.3
 * tickets need the OpenSSL configuration from lib/openssl-conf.mjs on top of the directives.
 */
export async function startNginxEdge(
  dir,
  { port, originPort, certs, opensslConf, workerConnections, wrap = spawnServer, name = 'nginx-edge' },
) {
  // workerConnections/wrap: bench/scale.mjs holds 10,000 idle connections (and raises the fd
  // limit with `ulimit -n` in a wrapping shell).
  const prefix = join(dir, name);
  const conf = writeConf(prefix, {
    workers: 2,
    workerConnections,
    http: `
  upstream origin {
    server 127.0.0.1:${originPort};
    keepalive 128;
    keepalive_requests 10000000;
  }
  server {
    listen 127.0.0.1:${port} ssl backlog=4096;
    server_name ${SERVER_NAME};
    ssl_certificate ${certs.serverChain};
    ssl_certificate_key ${certs.serverKey};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_client_certificate ${certs.clientCaCert};
    ssl_verify_client on;
    ssl_verify_depth 3;
    ssl_session_tickets off;
    ssl_session_cache off;
    location / {
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_set_header X-Forwarded-Proto https;
      proxy_set_header X-Forwarded-Host $host;
      proxy_set_header Gatehouse-Client-Cert-Status $ssl_client_verify;
      proxy_set_header Gatehouse-Client-Cert-Serial $ssl_client_serial;
      proxy_set_header Gatehouse-Client-Cert-Subject $ssl_client_s_dn;
      proxy_set_header Gatehouse-Client-Cert-Issuer $ssl_client_i_dn;
      proxy_set_header Gatehouse-Client-Cert-Not-Before $ssl_client_v_start;
      proxy_set_header Gatehouse-Client-Cert-Not-After $ssl_client_v_end;
      proxy_set_header Gatehouse-Client-Cert-Sha1 $ssl_client_fingerprint;
    }
  }`,
  });
  const child = await startNginx(prefix, port, conf, 'nginx edge', { OPENSSL_CONF: opensslConf }, wrap);
  return {
    name: 'nginx',
    label: 'nginx',
    pid: child.pid,
    port,
    version: nginxVersionString(),
    config: 'nginx, 2 workers, tickets and session cache off, upstream keep-alive',
    stop: () => stopServer(child),
  };
}
