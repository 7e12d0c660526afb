// The I/O around the pure attestation checks: accepted EK CAs and pinned EKs (admin, audited),
// and the challenge a registration answers. See docs/devices.md ("TPM attestation").
//
//   POST /registrations/attestation/challenge  {ek_public, ek_certificate?, ak_public}
//     → the EK is trusted (chain or pin), the AK is a restricted signing key:
//       {attestation_id, nonce, credential: {id_object, encrypted_secret}, expires_on}
//   POST /registrations  {…, csr, key_protection: tpm2,
//                         attestation: {attestation_id, secret, key_public, attest, signature}}
//     → the challenge is taken (single use), the secret is ActivateCredential's, the AK certified
//       the CSR's key over the nonce: the registration is `tpm_attested`.

import {
  createHash,
  createPublicKey,
  randomBytes,
  randomUUID,
  timingSafeEqual,
  type X509Certificate,
} from 'node:crypto';
import { type Static, Type } from '@sinclair/typebox';
import { type Actor, type Clock, recordChange } from '../../authority/index.js';
import { badRequest, conflict, notFound } from '../../errors/index.js';
import { describeCertificate, parseCaChain } from '../../pki/index.js';
import type { StoreFor, TpmEkCa, TpmEkPin } from '../../store/index.js';
import { makeCredential } from './credential.js';
import { objectName, parseTpm2bPublic, spkiDer } from './tpm2.js';
import { checkAkPublic, checkEkPublic, verifyCertification, verifyEk } from './verify.js';

/** Seconds a challenge stays valid: one agent round trip through the TPM. */
export const ATTESTATION_TTL_S = 300;

const Base64 = (max: number, description: string) =>
  Type.String({ minLength: 4, maxLength: max, pattern: '^[A-Za-z0-9+/]+={0,2}$', description });

export const AttestationChallengeInput = Type.Object(
  {
    ek_public: Base64(2000, 'TPM2B_PUBLIC of the EK (base64)'),
    ek_certificate: Type.Optional(
      Base64(8000, 'the EK certificate, DER (base64), from NV 0x01c00002 / 0x01c0000a'),
    ),
    ak_public: Base64(2000, 'TPM2B_PUBLIC of the AK (base64)'),
  },
  { additionalProperties: false },
);
export type AttestationChallengeInput = Static<typeof AttestationChallengeInput>;

export const AttestationEvidence = Type.Object(
  {
    attestation_id: Type.String({ format: 'uuid' }),
    secret: Base64(200, "ActivateCredential's output (base64)"),
    key_public: Base64(2000, "TPM2B_PUBLIC of the device key (the CSR's key), base64"),
    attest: Base64(4000, 'TPMS_ATTEST from TPM2_Certify or TPM2_CertifyCreation over the nonce (base64)'),
    signature: Base64(2000, "the AK's TPMT_SIGNATURE over attest (base64)"),
  },
  {
    additionalProperties: false,
    description: 'TPM attestation of the CSR key: makes the registration tpm_attested',
  },
);
export type AttestationEvidence = Static<typeof AttestationEvidence>;

export interface AttestationChallenge {
  attestation_id: string;
  nonce: string;
  credential: { id_object: string; encrypted_secret: string };
  expires_on: string;
}

export interface AttestationResult {
  attestationId: string;
  ekVia: string;
  ekSpkiSha256: string;
}

const b64 = (s: string) => Buffer.from(s, 'base64');
const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const normalisedSpki = (der: Buffer) =>
  createPublicKey({ key: der, format: 'der', type: 'spki' }).export({ type: 'spki', format: 'der' });

export interface AttestationDeps {
  store: StoreFor<'tpmEkCas' | 'tpmEkPins' | 'tpmAttestations'>;
  now: Clock;
}

export class AttestationService {
  constructor(private readonly deps: AttestationDeps) {}

  private get store() {
    return this.deps.store;
  }

