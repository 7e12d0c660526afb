import { hkdfSync, X509Certificate } from 'node:crypto';
import { badRequest, conflict, GatehouseError, notFound } from '../errors/index.js';
import {
  caChainFailure,
  parseCertificate,
  type CrlReason,
  createServerCertificate,
  describeCertificate,
  isKeyAlgorithm,
  issueClientCertificate,
  openPrivateKey,
  parseAttachedCrl,
  parseCaChain,
  renewalTime,
  sealPrivateKey,
  type Signer,
  verifyCsr,
} from '../pki/index.js';
import type {
  ApiToken,
  AttachedCrl,
  AuditEntry,
  AuditFilter,
  CertificateAuthority,
  ClientCertificate,
  Organization,
  Page,
  PageResult,
  Repositories,
  Store,
} from '../store/index.js';
import { type Actor, recordChange } from './audit.js';
import { crlIsFresh, publishCrl, refreshCrl } from './crl-publisher.js';
import { CONTROL_PLANE_TLS_ID, newId, ORG_CA_ID, ORG_ROOT_CA_ID } from './ids.js';
import { crlUrl } from './initialize.js';
import { hashToken } from './tokens.js';

export interface IssueRequest {
  csrPem: string;
  validityDays: number;
  /** The certificate's CN. Gatehouse never copies the CSR's subject; without this the CN is the certificate id. */
  commonName?: string;
}

export interface IssueFromKeyRequest {
  publicKeyPem: string;
  validityDays: number;
  commonName?: string;
}

export interface TlsMaterial {
  certificatePem: string;
  chainPem: string;
  privateKeyPem: string;
}

export const MAX_VALIDITY_DAYS = 3650;

/**
 * The organization's certificate authority service: issuance, revocation and CRL publication,
 * uploaded CAs, admin tokens and the audit trail. Storage is the Store's job and signing the pki
 * module's; this class decides and records.
 */
export class Authority {
  readonly store: Store;
  readonly org: Organization;
  readonly #masterKey: Buffer;
  readonly #signers = new Map<string, Signer>();
  readonly #now: () => Date;

  private constructor(store: Store, org: Organization, masterKey: Buffer, now: () => Date) {
    this.store = store;
    this.org = org;
    this.#masterKey = masterKey;
    this.#now = now;
  }

  static async load(store: Store, masterKey: Buffer, now: () => Date = () => new Date()): Promise<Authority> {
    const org = await store.organizations.first();
    if (!org)
      throw new GatehouseError(
        'not_initialized',
        'the database holds no organization; run gatehouse init first',
        500,
      );
    const authority = new Authority(store, org, masterKey, now);
    // Unseal the issuing key now: a wrong master key should stop start-up, not the first issuance.
    await authority.signer(ORG_CA_ID);
    return authority;
  }

  now(): Date {
    return this.#now();
  }

