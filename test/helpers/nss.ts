// NSS databases built with Debian's certutil and pk12util, the way a Linux machine's
// /etc/pki/nssdb is filled: certificates with their keys from PKCS#12, CA certificates alone.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { requireTool, runOk } from './tools.js';

/** A new empty NSS database (no password) in `dir`. */
export async function makeNssDb(dir: string): Promise<string> {
  mkdirSync(dir, { recursive: true });
  await runOk(requireTool('certutil'), ['-N', '-d', `sql:${dir}`, '--empty-password']);
  return dir;
}

/** Imports a certificate with its key (through a PKCS#12 made by openssl) under `nickname`. */
export async function importWithKey(
  db: string,
  nickname: string,
  cert: { certPath: string; keyPath: string },
): Promise<void> {
  const p12 = join(db, `${nickname.replace(/\W/g, '_')}.p12`);
  await runOk(requireTool('openssl'), [
    'pkcs12',
    '-export',
    '-in',
    cert.certPath,
    '-inkey',
    cert.keyPath,
    '-out',
    p12,
    '-passout',
    'pass:import',
    '-name',
    nickname,
  ]);
  await runOk(requireTool('pk12util'), ['-i', p12, '-d', `sql:${db}`, '-W', 'import']);
}

/** Imports a certificate alone (no key): `trust` `C,,` for a CA, `,,` for anything else. */
export async function importCertificate(db: string, nickname: string, certPath: string, trust = ',,') {
  await runOk(requireTool('certutil'), [
    '-A',
    '-d',
    `sql:${db}`,
    '-n',
    nickname,
    '-t',
    trust,
    '-a',
    '-i',
    certPath,
  ]);
}

/** Deletes a certificate (and its key) from the database. */
export async function deleteCertificate(db: string, nickname: string): Promise<void> {
  await runOk(requireTool('certutil'), ['-F', '-d', `sql:${db}`, '-n', nickname]);
}
