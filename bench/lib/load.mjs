// The load generator: wrk with the mTLS shim (bench/lib/mtls_shim.c) preloaded.
//
// wrk alone cannot present a client certificate, and on reconnect it silently resumes the TLS
// session; the shim loads the certificate, drops cached sessions (every handshake is full) and
// sets SNI (wrk would send the URL's host, 127.0.0.1). `openssl s_time` has no -servername
// and makes one connection at a time, so it cannot load two server cores.

import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SERVER_NAME } from './certs.mjs';

const SHIM_SOURCE = fileURLToPath(new URL('./mtls_shim.c', import.meta.url));
const REPORT_SCRIPT = fileURLToPath(new URL('./wrk-report.lua', import.meta.url));

/** Compile the shim into dir (a few hundred ms); returns the .so path. */
export function buildShim(dir) {
  const out = join(dir, 'mtls_shim.so');
  execFileSync('gcc', ['-O2', '-shared', '-fPIC', '-o', out, SHIM_SOURCE, '-ldl', '-lssl', '-lcrypto'], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  return out;
}

let runCounter = 0;

/**
 * Run wrk once.
 * @param {object} o
 * @param {string} o.shim       path of mtls_shim.so
 * @param {string} o.tmpDir     where the shim writes its counters
 * @param {number} o.port
 * @param {{cert?: string, key?: string, certList?: string, keyList?: string, listOffset?: number}} o.client
 *   certificate wrk presents, or lists of certificates and keys presented in turn (shim)
 * @param {string} [o.serverName]  SNI and Host (default SERVER_NAME)
 * @param {boolean} o.newConnectionEachRequest  `Connection: close`: one full handshake per request
 * @param {number} o.seconds
 * @param {number} o.connections
 * @param {number} o.threads
 * @returns {Promise<{seconds, requests, non2xx, errors: {connect, read, write, timeout},
 *   attempts, handshakes, resumed, cpuSeconds (wrk's own CPU), p50Ms, p99Ms}>}
 */
export function runWrk(o) {
  const statsFile = join(o.tmpDir, `shim-stats-${process.pid}-${++runCounter}.txt`);
  const args = [
    '-t',
    String(o.threads),
    '-c',
    String(o.connections),
    '-d',
    `${o.seconds}s`,
    '--timeout',
    '5s',
    '-s',
    REPORT_SCRIPT,
    '-H',
    `Host: ${o.serverName ?? SERVER_NAME}`,
    ...(o.newConnectionEachRequest ? ['-H', 'Connection: close'] : []),
    `https://127.0.0.1:${o.port}/`,
  ];
  const env = {
    ...process.env,
    LD_PRELOAD: o.shim,
    ...(o.client.certList
      ? {
          MTLS_CERT_LIST: o.client.certList,
          MTLS_KEY_LIST: o.client.keyList,
          MTLS_LIST_OFFSET: String(o.client.listOffset ?? 0),
        }
      : { MTLS_CERT: o.client.cert, MTLS_KEY: o.client.key }),
    MTLS_SNI: o.serverName ?? SERVER_NAME,
    MTLS_NO_RESUME: '1',
    MTLS_STATS: statsFile,
  };
  return new Promise((resolve, reject) => {
    // Not detached: wrk stops by itself after -d, and dies with our process group on Ctrl-C.
    const child = spawn('wrk', args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      const m = out.match(/WRK_JSON (\{.*\})/);
      if (code !== 0 || !m) {
        reject(new Error(`wrk failed (${signal ?? code}):\n${out.trim()}`));
        return;
      }
      const w = JSON.parse(m[1]);
      const s = readShimStats(statsFile);
      resolve({
        seconds: w.duration_us / 1e6,
        requests: w.requests,
        non2xx: w.status,
        errors: { connect: w.connect, read: w.read, write: w.write, timeout: w.timeout },
        ...s,
        p50Ms: w.p50_us / 1000,
        p99Ms: w.p99_us / 1000,
      });
    });
  });
}

function readShimStats(file) {
  try {
    const text = readFileSync(file, 'utf8');
    const get = (k) => Number(text.match(new RegExp(`${k}=(\\d+)`))?.[1] ?? NaN);
    return {
      attempts: get('attempts'),
      handshakes: get('handshakes'),
      resumed: get('resumed'),
      cpuSeconds: get('cpu_us') / 1e6,
    };
  } catch {
    throw new Error(`the mTLS shim wrote no counters (${file}): was it preloaded?`);
  } finally {
    rmSync(file, { force: true });
  }
}
