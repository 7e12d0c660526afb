// TPM attestation of the device key at registration (docs/devices.md): the agent's half.
//
//   const attested = await createAttestedKey(keyOptions, label);   // key in the TPM, linked into tpm2-pkcs11
//   const attestation = await attested.evidence(client);           // challenge, ActivateCredential, CertifyCreation
//   POST /registrations { …, csr: await attested.key.createCsr(…), attestation }
//   await attested.cleanup();                                       // the work dir (context files)

import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { DEFAULT_TPM_TCTI } from '../keys/paths.js';
import type { DeviceKey, KeyProviderOptions } from '../keys/types.js';
import type { ServerClient } from '../http.js';
import { createAttestableKey } from './tpm-key.js';
import {
  activateCredential,
  createAttestationKey,
  createEndorsement,
  type TpmToolsOptions,
} from './tpm-tools.js';

export interface AttestationEvidenceBody {
  attestation_id: string;
  secret: string;
  key_public: string;
  attest: string;
  signature: string;
}

export interface AttestedKey {
  key: DeviceKey;
  evidence(client: ServerClient): Promise<AttestationEvidenceBody>;
  cleanup(): Promise<void>;
}

interface Challenge {
  attestation_id: string;
  nonce: string;
  credential: { id_object: string; encrypted_secret: string };
}

const b64 = (b: Buffer) => b.toString('base64');

/** A new tpm2 device key that the server can attest (see tpm-key.ts for how it stays the TLS key). */
export async function createAttestedKey(opts: KeyProviderOptions, label: string): Promise<AttestedKey> {
  const workDir = await mkdtemp(join(opts.stateDir, '.attest-'));
  const tools: TpmToolsOptions = { tcti: opts.tpmTcti ?? DEFAULT_TPM_TCTI, workDir };
  const cleanup = () => rm(workDir, { recursive: true, force: true });
  try {
    const attestable = await createAttestableKey(opts, label, tools);
    return {
      key: attestable.key,
      cleanup,
      async evidence(client) {
        const ek = await createEndorsement(tools, 'rsa');
        const ak = await createAttestationKey(tools, ek.ekContext);
        const challenge = await client.call<Challenge>('POST', '/registrations/attestation/challenge', {
          body: {
            ek_public: b64(ek.ekPublic),
            ...(ek.ekCertificate ? { ek_certificate: b64(ek.ekCertificate) } : {}),
            ak_public: b64(ak.akPublic),
          },
        });
        const secret = await activateCredential(tools, {
          akContext: ak.akContext,
          ekContext: ek.ekContext,
          idObject: Buffer.from(challenge.credential.id_object, 'base64'),
          encryptedSecret: Buffer.from(challenge.credential.encrypted_secret, 'base64'),
        });
        const { attest, signature } = await attestable.certify(
          ak.akContext,
          Buffer.from(challenge.nonce, 'base64'),
        );
        return {
          attestation_id: challenge.attestation_id,
          secret: b64(secret),
          key_public: b64(attestable.keyPublic),
          attest: b64(attest),
          signature: b64(signature),
        };
      },
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