  async signer(caId: string): Promise<Signer> {
    const cached = this.#signers.get(caId);
    if (cached) return cached;
    const ca = await this.store.authorities.get(caId);
    if (!ca?.sealed_private_key) throw notFound('signing CA', caId);
    const signer = {
      certificatePem: ca.certificates_pem,
      privateKeyPem: openPrivateKey(this.#masterKey, ca.sealed_private_key, ca.id),
    };
    this.#signers.set(caId, signer);
    return signer;
  }

  async orgCaChainPem(): Promise<string> {
    const [issuing, root] = await Promise.all([
      this.store.authorities.get(ORG_CA_ID),
      this.store.authorities.get(ORG_ROOT_CA_ID),
    ]);
    return `${issuing?.certificates_pem ?? ''}${root?.certificates_pem ?? ''}`;
  }

  async controlPlaneTls(): Promise<TlsMaterial> {
    const identity = await this.store.tlsIdentities.get(CONTROL_PLANE_TLS_ID);
    if (!identity)
      throw new GatehouseError('not_initialized', 'no control-plane TLS certificate in the store', 500);
    return {
      certificatePem: identity.certificate_pem,
      chainPem: identity.chain_pem,
      privateKeyPem: openPrivateKey(this.#masterKey, identity.sealed_private_key, identity.id),
    };
  }

  /** The control-plane certificate in the store (PEM): what every node should be serving. */
  async storedControlPlaneCertificate(): Promise<string | undefined> {
    return (await this.store.tlsIdentities.get(CONTROL_PLANE_TLS_ID))?.certificate_pem;
  }

  /**
   * Re-issues the control plane's server certificate (same names, new key) once its renewal time
   * has come; returns the new material, or null when the current one is still good.
   */
  async renewControlPlaneTls(actor: Actor): Promise<TlsMaterial | null> {
    const identity = await this.store.tlsIdentities.get(CONTROL_PLANE_TLS_ID);
    if (!identity) return null;
    const current = new X509Certificate(identity.certificate_pem);
    const now = this.now();
    if (renewalTime(current) > now) return null;
    const sans = subjectAltNames(current);
    const issuerRow = await this.store.authorities.get(ORG_CA_ID);
    const issuer = await this.signer(ORG_CA_ID);
    const issued = await createServerCertificate({
      issuer,
      commonName: 'Gatehouse control plane',
      dnsNames: sans.dns,
      ipAddresses: sans.ip,
      algorithm: isKeyAlgorithm(issuerRow?.key_algorithm) ? issuerRow.key_algorithm : 'ecdsa-p256',
      now,
    });
    const notAfter = new Date(new X509Certificate(issued.certificatePem).validTo).toISOString();
    const stored = await this.store.transaction(async (tx) => {
      // Another node may have renewed it meanwhile: keep theirs (every node reloads it).
      await tx.locks.acquire(`tls:${CONTROL_PLANE_TLS_ID}`);
      const latest = await tx.tlsIdentities.get(CONTROL_PLANE_TLS_ID);
      if (latest?.certificate_pem !== identity.certificate_pem) return false;
      await tx.tlsIdentities.put({
        id: CONTROL_PLANE_TLS_ID,
        certificate_pem: issued.certificatePem,
        chain_pem: issuer.certificatePem,
        sealed_private_key: this.sealKey(issued.privateKeyPem, CONTROL_PLANE_TLS_ID),
        not_after: notAfter,
        created_at: identity.created_at,
      });
      await recordChange(
        tx,
        {
          actor,
          action: 'control_plane.certificate.renew',
          resourceType: 'tls_identity',
          resourceId: CONTROL_PLANE_TLS_ID,
          before: { serial_number: current.serialNumber.toLowerCase(), not_after: identity.not_after },
          after: { not_after: notAfter },
        },
        now,
      );
      return true;
    });
    if (!stored) return null;
    return {
      certificatePem: issued.certificatePem,
      chainPem: issuer.certificatePem,
      privateKeyPem: issued.privateKeyPem,
    };
  }

  // ---- admin tokens ----

  async authenticate(token: string): Promise<ApiToken | undefined> {
    const found = await this.store.apiTokens.byHash(hashToken(token));
    if (found) await this.store.apiTokens.touch(found.id, this.now().toISOString());
    return found;
  }

  // ---- client certificates ----

  async issueFromCsr(request: IssueRequest, actor: Actor): Promise<ClientCertificate> {
    const csr = await verifyCsr(request.csrPem);
    return this.issueFromPublicKey({ ...request, publicKeyPem: csr.publicKeyPem }, actor);
  }

  /**
   * Signs a client certificate and returns its row without storing it, for callers that store it
   * in their own transaction (device registration). `uris` are added to the SAN.
   */
  async buildClientCertificate(
    request: IssueFromKeyRequest & { uris?: string[] },
  ): Promise<ClientCertificate> {
    const now = this.now();
    const id = newId();
    const issuer = await this.signer(ORG_CA_ID);
    const commonName = request.commonName ?? id;
    const issued = await issueClientCertificate({
      issuer,
      publicKeyPem: request.publicKeyPem,
      subject: { commonName, organization: this.org.name },
      sans: { uri: [`urn:gatehouse:client-certificate:${id}`, ...(request.uris ?? [])] },
      validityDays: request.validityDays,
      crlDistributionPoint: crlUrl(this.org.public_url, ORG_CA_ID),
      now,
    });
    return {
      id,
      ca_id: ORG_CA_ID,
      serial_number: issued.serialNumber,
      fingerprint_sha256: issued.fingerprintSha256,
      ski: issued.ski,
      subject: describeCertificate(issued.certificatePem).subject,
      common_name: commonName,
      certificate_pem: issued.certificatePem,
      not_before: issued.notBefore.toISOString(),
      not_after: issued.notAfter.toISOString(),
      status: 'active',
      revoked_at: null,
      revocation_reason: null,
      created_at: now.toISOString(),
    };
  }

  /** Stores a built certificate with its audit entry, inside the caller's transaction. */
  async storeClientCertificate(tx: Repositories, row: ClientCertificate, actor: Actor): Promise<void> {
    await tx.clientCertificates.insert(row);
    await recordChange(
      tx,
      {
        actor,
        action: 'client_certificate.issue',
        resourceId: row.id,
        before: null,
        after: { serial_number: row.serial_number, common_name: row.common_name },
      },
      this.now(),
    );
  }

  async issueFromPublicKey(request: IssueFromKeyRequest, actor: Actor): Promise<ClientCertificate> {
    const row = await this.buildClientCertificate(request);
    await this.store.transaction((tx) => this.storeClientCertificate(tx, row, actor));
    return row;
  }

  async getClientCertificate(id: string): Promise<ClientCertificate> {
    const cert = await this.store.clientCertificates.get(id);
    if (!cert) throw notFound('client certificate', id);
    return cert;
  }

  listClientCertificates(
    status: 'active' | 'revoked' | 'expired' | undefined,
    page: Page,
  ): Promise<PageResult<ClientCertificate>> {
    return this.store.clientCertificates.list({ status, now: this.now().toISOString() }, page);
  }

  /** Marks the certificate revoked and re-signs its CA's CRL in the same transaction. */
  async revokeClientCertificate(id: string, reason: CrlReason, actor: Actor): Promise<ClientCertificate> {
    await this.store.transaction(async (tx) => {
      if (!(await this.revokeIn(tx, id, reason, actor))) {
        throw conflict('already_revoked', `client certificate ${id} is already revoked`);
      }
    });
    return this.getClientCertificate(id);
  }

  /**
   * Revokes inside the caller's transaction and re-signs the CRL with it; edges reload. Returns
   * false when the certificate was already revoked.
   */
  async revokeIn(tx: Repositories, id: string, reason: CrlReason, actor: Actor): Promise<boolean> {
    const now = this.now();
    const cert = await tx.clientCertificates.get(id);
    if (!cert) throw notFound('client certificate', id);
    if (!(await tx.clientCertificates.markRevoked(id, now.toISOString(), reason))) return false;
    await publishCrl(tx, cert.ca_id, await this.signer(cert.ca_id), now);
    await recordChange(
      tx,
      {
        actor,
        action: 'client_certificate.revoke',
        resourceId: id,
        before: { status: cert.status },
        after: { status: 'revoked', reason },
        reload: 'config',
      },
      this.now(),
    );
    return true;
  }

  // ---- CRLs ----

  /** The CA's current CRL (DER), re-signed first when it is past half its validity. */
  async crl(caId: string): Promise<{ der: Buffer; crlNumber: number; thisUpdate: Date; nextUpdate: Date }> {
    const ca = await this.store.authorities.get(caId);
    if (!ca?.sealed_private_key) throw notFound('CRL for CA', caId);
    let crl = await this.store.crls.get(caId);
    const now = this.now();
    if (!crl || !crlIsFresh(crl, now)) {
      const signer = await this.signer(caId);
      crl = await this.store.transaction((tx) => refreshCrl(tx, caId, signer, now));
    }
    return {
      der: Buffer.from(crl.der_base64, 'base64'),
      crlNumber: crl.crl_number,
      thisUpdate: new Date(crl.this_update),
      nextUpdate: new Date(crl.next_update),
    };
  }

  /** Re-signs every org CRL that is stale (the background owner's periodic job). */
  async refreshCrls(): Promise<number[]> {
    const now = this.now();
    const signed: number[] = [];
    for (const caId of [ORG_ROOT_CA_ID, ORG_CA_ID]) {
      const current = await this.store.crls.get(caId);
      if (current && crlIsFresh(current, now)) continue;
      const signer = await this.signer(caId);
      const crl = await this.store.transaction((tx) => refreshCrl(tx, caId, signer, now));
      signed.push(crl.crl_number);
    }
    return signed;
  }

  // ---- CAs (uploaded and the org's issuing CA) ----

  async uploadCa(
    input: { name: string; certificatesPem: string; allowSha1Signatures?: boolean; allowRsa1024?: boolean },
    actor: Actor,
  ): Promise<CertificateAuthority> {
    const now = this.now();
    const chain = parseCaChain(input.certificatesPem, now);
    const legacy = { allowSha1Signatures: input.allowSha1Signatures, allowRsa1024: input.allowRsa1024 };
    // A chain the edge would refuse on every handshake is refused now (strict profile).
    const weak = caChainFailure(
      chain.certificates.map((c) => parseCertificate(c)),
      legacy,
    );
    if (weak) throw badRequest(weak.code, weak.reason);
    const bottom = chain.certificates[0] as X509Certificate;
    const d = describeCertificate(bottom.raw);
    const row: CertificateAuthority = {
      id: newId(),
      source: 'uploaded',
      name: input.name,
      certificates_pem: chain.certificates.map((c) => c.toString()).join(''),
      subject: d.subject,
      issuer: d.issuer,
      serial_number: d.serialNumber,
      fingerprint_sha256: d.fingerprintSha256,
      ski: d.ski ?? null,
      not_before: d.notBefore.toISOString(),
      not_after: d.notAfter.toISOString(),
      key_algorithm: null,
      sealed_private_key: null,
      parent_id: null,
      created_at: now.toISOString(),
      allow_sha1_signatures: input.allowSha1Signatures ? 1 : 0,
      allow_rsa_1024: input.allowRsa1024 ? 1 : 0,
    };
    await this.store.transaction(async (tx) => {
      await tx.authorities.insert(row);
      // The legacy allowances are in the audit entry: they weaken what the edge accepts.
      await recordChange(
        tx,
        {
          actor,
          action: 'mtls_certificate.create',
          resourceId: row.id,
          before: null,
          after: {
            name: row.name,
            fingerprint_sha256: row.fingerprint_sha256,
            allow_sha1_signatures: row.allow_sha1_signatures === 1,
            allow_rsa_1024: row.allow_rsa_1024 === 1,
          },
          reload: 'config',
        },
        this.now(),
      );
    });
    return row;
  }

  async getCa(id: string): Promise<CertificateAuthority> {
    const ca = await this.store.authorities.get(id);
    if (!ca || ca.source === 'org_root') throw notFound('mTLS certificate', id);
    return ca;
  }

  listCas(page: Page): Promise<PageResult<CertificateAuthority>> {
    return this.store.authorities.list(page);
  }

  async deleteCa(id: string, actor: Actor): Promise<void> {
    await this.store.transaction(async (tx) => {
      const ca = await tx.authorities.get(id);
      if (!ca || ca.source === 'org_root') throw notFound('mTLS certificate', id);
      if (ca.source !== 'uploaded')
        throw conflict('ca_managed', 'the organization CA is managed by Gatehouse and cannot be deleted');
      const refs = await tx.authorities.references(id);
      if (refs.length > 0) {
        throw conflict(
          'ca_in_use',
          `mTLS certificate ${id} is still referenced by ${refs.map((r) => `${r.count} ${r.kind}`).join(', ')}`,
        );
      }
      await tx.attachedCrls.delete(id);
      await tx.authorities.delete(id);
      await recordChange(
        tx,
        {
          actor,
          action: 'mtls_certificate.delete',
          resourceId: id,
          before: { name: ca.name, fingerprint_sha256: ca.fingerprint_sha256 },
          after: null,
          reload: 'config',
        },
        this.now(),
      );
    });
  }

  /**
   * Attaches the admin's CRL to an uploaded CA: it must parse and be signed by a certificate of
   * that CA's chain. The edge then refuses the serials it lists (and the CRL once it is past its
   * nextUpdate: revocation status unknown fails closed).
   */
  async attachCrl(caId: string, crlText: string, actor: Actor): Promise<AttachedCrl> {
    const ca = await this.getCa(caId);
    if (ca.source !== 'uploaded') {
      throw conflict('ca_managed', 'the organization CA publishes its own CRL; attach CRLs to uploaded CAs');
    }
    const now = this.now();
    const parsed = parseAttachedCrl(crlText, parseCaChain(ca.certificates_pem, new Date(0)).certificates);
    const row: AttachedCrl = {
      ca_id: caId,
      issuer_fingerprint_sha256: parsed.issuerFingerprint,
      der_base64: parsed.der.toString('base64'),
      this_update: parsed.thisUpdate.toISOString(),
      next_update: parsed.nextUpdate?.toISOString() ?? null,
      revoked_count: parsed.revokedSerials.length,
      attached_at: now.toISOString(),
    };
    await this.store.transaction(async (tx) => {
      const before = await tx.attachedCrls.get(caId);
      await tx.attachedCrls.put(row);
      await recordChange(
        tx,
        {
          actor,
          action: 'mtls_certificate.crl.attach',
          resourceType: 'mtls_certificate',
          resourceId: caId,
          before: before ? { revoked_count: before.revoked_count, this_update: before.this_update } : null,
          after: { revoked_count: row.revoked_count, this_update: row.this_update },
          reload: 'config',
        },
        this.now(),
      );
    });
    return row;
  }

  async getAttachedCrl(caId: string): Promise<AttachedCrl> {
    await this.getCa(caId);
    const crl = await this.store.attachedCrls.get(caId);
    if (!crl) throw notFound('CRL attached to mTLS certificate', caId);
    return crl;
  }

  async detachCrl(caId: string, actor: Actor): Promise<void> {
    await this.getCa(caId);
    await this.store.transaction(async (tx) => {
      if ((await tx.attachedCrls.delete(caId)) === 0)
        throw notFound('CRL attached to mTLS certificate', caId);
      await recordChange(
        tx,
        {
          actor,
          action: 'mtls_certificate.crl.detach',
          resourceType: 'mtls_certificate',
          resourceId: caId,
          before: { crl: true },
          after: null,
          reload: 'config',
        },
        this.now(),
      );
    });
  }

  /** A server certificate for an edge hostname, issued by the organization's issuing CA. */
  async issueServerCertificate(hostname: string): Promise<TlsMaterial> {
    const issuer = await this.signer(ORG_CA_ID);
    const issued = await createServerCertificate({
      issuer,
      commonName: hostname,
      dnsNames: [hostname],
      ipAddresses: [],
      algorithm: 'ecdsa-p256',
      now: this.now(),
    });
    return {
      certificatePem: issued.certificatePem,
      chainPem: issuer.certificatePem,
      privateKeyPem: issued.privateKeyPem,
    };
  }

  /** Seals a private key with the master key, bound to `aad` (the owning row's id). */
  sealKey(privateKeyPem: string, aad: string): string {
    return sealPrivateKey(this.#masterKey, privateKeyPem, aad);
  }

  openKey(sealed: string, aad: string): string {
    return openPrivateKey(this.#masterKey, sealed, aad);
  }

  /** A 32-byte key for `purpose`, derived from the master key (HKDF-SHA256): nothing to store. */
  derivedKey(purpose: string): Buffer {
    return Buffer.from(hkdfSync('sha256', this.#masterKey, Buffer.alloc(0), `gatehouse/${purpose}`, 32));
  }

  // ---- audit ----

  listAudit(filter: AuditFilter, page: Page): Promise<PageResult<AuditEntry>> {
    return this.store.audit.list(filter, page);
  }
}

/** The DNS names and IP addresses of a certificate's subjectAltName. */
function subjectAltNames(certificate: X509Certificate): { dns: string[]; ip: string[] } {
  const dns: string[] = [];
  const ip: string[] = [];
  for (const entry of (certificate.subjectAltName ?? '').split(', ')) {
    if (entry.startsWith('DNS:')) dns.push(entry.slice(4));
    else if (entry.startsWith('IP Address:')) ip.push(entry.slice(11));
  }
  return { dns, ip };
}
