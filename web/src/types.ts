// Shapes of the API's results (docs/openapi.json), as far as the console reads them.

export interface MtlsCertificate {
  id: string;
  name: string;
  ca: boolean;
  managed: boolean;
  subject: string;
  issuer: string;
  serial_number: string;
  fingerprint_sha256: string;
  expires_on: string;
  uploaded_on: string;
  certificates: string;
  /** Legacy escape hatches (per CA): the strict profile is relaxed for paths ending here. */
  allow_sha1_signatures: boolean;
  allow_rsa_1024: boolean;
}

export interface ClientCertificate {
  id: string;
  status: 'active' | 'revoked' | 'expired';
  common_name: string;
  subject: string;
  issuer_id: string;
  serial_number: string;
  fingerprint_sha256: string;
  issued_on: string;
  expires_on: string;
  revoked_on: string | null;
  revocation_reason: string | null;
  certificate: string;
}

export interface Organization {
  id: string;
  name: string;
  ca_id: string;
  root_ca_id: string;
  ca_chain: string;
  crl_urls: string[];
}

export type Mode = 'off' | 'report' | 'enforce';
export interface ForwardConfig {
  styles: string[];
  custom: { header: string; field: string }[];
}
export interface BlockResponse {
  json?: unknown;
  html?: string;
}
export interface Hostname {
  id: string;
  hostname: string;
  origin: string;
  tls: { source: 'org' | 'custom'; expires_on: string };
  client_auth: {
    mode: Mode;
    mtls_certificate_ids: string[];
    forward: ForwardConfig;
    block_response: BlockResponse;
  };
  modified_on: string;
}

/** One key naming the rule type; its parameters are strings, or a list (certificate_policy oids). */
export type Rule = Record<string, Record<string, string | string[]>>;
export interface Policy {
  name: string;
  decision: 'allow' | 'deny' | 'non_identity' | 'bypass';
  include: Rule[];
  exclude?: Rule[];
  require?: Rule[];
  session_duration?: string;
}
export interface AccessApp {
  id: string;
  name: string;
  domain: string;
  aud: string;
  session_duration: string;
  policies: Policy[];
  allowed_idps: string[];
}
export interface ServiceToken {
  id: string;
  name: string;
  client_id: string;
  client_secret?: string;
  expires_at: string | null;
  created_at: string;
}
export interface IdentityProvider {
  id: string;
  name: string;
  issuer: string;
  client_id: string;
}

export interface DeviceRegistrationSummary {
  id: string;
  mode: 'standard' | 'hardware_backed';
  key_protection: string;
  /** software < hardware_claimed (the agent says so) < tpm_attested (proved by TPM attestation). */
  assurance?: 'software' | 'hardware_claimed' | 'tpm_attested';
  status: string;
  hardware_backed: boolean;
  /** `service_token:<id>` or `identity:<email>`. */
  enrolled_by?: string;
  enrolled_identity?: { issuer: string; subject: string; email: string } | null;
  certificate_expires_on?: string | null;
  last_seen: string | null;
}
export interface Device {
  id: string;
  name: string;
  serial_number?: string | null;
  hostname?: string | null;
  os?: string | null;
  registrations: DeviceRegistrationSummary[];
}
export interface OrgSettings {
  device_certificate_validity: string;
  require_hardware_backed_registration: boolean;
}

export interface AuditEntry {
  id: string;
  at: string;
  actor: string;
  action: string;
  resource_type: string;
  resource_id: string | null;
  before: unknown;
  after: unknown;
}

export interface Overview {
  generated_on: string;
  certificates_expiring: {
    days: number;
    bucket_days: number;
    buckets: { start: string; end: string; client_certificates: number; certificate_authorities: number }[];
  };
  edge_requests: { cert_status: string; count: number }[];
}
