// An attestable device key that is also the TLS key: tpm2_create makes it under the tpm2-pkcs11
// token's primary object (keeping the creation ticket TPM2_CertifyCreation needs), then
// `tpm2_ptool link` adds it to the token, where the agent finds it like any key it created
// through PKCS#11 (CSRs, the TLS handshake through the engine, renewal, deletion).

import { createHash, randomBytes } from 'node:crypto';
import { execFile, execFileSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadDeviceKey } from '../keys/index.js';
import { DEFAULT_TPM2_TOKEN } from '../keys/paths.js';
import type { DeviceKey, KeyProviderOptions } from '../keys/types.js';
import { parseTpm2bPublic, spkiDer } from '../../devices/attestation/index.js';
import { certifyCreation, tpm2, tpmError, type TpmToolsOptions } from './tpm-tools.js';

/** fixedTPM|fixedParent: never leaves this TPM; sensitiveDataOrigin: made inside it; sign only. */
export const ATTESTED_KEY_ATTRIBUTES = 'fixedtpm|fixedparent|sensitivedataorigin|userwithauth|sign';

export interface AttestableKey {
  key: DeviceKey;
  /** TPM2B_PUBLIC of the key. */
  keyPublic: Buffer;
  /** TPM2_CertifyCreation of the key by `akContext` over `nonce`. */
  certify(akContext: string, nonce: Buffer): Promise<{ attest: Buffer; signature: Buffer }>;
}

/**
 * Reads the token's primary object from the tpm2-pkcs11 store (SQLite) through python3's sqlite3
 * module, read-only: the agent runs on the engine's Node (20 on Debian 12), which has no
 * node:sqlite, and python3 is already there for tpm2_ptool. The label travels as an argument.
 */
const READ_TOKEN_PRIMARY = [
  'import json, pathlib, sqlite3, sys',
  "db = sqlite3.connect(pathlib.Path(sys.argv[1]).resolve().as_uri() + '?mode=ro', uri=True)",
  "row = db.execute('SELECT p.config, p.objauth FROM tokens t JOIN pobjects p ON t.pid = p.id WHERE t.label = ?', (sys.argv[2],)).fetchone()",
  "print(json.dumps(None if row is None else {'config': row[0], 'objauth': row[1]}))",
].join('\n');

