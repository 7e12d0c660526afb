// The bare Node stack: bench/servers/bare-proxy.mjs as a cluster of 2, tickets off.

import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnServer, stopServer, waitForLog } from '../lib/procs.mjs';

const SERVER = fileURLToPath(new URL('../servers/bare-proxy.mjs', import.meta.url));

export async function startBareNode(
  dir,
  { port, originUrl, certs, opensslConf, workers = 2, nodeArgs = [], refuse = 'close', sniCallback = false },
) {
  const child = spawnServer(
    process.execPath,
    [
      ...nodeArgs, // cluster workers inherit them
      SERVER,
      '--port',
      String(port),
      '--origin',
      originUrl,
      '--cert',
      certs.serverChain,
      '--key',
      certs.serverKey,
      '--ca',
      certs.clientCaCert,
      '--workers',
      String(workers),
      '--refuse',
      refuse,
      ...(sniCallback ? ['--sni-callback'] : []),
    ],
    {
      logFile: join(dir, `bare-node-${refuse}${sniCallback ? '-sni' : ''}.log`),
      env: { OPENSSL_CONF: opensslConf },
    },
  );
  await waitForLog(child, /bare node proxy listening on/, { what: 'bare Node proxy' });
  return {
    name: refuse === '403' ? 'bare403' : sniCallback ? 'baresni' : 'bare',
    label: refuse === '403' ? 'bare Node 403' : sniCallback ? 'bare Node SNI' : 'bare Node',
    pid: child.pid,
    port,
    version: `Node ${process.version} (OpenSSL ${process.versions.openssl}), undici`,
    config: `node:https + undici Pool, cluster ×${workers} SCHED_NONE, tickets off${refuse === '403' ? ', refused clients get a node:http 403' : ''}${sniCallback ? ', context chosen in an SNICallback' : ''}`,
    stop: () => stopServer(child),
  };
}
