// The agent's side of TPM attestation, through tpm2-tools (Debian's tpm2-tools 5.4): the EK and
// its certificate, an AK under the EK, TPM2_CertifyCreation of the device key over the server's
// nonce, and TPM2_ActivateCredential. Each call is one tpm2-tools process; objects travel between
// them as context files in a private work dir (0700), which the caller removes.
//
// TPM2_CertifyCreation rather than TPM2_Certify: tpm2_certify of tpm2-tools 5.4 cannot pass
// qualifying data (the nonce), tpm2_certifycreation can; and it also proves the TPM itself
// created the key (the creation ticket is an HMAC only this TPM can make).

import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GatehouseError } from '../../errors/index.js';

/** NV indexes of the EK certificates (TCG EK Credential Profile §2.2.1.5). */
export const EK_CERT_NV_INDEX = { rsa: 0x01c00002, ecc: 0x01c0000a } as const;

export interface TpmToolsOptions {
  /** TCTI of the TPM (TPM2TOOLS_TCTI), e.g. device:/dev/tpmrm0. */
  tcti: string;
  /** Private work dir (0700) for context files. */
  workDir: string;
  /** Extra environment (e.g. DBUS_SESSION_BUS_ADDRESS for tabrmd). */
  env?: Record<string, string>;
}

export const tpmError = (message: string, cause?: unknown) =>
  new GatehouseError('tpm_error', message, 400, cause === undefined ? undefined : { cause });

/** Runs one tpm2-tools command; `tpm_error` with its stderr when it fails. */
export function tpm2(opts: TpmToolsOptions, tool: string, args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      tool,
      args,
      {
        cwd: opts.workDir,
        env: { ...process.env, ...opts.env, TPM2TOOLS_TCTI: opts.tcti },
        timeout: 60_000,
        encoding: 'utf8',
      },
      (err, stdout, stderr) => {
        if (err)
          reject(
            tpmError(
              `${tool} failed: ${(stderr || err.message).trim().split('\n').slice(-3).join(' / ')}`,
              err,
            ),
          );
        else resolve(stdout);
      },
    );
  });
}

const path = (opts: TpmToolsOptions, name: string) => join(opts.workDir, name);

/** DER of one certificate at the start of `buf`: NV indexes are often larger than the certificate. */
export function trimDer(buf: Buffer): Buffer {
  if (buf.length < 2 || buf[0] !== 0x30) return buf;
  const first = buf[1] as number;
  if (first < 0x80) return buf.subarray(0, 2 + first);
  const n = first & 0x7f;
  if (n === 0 || n > 4 || buf.length < 2 + n) return buf;
  let len = 0;
  for (let i = 0; i < n; i++) len = len * 256 + (buf[2 + i] as number);
  return buf.subarray(0, Math.min(buf.length, 2 + n + len));
}

export interface Endorsement {
  /** TPM2B_PUBLIC of the EK. */
  ekPublic: Buffer;
  /** The EK certificate (DER) from its NV index, when the TPM has one. */
  ekCertificate?: Buffer;
  /** Context file of the EK (loaded for ActivateCredential). */
  ekContext: string;
}

/** The EK from the TCG default template (RSA-2048 or ECC P-256) and its certificate from NV. */
export async function createEndorsement(
  opts: TpmToolsOptions,
  alg: 'rsa' | 'ecc' = 'rsa',
): Promise<Endorsement> {
  const ekContext = path(opts, 'ek.ctx');
  await tpm2(opts, 'tpm2_createek', ['-c', ekContext, '-G', alg, '-u', path(opts, 'ek.pub')]);
  const ekPublic = await readFile(path(opts, 'ek.pub'));
  let ekCertificate: Buffer | undefined;
  try {
    await tpm2(opts, 'tpm2_nvread', [
      '-o',
      path(opts, 'ekcert.der'),
      `0x${EK_CERT_NV_INDEX[alg].toString(16)}`,
    ]);
    ekCertificate = trimDer(await readFile(path(opts, 'ekcert.der')));
  } catch {
    // No EK certificate in NV: the server then needs the EK public key pinned.
    ekCertificate = undefined;
  }
  return { ekPublic, ...(ekCertificate ? { ekCertificate } : {}), ekContext };
}

/** A restricted signing AK (ECDSA P-256 / SHA-256) in the endorsement hierarchy, under the EK. */
export async function createAttestationKey(
  opts: TpmToolsOptions,
  ekContext: string,
): Promise<{ akPublic: Buffer; akContext: string }> {
  const akContext = path(opts, 'ak.ctx');
  await tpm2(opts, 'tpm2_createak', [
    '-C',
    ekContext,
    '-c',
    akContext,
    '-G',
    'ecc',
    '-g',
    'sha256',
    '-s',
    'ecdsa',
    '-u',
    path(opts, 'ak.pub'),
  ]);
  return { akPublic: await readFile(path(opts, 'ak.pub')), akContext };
}

