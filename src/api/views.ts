import { type Static, Type } from '@sinclair/typebox';
import { ORG_CA_ID } from '../authority/index.js';
import { CRL_REASONS } from '../pki/index.js';
import type { AuditEntry, CertificateAuthority, ClientCertificate } from '../store/index.js';

/** API resource shapes. Rows never leave the API as they are: these views pick what is public. */

const Uuid = Type.String({ format: 'uuid' });
const Timestamp = Type.String({ format: 'date-time' });

export const MtlsCertificate = Type.Object(
  {
    id: Uuid,
    name: Type.String(),
    ca: Type.Literal(true),
    managed: Type.Boolean({ description: 'true for the organization CA, which Gatehouse manages' }),
    subject: Type.String(),
    issuer: Type.String(),
    serial_number: Type.String({ description: 'lowercase hex' }),
    fingerprint_sha256: Type.String({ description: 'lowercase hex SHA-256 of the DER certificate' }),
    ski: Type.Union([Type.String(), Type.Null()]),
    expires_on: Timestamp,
    uploaded_on: Timestamp,
    certificates: Type.String({ description: 'the PEM chain, lowest CA first' }),
    allow_sha1_signatures: Type.Boolean({
      description: 'legacy escape hatch: SHA-1 signatures accepted under this CA',
    }),
    allow_rsa_1024: Type.Boolean({
      description: 'legacy escape hatch: RSA keys from 1024 bits accepted under this CA',
    }),
  },
  { $id: 'MtlsCertificate' },
);
export type MtlsCertificate = Static<typeof MtlsCertificate>;

export function mtlsCertificateView(ca: CertificateAuthority): MtlsCertificate {
  return {
    id: ca.id,
    name: ca.name,
    ca: true,
    managed: ca.source !== 'uploaded',
    subject: ca.subject,
    issuer: ca.issuer,
    serial_number: ca.serial_number,
    fingerprint_sha256: ca.fingerprint_sha256,
    ski: ca.ski,
    expires_on: ca.not_after,
    uploaded_on: ca.created_at,
    certificates: ca.certificates_pem,
    allow_sha1_signatures: ca.allow_sha1_signatures === 1,
    allow_rsa_1024: ca.allow_rsa_1024 === 1,
  };
}

export const CertificateStatus = Type.Union([
  Type.Literal('active'),
  Type.Literal('revoked'),
  Type.Literal('expired'),
]);
export const CrlReason = Type.Union(CRL_REASONS.map((r) => Type.Literal(r)));

export const ClientCertificateView = Type.Object(
  {
    id: Uuid,
    status: CertificateStatus,
    common_name: Type.String(),
    subject: Type.String(),
    issuer_id: Type.String({ description: `the issuing CA's id (the org CA is ${ORG_CA_ID})` }),
    serial_number: Type.String({ description: 'lowercase hex' }),
    fingerprint_sha256: Type.String(),
    ski: Type.String({ description: 'Subject Key Identifier, lowercase hex' }),
    issued_on: Timestamp,
    expires_on: Timestamp,
    revoked_on: Type.Union([Timestamp, Type.Null()]),
    revocation_reason: Type.Union([CrlReason, Type.Null()]),
    certificate: Type.String({ description: 'PEM' }),
    certificate_chain: Type.String({ description: 'PEM: the issuing CA, then the root CA' }),
  },
  { $id: 'ClientCertificate' },
);
export type ClientCertificateView = Static<typeof ClientCertificateView>;

export function statusOf(cert: ClientCertificate, now: Date): Static<typeof CertificateStatus> {
  if (cert.status === 'revoked') return 'revoked';
  return new Date(cert.not_after) <= now ? 'expired' : 'active';
}

export function clientCertificateView(
  cert: ClientCertificate,
  chainPem: string,
  now: Date,
): ClientCertificateView {
  return {
    id: cert.id,
    status: statusOf(cert, now),
    common_name: cert.common_name,
    subject: cert.subject,
    issuer_id: cert.ca_id,
    serial_number: cert.serial_number,
    fingerprint_sha256: cert.fingerprint_sha256,
    ski: cert.ski,
    issued_on: cert.not_before,
    expires_on: cert.not_after,
    revoked_on: cert.revoked_at,
    revocation_reason: cert.revocation_reason as ClientCertificateView['revocation_reason'],
    certificate: cert.certificate_pem,
    certificate_chain: chainPem,
  };
}

export const AuditView = Type.Object(
  {
    id: Uuid,
    at: Timestamp,
    actor: Type.String({ description: '`token:<id>` for API calls, `cli:<command>` for local commands' }),
    action: Type.String({ description: 'e.g. client_certificate.revoke' }),
    resource_type: Type.String(),
    resource_id: Type.Union([Type.String(), Type.Null()]),
    before: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()]),
    after: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()]),
  },
  { $id: 'AuditEntry' },
);
export type AuditView = Static<typeof AuditView>;

export function auditView(entry: AuditEntry): AuditView {
  return {
    id: entry.id,
    at: entry.at,
    actor: entry.actor,
    action: entry.action,
    resource_type: entry.resource_type,
    resource_id: entry.resource_id,
    before: entry.before,
    after: entry.after,
  };
}
