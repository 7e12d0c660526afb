// One mTLS request to a stack, as a sanity check before measuring: does a legitimate client get
// the origin's 200, is an unknown CA's certificate refused, and how many TLS 1.3 session
// tickets does the server send (each one is server work the load generator never uses).

import { readFileSync } from 'node:fs';
import { connect } from 'node:tls';
import { SERVER_NAME } from './certs.mjs';

const TIMEOUT_MS = 5000;
// Tickets arrive after the handshake, just before or with the response; wait this long after
// the response for stragglers.
const TICKET_GRACE_MS = 100;

/**
 * @param {{ port: number, certFile?: string, keyFile?: string, serverCaFile: string }} opts
 * @returns {Promise<{ status: number | null, tickets: number, error?: string, protocol?: string }>}
 */
export function probe({ port, certFile, keyFile, serverCaFile }) {
  return new Promise((resolve) => {
    let tickets = 0;
    let response = '';
    let protocol;
    let settled = false;
    const done = (error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      const m = response.match(/^HTTP\/1\.[01] (\d{3})/);
      resolve({ status: m ? Number(m[1]) : null, tickets, protocol, ...(error && !m ? { error } : {}) });
    };
    const socket = connect({
      host: '127.0.0.1',
      port,
      servername: SERVER_NAME,
      ca: readFileSync(serverCaFile),
      ...(certFile ? { cert: readFileSync(certFile), key: readFileSync(keyFile) } : {}),
      minVersion: 'TLSv1.3',
    });
    const timer = setTimeout(() => done('timeout'), TIMEOUT_MS);
    socket.on('secureConnect', () => {
      protocol = socket.getProtocol();
      socket.write(`GET /probe HTTP/1.1\r\nHost: ${SERVER_NAME}\r\nConnection: close\r\n\r\n`);
    });
    socket.on('session', () => tickets++);
    socket.on('data', (chunk) => {
      response += chunk.toString('latin1');
      if (/\r\n\r\n/.test(response)) setTimeout(() => done(), TICKET_GRACE_MS);
    });
    socket.on('end', () => setTimeout(() => done(), TICKET_GRACE_MS));
    socket.on('error', (err) => done(err.code ?? err.message));
  });
}

/**
 * Check a stack end to end; throws with a readable reason when it is not usable.
 * @returns {{ tickets: number }} what the legitimate probe saw
 */
export async function checkStack(stack, certs) {
  const base = { port: stack.port, serverCaFile: certs.serverCaCert };
  const good = await probe({ ...base, certFile: certs.clientCert, keyFile: certs.clientKey });
  if (good.status !== 200) {
    throw new Error(`${stack.name}: legitimate client got ${good.status ?? good.error}, expected 200`);
  }
  const rogue = await probe({ ...base, certFile: certs.rogueCert, keyFile: certs.rogueKey });
  if (rogue.status !== null && rogue.status < 400) {
    throw new Error(`${stack.name}: a certificate from an unknown CA got ${rogue.status} (must be refused)`);
  }
  const none = await probe(base);
  if (none.status !== null && none.status < 400) {
    throw new Error(`${stack.name}: a client without certificate got ${none.status} (must be refused)`);
  }
  const refusal = (r) =>
    r.status !== null ? `HTTP ${r.status}` : `connection closed (${r.error ?? 'no response'})`;
  return { tickets: good.tickets, protocol: good.protocol, rogue: refusal(rogue), noCert: refusal(none) };
}
