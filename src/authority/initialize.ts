import { X509Certificate } from 'node:crypto';
import { GatehouseError } from '../errors/index.js';
import {
  createIntermediateCa,
  createRootCa,
  createServerCertificate,
  describeCertificate,
  sealPrivateKey,
} from '../pki/index.js';
import type { NewCertificateAuthority, Store } from '../store/index.js';
import { publishCrl } from './crl-publisher.js';
import { CONTROL_PLANE_TLS_ID, newId, ORG_CA_ID, ORG_ROOT_CA_ID } from './ids.js';
import { generateAdminToken, hashToken } from './tokens.js';

/** Key algorithms the organization CA may use (client keys may also be RSA-2048 or Ed25519). */
export const CA_ALGORITHMS = ['ecdsa-p256', 'ecdsa-p384', 'rsa-3072'] as const;
export type CaKeyAlgorithm = (typeof CA_ALGORITHMS)[number];

export interface InitializeOptions {
  store: Store;
  masterKey: Buffer;
  orgName: string;
  algorithm: CaKeyAlgorithm;
  /** Extra DNS names / IPs for the control plane's server certificate. */
  sans: string[];
  /** Base URL clients use to reach the control plane; CRL distribution points are built from it. */
  publicUrl: string;
  now?: Date;
}

export interface InitializeResult {
  orgId: string;
  orgName: string;
  adminToken: string;
  rootCaPem: string;
  issuingCaPem: string;
}

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;
const isIp = (value: string) => IPV4.test(value) || value.includes(':');

export const crlUrl = (publicUrl: string, caId: string) => `${publicUrl.replace(/\/+$/, '')}/crl/${caId}.crl`;

/**
 * Creates the organization with its root and issuing CA, the control plane's TLS identity, the
 * first CRLs and an admin token, all in one transaction: a failure leaves nothing behind.
 */
export async function initializeOrganization(opts: InitializeOptions): Promise<InitializeResult> {
  const now = opts.now ?? new Date();
  if (await opts.store.organizations.first()) {
    throw new GatehouseError(
      'already_initialized',
      'this database already holds an organization; refusing to overwrite it',
      409,
    );
  }
  const orgId = newId();
  const root = await createRootCa({
    commonName: `${opts.orgName} Root CA`,
    organization: opts.orgName,
    algorithm: opts.algorithm,
    now,
  });
  const issuing = await createIntermediateCa({
    issuer: root,
    commonName: `${opts.orgName} Issuing CA`,
    organization: opts.orgName,
    algorithm: opts.algorithm,
    crlDistributionPoint: crlUrl(opts.publicUrl, ORG_ROOT_CA_ID),
    now,
  });
  const names = ['localhost', '127.0.0.1', '::1', ...opts.sans];
  const server = await createServerCertificate({
    issuer: issuing,
    commonName: 'Gatehouse control plane',
    dnsNames: [...new Set(names.filter((n) => !isIp(n)))],
    ipAddresses: [...new Set(names.filter(isIp))],
    algorithm: opts.algorithm,
    now,
  });
  const adminToken = generateAdminToken();

  const caRow = (
    id: string,
    source: 'org_root' | 'org_issuing',
    name: string,
    pair: { certificatePem: string; privateKeyPem: string },
    parentId: string | null,
  ): NewCertificateAuthority => {
    const d = describeCertificate(pair.certificatePem);
    return {
      id,
      source,
      name,
      certificates_pem: pair.certificatePem,
      subject: d.subject,
      issuer: d.issuer,
      serial_number: d.serialNumber,
      fingerprint_sha256: d.fingerprintSha256,
      ski: d.ski ?? null,
      not_before: d.notBefore.toISOString(),
      not_after: d.notAfter.toISOString(),
      key_algorithm: opts.algorithm,
      sealed_private_key: sealPrivateKey(opts.masterKey, pair.privateKeyPem, id),
      parent_id: parentId,
      created_at: now.toISOString(),
    };
  };

  await opts.store.transaction(async (tx) => {
    await tx.organizations.insert({
      id: orgId,
      name: opts.orgName,
      public_url: opts.publicUrl,
      created_at: now.toISOString(),
    });
    await tx.authorities.insert(caRow(ORG_ROOT_CA_ID, 'org_root', `${opts.orgName} Root CA`, root, null));
    await tx.authorities.insert(
      caRow(ORG_CA_ID, 'org_issuing', `${opts.orgName} Issuing CA`, issuing, ORG_ROOT_CA_ID),
    );
    await tx.tlsIdentities.put({
      id: CONTROL_PLANE_TLS_ID,
      certificate_pem: server.certificatePem,
      chain_pem: issuing.certificatePem,
      sealed_private_key: sealPrivateKey(opts.masterKey, server.privateKeyPem, CONTROL_PLANE_TLS_ID),
      not_after: new Date(new X509Certificate(server.certificatePem).validTo).toISOString(),
      created_at: now.toISOString(),
    });
    await publishCrl(tx, ORG_ROOT_CA_ID, root, now);
    await publishCrl(tx, ORG_CA_ID, issuing, now);
    await tx.apiTokens.insert({
      id: newId(),
      name: 'initial admin token',
      token_hash: hashToken(adminToken),
      role: 'admin',
      created_at: now.toISOString(),
      last_used_at: null,
    });
    await tx.audit.append({
      id: newId(),
      at: now.toISOString(),
      actor: 'cli:init',
      action: 'organization.create',
      resource_type: 'organization',
      resource_id: orgId,
      before: null,
      after: { name: opts.orgName, root_ca: ORG_ROOT_CA_ID, issuing_ca: ORG_CA_ID },
    });
  });
  return {
    orgId,
    orgName: opts.orgName,
    adminToken,
    rootCaPem: root.certificatePem,
    issuingCaPem: issuing.certificatePem,
  };
}
