// Certificates for the edge benchmark, generated with the openssl CLI into a temp dir.
//
// Everything is ECDSA P-256 (the reference figures in shared/notes are for P-256 too):
//   client-ca    root CA the stacks trust for client certificates
//   client       client certificate signed by client-ca (what a legitimate user presents)
//   rogue-ca     a CA nobody trusts, and rogue-client signed by it (the unknown-CA flood)
//   server-ca    root that signs the server certificate; only the sanity checks use it
//   server       server certificate for SERVER_NAME (SAN); server-chain.pem is what servers send

import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const SERVER_NAME = 'bench.gatehouse.test';

const DAYS = '7';

function openssl(args, cwd) {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

function newKey(dir, name) {
  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', `${name}.key`], dir);
}

function selfSignedCa(dir, name, cn) {
  newKey(dir, name);
  // req -x509 adds subject/authority key identifiers, which path validators use to link certs.
  openssl(
    [
      'req',
      '-x509',
      '-new',
      '-key',
      `${name}.key`,
      '-out',
      `${name}.pem`,
      '-days',
      DAYS,
      '-subj',
      `/O=Gatehouse Bench/CN=${cn}`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ],
    dir,
  );
}

function leaf(dir, name, caName, cn, extensions) {
  newKey(dir, name);
  openssl(
    ['req', '-new', '-key', `${name}.key`, '-out', `${name}.csr`, '-subj', `/O=Gatehouse Bench/CN=${cn}`],
    dir,
  );
  const ext = [
    'basicConstraints=critical,CA:FALSE',
    'subjectKeyIdentifier=hash',
    'authorityKeyIdentifier=keyid',
    ...extensions,
  ].join('\n');
  writeFileSync(join(dir, `${name}.ext`), `${ext}\n`);
  openssl(
    [
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      `${caName}.pem`,
      '-CAkey',
      `${caName}.key`,
      '-set_serial',
      `0x${Date.now().toString(16)}${Math.floor(Math.random() * 1e6).toString(16)}`,
      '-days',
      DAYS,
      '-sha256',
      '-extfile',
      `${name}.ext`,
      '-out',
      `${name}.pem`,
    ],
    dir,
  );
}

/**
 * Generate all certificates into dir.
 * @returns paths (…Cert, …Key) and the PEM texts the Gatehouse API needs.
 */
export function generateCertificates(dir) {
  selfSignedCa(dir, 'client-ca', 'Bench Client CA');
  leaf(dir, 'client', 'client-ca', 'bench-client', [
    'keyUsage=critical,digitalSignature',
    'extendedKeyUsage=clientAuth',
  ]);
  selfSignedCa(dir, 'rogue-ca', 'Unknown Rogue CA');
  leaf(dir, 'rogue-client', 'rogue-ca', 'rogue-client', [
    'keyUsage=critical,digitalSignature',
    'extendedKeyUsage=clientAuth',
  ]);
  selfSignedCa(dir, 'server-ca', 'Bench Server CA');
  leaf(dir, 'server', 'server-ca', SERVER_NAME, [
    'keyUsage=critical,digitalSignature',
    'extendedKeyUsage=serverAuth',
    `subjectAltName=DNS:${SERVER_NAME}`,
  ]);
  const read = (f) => readFileSync(join(dir, f), 'utf8');
  // Servers send the leaf only (no intermediates here; roots are not sent, as in production).
  writeFileSync(join(dir, 'server-chain.pem'), read('server.pem'));
  const p = (f) => join(dir, f);
  return {
    dir,
    clientCaCert: p('client-ca.pem'),
    clientCert: p('client.pem'),
    clientKey: p('client.key'),
    rogueCert: p('rogue-client.pem'),
    rogueKey: p('rogue-client.key'),
    serverCaCert: p('server-ca.pem'),
    serverChain: p('server-chain.pem'),
    serverKey: p('server.key'),
    pem: {
      clientCa: read('client-ca.pem'),
      serverChain: read('server-chain.pem'),
      serverKey: read('server.key'),
    },
  };
}