/** TPM2_CertifyCreation of the device key by the AK over `nonce`: TPMS_ATTEST and TPMT_SIGNATURE. */
export async function certifyCreation(
  opts: TpmToolsOptions,
  args: {
    akContext: string;
    keyContext: string;
    creationHash: string;
    creationTicket: string;
    nonce: Buffer;
  },
): Promise<{ attest: Buffer; signature: Buffer }> {
  await tpm2(opts, 'tpm2_certifycreation', [
    '-C',
    args.akContext,
    '-c',
    args.keyContext,
    '-d',
    args.creationHash,
    '-t',
    args.creationTicket,
    '-g',
    'sha256',
    '-s',
    'ecdsa',
    '-f',
    'tss',
    '-q',
    args.nonce.toString('hex'),
    '-o',
    path(opts, 'certify.sig'),
    '--attestation',
    path(opts, 'certify.attest'),
  ]);
  return {
    attest: await readFile(path(opts, 'certify.attest')),
    signature: await readFile(path(opts, 'certify.sig')),
  };
}

/** tpm2-tools' credential file: magic 0xBADCC0DE, version 1, TPM2B_ID_OBJECT, TPM2B_ENCRYPTED_SECRET. */
export function credentialFile(idObject: Buffer, encryptedSecret: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(0xbadcc0de, 0);
  head.writeUInt32BE(1, 4);
  const b2 = (b: Buffer) => {
    const s = Buffer.alloc(2);
    s.writeUInt16BE(b.length);
    return Buffer.concat([s, b]);
  };
  return Buffer.concat([head, b2(idObject), b2(encryptedSecret)]);
}

/** TPM2_ActivateCredential: the secret, recovered only when the AK and EK share this TPM. */
export async function activateCredential(
  opts: TpmToolsOptions,
  args: { akContext: string; ekContext: string; idObject: Buffer; encryptedSecret: Buffer },
): Promise<Buffer> {
  const session = path(opts, 'session.ctx');
  await writeFile(path(opts, 'credential.in'), credentialFile(args.idObject, args.encryptedSecret), {
    mode: 0o600,
  });
  // The EK's policy is PolicySecret(endorsement hierarchy).
  await tpm2(opts, 'tpm2_startauthsession', ['--policy-session', '-S', session]);
  try {
    await tpm2(opts, 'tpm2_policysecret', ['-S', session, '-c', 'e']);
    await tpm2(opts, 'tpm2_activatecredential', [
      '-c',
      args.akContext,
      '-C',
      args.ekContext,
      '-i',
      path(opts, 'credential.in'),
      '-o',
      path(opts, 'credential.out'),
      '-P',
      `session:${session}`,
    ]);
  } finally {
    await tpm2(opts, 'tpm2_flushcontext', [session]).catch(() => undefined);
  }
  return readFile(path(opts, 'credential.out'));
}

/**
 * A P-256 signer (see ../keys/csr.ts buildCsr) for a key loaded from `keyContext`: TPM2_Sign over
 * SHA-256 of the data (tpm2_sign hashes it in the TPM), the TPMT_SIGNATURE turned into r || s.
 */
export function tpmContextSigner(
  opts: TpmToolsOptions,
  keyContext: string,
  spkiDer: Buffer,
): { spkiDer: Buffer; sign(data: Buffer): Promise<Buffer> } {
  return {
    spkiDer,
    async sign(data: Buffer): Promise<Buffer> {
      await writeFile(path(opts, 'sign.in'), data);
      await tpm2(opts, 'tpm2_sign', [
        '-c',
        keyContext,
        '-g',
        'sha256',
        '-s',
        'ecdsa',
        '-f',
        'tss',
        '-o',
        path(opts, 'sign.sig'),
        path(opts, 'sign.in'),
      ]);
      const sig = await readFile(path(opts, 'sign.sig'));
      // TPMT_SIGNATURE: sigAlg, hash, TPM2B r, TPM2B s.
      const rLen = sig.readUInt16BE(4);
      const r = sig.subarray(6, 6 + rLen);
      const s = sig.subarray(8 + rLen, 8 + rLen + sig.readUInt16BE(6 + rLen));
      const pad = (b: Buffer) => Buffer.concat([Buffer.alloc(32 - b.length), b]);
      return Buffer.concat([pad(r), pad(s)]);
    },
  };
}