/** The persistent handle of the token's primary object, from the tpm2-pkcs11 store. */
function tokenParent(store: string, token: string): string {
  let row: { config: string; objauth: string } | null;
  try {
    // Read-only (mode=ro): a missing file is an error, never an empty new store.
    const out = execFileSync(
      'python3',
      ['-c', READ_TOKEN_PRIMARY, join(store, 'tpm2_pkcs11.sqlite3'), token],
      {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    row = JSON.parse(out) as typeof row;
  } catch (err) {
    throw tpmError(`cannot read the tpm2-pkcs11 store in ${store}`, err);
  }
  if (!row) throw tpmError(`no token ${JSON.stringify(token)} in the tpm2-pkcs11 store ${store}`);
  // The primary is kept as a serialised ESYS_TR whose first 4 bytes are the TPM handle.
  const esysTr = /"esys-tr"\s*:\s*!!str\s*"([0-9a-f]{8})/.exec(row.config)?.[1];
  if (!esysTr || /"transient"\s*:\s*!!bool\s*"true"/.test(row.config) || row.objauth !== '')
    throw tpmError('attestation needs a token whose primary object is persistent and has no auth value');
  return `0x${esysTr}`;
}

/** Runs tpm2_ptool with the PIN and the key's auth read from files, never on a command line. */
function ptoolLink(
  args: {
    store: string;
    token: string;
    label: string;
    id: string;
    pinFile: string;
    authFile: string;
    pub: string;
    priv: string;
  },
  env: NodeJS.ProcessEnv,
): Promise<void> {
  const script = [
    'import os, sys',
    "pin = open(os.environ['GH_PIN_FILE']).read().rstrip('\\n')",
    "auth = open(os.environ['GH_AUTH_FILE']).read()",
    "sys.argv = ['tpm2_ptool', 'link', '--label', os.environ['GH_TOKEN'], '--key-label', os.environ['GH_LABEL'], '--id', os.environ['GH_ID'], '--userpin', pin, '--auth', auth, '--path', os.environ['GH_STORE'], os.environ['GH_PUB'], os.environ['GH_PRIV']]",
    'from tpm2_pkcs11.tpm2_ptool import main',
    'main()',
  ].join('\n');
  return new Promise((resolve, reject) => {
    const child = execFile(
      '/usr/bin/python3',
      ['-'],
      {
        env: {
          ...env,
          GH_PIN_FILE: args.pinFile,
          GH_AUTH_FILE: args.authFile,
          GH_TOKEN: args.token,
          GH_LABEL: args.label,
          GH_ID: args.id,
          GH_STORE: args.store,
          GH_PUB: args.pub,
          GH_PRIV: args.priv,
        },
        timeout: 60_000,
        encoding: 'utf8',
      },
      (err, _stdout, stderr) =>
        err
          ? reject(
              tpmError(`tpm2_ptool link failed: ${stderr.trim().split('\n').slice(-2).join(' / ')}`, err),
            )
          : resolve(),
    );
    child.stdin?.end(script);
  });
}

/** Creates the device key in the TPM under the token's primary and links it into the token. */
export async function createAttestableKey(
  opts: KeyProviderOptions,
  label: string,
  tools: TpmToolsOptions,
): Promise<AttestableKey> {
  const store = opts.tpm2PkcsStore ?? process.env.TPM2_PKCS11_STORE;
  if (!store) throw tpmError('attestation needs the tpm2-pkcs11 store directory (--tpm2-pkcs11-store)');
  if (!opts.pkcs11PinFile) throw tpmError('attestation needs the token PIN file (--pkcs11-pin-file)');
  const token = opts.pkcs11Token ?? DEFAULT_TPM2_TOKEN;
  const parent = tokenParent(store, token);
  const w = (f: string) => join(tools.workDir, f);
  await writeFile(w('key.auth'), randomBytes(16).toString('hex'), { mode: 0o600 });
  await tpm2(tools, 'tpm2_create', [
    '-C',
    parent,
    '-G',
    'ecc256:null',
    '-a',
    ATTESTED_KEY_ATTRIBUTES,
    '-p',
    `file:${w('key.auth')}`,
    '-u',
    w('key.pub'),
    '-r',
    w('key.priv'),
    '-d',
    w('key.hash'),
    '-t',
    w('key.ticket'),
  ]);
  const keyPublic = await readFile(w('key.pub'));
  const id = randomBytes(8).toString('hex');
  await ptoolLink(
    {
      store,
      token,
      label,
      id,
      pinFile: opts.pkcs11PinFile,
      authFile: w('key.auth'),
      pub: w('key.pub'),
      priv: w('key.priv'),
    },
    { ...process.env, ...tools.env, TPM2TOOLS_TCTI: tools.tcti, TPM2_PKCS11_TCTI: tools.tcti },
  );
  const spkiSha256 = createHash('sha256')
    .update(spkiDer(parseTpm2bPublic(keyPublic)))
    .digest('hex');
  // tpm2_ptool stores the id string's bytes as CKA_ID; references keep CKA_ID in hex.
  const ckaId = Buffer.from(id, 'latin1').toString('hex');
  const key = await loadDeviceKey(opts, {
    provider: 'tpm2',
    token,
    id: ckaId,
    label,
    spkiSha256,
    ...(opts.pkcs11Module ? { module: opts.pkcs11Module } : {}),
  });
  return {
    key,
    keyPublic,
    async certify(akContext, nonce) {
      await tpm2(tools, 'tpm2_load', [
        '-C',
        parent,
        '-u',
        w('key.pub'),
        '-r',
        w('key.priv'),
        '-c',
        w('key.ctx'),
      ]);
      return certifyCreation(tools, {
        akContext,
        keyContext: w('key.ctx'),
        creationHash: w('key.hash'),
        creationTicket: w('key.ticket'),
        nonce,
      });
    },
  };
}