  async #trust() {
    const [cas, pins] = await Promise.all([this.store.tpmEkCas.all(), this.store.tpmEkPins.all()]);
    // Every accepted certificate (root or intermediate) is an anchor: an admin who uploads an
    // intermediate accepts the EKs it certified.
    return {
      roots: cas.map((c) => c.certificates_pem),
      pinnedSpkiSha256: new Set(pins.map((p) => p.spki_sha256)),
      at: this.deps.now(),
    };
  }

  /** Checks the EK and AK, and answers MakeCredential(EK, name(AK), secret) and a nonce. */
  async challenge(input: AttestationChallengeInput): Promise<AttestationChallenge> {
    const ek = parseTpm2bPublic(b64(input.ek_public));
    const ak = parseTpm2bPublic(b64(input.ak_public));
    checkAkPublic(ak);
    const trusted = verifyEk(
      ek,
      input.ek_certificate ? b64(input.ek_certificate) : undefined,
      await this.#trust(),
    );
    const secret = randomBytes(32);
    const nonce = randomBytes(32);
    const credential = makeCredential(ek, objectName(ak), secret);
    const now = this.deps.now();
    const row = {
      id: randomUUID(),
      nonce: nonce.toString('hex'),
      secret_sha256: sha256(secret),
      ak_public: input.ak_public,
      ek_spki_sha256: trusted.spkiSha256,
      ek_via: trusted.via,
      expires_at: new Date(now.getTime() + ATTESTATION_TTL_S * 1000).toISOString(),
      created_at: now.toISOString(),
    };
    await this.store.tpmAttestations.insert(row, now.toISOString());
    return {
      attestation_id: row.id,
      nonce: nonce.toString('base64'),
      credential: {
        id_object: credential.idObject.toString('base64'),
        encrypted_secret: credential.encryptedSecret.toString('base64'),
      },
      expires_on: row.expires_at,
    };
  }

  /**
   * Verifies a registration's evidence for the CSR key `csrSpkiDer`. The challenge is used up
   * by this call whatever the outcome: a refused attempt cannot be retried with other guesses.
   */
  async verify(evidence: AttestationEvidence, csrSpkiDer: Buffer): Promise<AttestationResult> {
    const row = await this.store.tpmAttestations.take(evidence.attestation_id, this.deps.now().toISOString());
    if (!row)
      throw badRequest(
        'attestation_unknown',
        'no pending attestation with this id (unknown, used or expired): ask for a new challenge',
      );
    const expected = Buffer.from(row.secret_sha256, 'hex');
    if (!timingSafeEqual(Buffer.from(sha256(b64(evidence.secret)), 'hex'), expected))
      throw badRequest(
        'activation_failed',
        "the secret is not the credential's: the AK and the EK are not in the same TPM",
      );
    verifyCertification({
      ak: parseTpm2bPublic(b64(row.ak_public)),
      key: parseTpm2bPublic(b64(evidence.key_public)),
      attest: b64(evidence.attest),
      signature: b64(evidence.signature),
      nonce: Buffer.from(row.nonce, 'hex'),
      csrSpki: normalisedSpki(csrSpkiDer),
    });
    return { attestationId: row.id, ekVia: row.ek_via, ekSpkiSha256: row.ek_spki_sha256 };
  }

  // --- endorsement roots (admin) ------------------------------------------------------------------

  async uploadEkCa(input: { name: string; certificatesPem: string }, actor: Actor): Promise<TpmEkCa> {
    const now = this.deps.now();
    const chain = parseCaChain(input.certificatesPem, now);
    const d = describeCertificate((chain.certificates[0] as X509Certificate).raw);
    if (await this.store.tpmEkCas.byFingerprint(d.fingerprintSha256))
      throw conflict('duplicate_ek_ca', 'this EK CA is already accepted');
    const row: TpmEkCa = {
      id: randomUUID(),
      name: input.name,
      certificates_pem: chain.certificates.map((c) => c.toString()).join(''),
      subject: d.subject,
      fingerprint_sha256: d.fingerprintSha256,
      not_after: d.notAfter.toISOString(),
      created_at: now.toISOString(),
    };
    const after = { name: row.name, subject: row.subject, fingerprint_sha256: row.fingerprint_sha256 };
    await this.store.transaction(async (tx) => {
      await tx.tpmEkCas.insert(row);
      await recordChange(
        tx,
        { actor, action: 'tpm_ek_ca.create', resourceId: row.id, before: null, after },
        now,
      );
    });
    return row;
  }

  listEkCas(): Promise<TpmEkCa[]> {
    return this.store.tpmEkCas.all();
  }

  async deleteEkCa(id: string, actor: Actor): Promise<void> {
    const row = await this.store.tpmEkCas.get(id);
    if (!row) throw notFound('TPM EK CA', id);
    const before = { name: row.name, fingerprint_sha256: row.fingerprint_sha256 };
    await this.store.transaction(async (tx) => {
      if (!(await tx.tpmEkCas.delete(id))) throw notFound('TPM EK CA', id);
      await recordChange(
        tx,
        { actor, action: 'tpm_ek_ca.delete', resourceId: id, before, after: null },
        this.deps.now(),
      );
    });
  }

  /** Pins an EK by its public key: the TPM is trusted without an EK certificate. */
  async pinEk(
    input: { name: string; ek_public?: string; spki_sha256?: string },
    actor: Actor,
  ): Promise<TpmEkPin> {
    let hash = input.spki_sha256?.toLowerCase();
    if (input.ek_public !== undefined) {
      if (hash !== undefined) throw badRequest('invalid_pin', 'give ek_public or spki_sha256, not both');
      const ek = parseTpm2bPublic(b64(input.ek_public));
      checkEkPublic(ek);
      hash = sha256(spkiDer(ek));
    }
    if (!hash) throw badRequest('invalid_pin', 'give ek_public (TPM2B_PUBLIC, base64) or spki_sha256');
    if (await this.store.tpmEkPins.bySpki(hash))
      throw conflict('duplicate_ek_pin', 'this EK is already pinned');
    const row: TpmEkPin = {
      id: randomUUID(),
      name: input.name,
      spki_sha256: hash,
      created_at: this.deps.now().toISOString(),
    };
    const after = { name: row.name, spki_sha256: row.spki_sha256 };
    await this.store.transaction(async (tx) => {
      await tx.tpmEkPins.insert(row);
      await recordChange(
        tx,
        { actor, action: 'tpm_ek_pin.create', resourceId: row.id, before: null, after },
        this.deps.now(),
      );
    });
    return row;
  }

  listEkPins(): Promise<TpmEkPin[]> {
    return this.store.tpmEkPins.all();
  }

  async deleteEkPin(id: string, actor: Actor): Promise<void> {
    const row = await this.store.tpmEkPins.get(id);
    if (!row) throw notFound('TPM EK pin', id);
    const before = { name: row.name, spki_sha256: row.spki_sha256 };
    await this.store.transaction(async (tx) => {
      if (!(await tx.tpmEkPins.delete(id))) throw notFound('TPM EK pin', id);
      await recordChange(
        tx,
        { actor, action: 'tpm_ek_pin.delete', resourceId: id, before, after: null },
        this.deps.now(),
      );
    });
  }
}
