import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely';

/**
 * Table shapes. Timestamps are ISO-8601 UTC strings and ids are UUID strings in both dialects, so
 * the same queries and the same rows work on SQLite and PostgreSQL without per-dialect mapping.
 */
export interface Database {
  organizations: OrganizationTable;
  certificate_authorities: CertificateAuthorityTable;
  crls: CrlTable;
  client_certificates: ClientCertificateTable;
  tls_identities: TlsIdentityTable;
  api_tokens: ApiTokenTable;
  audit_log: AuditLogTable;
  hostnames: HostnameTable;
  hostname_cas: HostnameCaTable;
  attached_crls: AttachedCrlTable;
  config_version: ConfigVersionTable;
  access_apps: AccessAppTable;
  service_tokens: ServiceTokenTable;
  signing_keys: SigningKeyTable;
  identity_providers: IdentityProviderTable;
  organization_settings: OrganizationSettingsTable;
  devices: DeviceTable;
  registrations: RegistrationTable;
  device_logins: DeviceLoginTable;
  posture_rules: PostureRuleTable;
  posture_results: PostureResultTable;
  posture_status: PostureStatusTable;
  posture_nonces: PostureNonceTable;
  posture_version: ConfigVersionTable;
  session_revocations: SessionRevocationTable;
  leases: LeaseTable;
  idempotency_keys: IdempotencyKeyTable;
  tpm_ek_cas: TpmEkCaTable;
  tpm_ek_pins: TpmEkPinTable;
  tpm_attestations: TpmAttestationTable;
}

export interface OrganizationTable {
  id: string;
  name: string;
  public_url: string;
  created_at: string;
}

/** Where a CA came from: the org's own root and issuing CA, or an admin upload. */
export type CaSource = 'org_root' | 'org_issuing' | 'uploaded';

export interface CertificateAuthorityTable {
  id: string;
  source: CaSource;
  name: string;
  /** The CA certificate first, then any further certificates uploaded with it (PEM). */
  certificates_pem: string;
  subject: string;
  issuer: string;
  serial_number: string;
  fingerprint_sha256: string;
  ski: string | null;
  not_before: string;
  not_after: string;
  key_algorithm: string | null;
  /** AES-256-GCM sealed PKCS#8 key (org CAs only); useless without the master key. */
  sealed_private_key: string | null;
  parent_id: string | null;
  created_at: string;
  /** Legacy escape hatches of an uploaded CA (0/1): relax the strict profile for its paths only. */
  allow_sha1_signatures: Generated<number>;
  allow_rsa_1024: Generated<number>;
}

export interface CrlTable {
  ca_id: string;
  crl_number: number;
  this_update: string;
  next_update: string;
  der_base64: string;
}

export type ClientCertificateStatus = 'active' | 'revoked';

export interface ClientCertificateTable {
  id: string;
  ca_id: string;
  serial_number: string;
  fingerprint_sha256: string;
  ski: string;
  subject: string;
  common_name: string;
  certificate_pem: string;
  not_before: string;
  not_after: string;
  status: ClientCertificateStatus;
  revoked_at: string | null;
  revocation_reason: string | null;
  created_at: string;
}

export interface TlsIdentityTable {
  id: string;
  certificate_pem: string;
  chain_pem: string;
  sealed_private_key: string;
  not_after: string;
  created_at: string;
}

export interface ApiTokenTable {
  id: string;
  name: string;
  token_hash: string;
  role: 'admin';
  created_at: string;
  last_used_at: string | null;
}

export interface AuditLogTable {
  seq: Generated<number>;
  id: string;
  at: string;
  actor: string;
  action: string;
  resource_type: string;
  resource_id: string | null;
  /** JSON objects: the resource before and after the change (null: none). */
  before: string | null;
  after: string | null;
}

export type TlsSource = 'org' | 'custom';

export interface HostnameTable {
  id: string;
  hostname: string;
  origin: string;
  tls_source: TlsSource;
  certificate_pem: string;
  chain_pem: string;
  sealed_private_key: string;
  /** JSON: { mode, forward, block_response } (the CA ids live in hostname_cas). */
  client_auth: string;
  created_at: string;
  updated_at: string;
}

export interface HostnameCaTable {
  hostname_id: string;
  ca_id: string;
}

export interface AttachedCrlTable {
  ca_id: string;
  issuer_fingerprint_sha256: string;
  der_base64: string;
  this_update: string;
  next_update: string | null;
  revoked_count: number;
  attached_at: string;
}

export interface ConfigVersionTable {
  id: number;
  version: number;
}

export interface AccessAppTable {
  id: string;
  name: string;
  hostname: string;
  /** '/' for the whole hostname, else '/admin'-style, no trailing slash. */
  path_prefix: string;
  /** Audience tag: the `aud` of the app's tokens. */
  aud: string;
  session_duration: string;
  /** JSON array of policies, as validated by the API schema. */
  policies: string;
  /** JSON array of identity provider ids. */
  allowed_idps: string;
  created_at: string;
  updated_at: string;
}

export interface ServiceTokenTable {
  id: string;
  name: string;
  client_id: string;
  /** SHA-256 (hex) of the 32-byte random secret: enough for a high-entropy secret. */
  secret_hash: string;
  expires_at: string | null;
  created_at: string;
  rotated_at: string | null;
}

export interface SigningKeyTable {
  kid: string;
  algorithm: string;
  /** JSON: the public JWK. */
  public_jwk: string;
  sealed_private_jwk: string;
  /** 1 for the one key that signs new tokens. */
  active: number;
  created_at: string;
  /** Past this instant the key no longer verifies (every token it signed has expired). */
  retire_after: string | null;
}

export interface IdentityProviderTable {
  id: string;
  name: string;
  type: 'oidc';
  issuer: string;
  client_id: string;
  sealed_client_secret: string;
  /** JSON array. */
  scopes: string;
  /** JSON { email, groups }: claim names. */
  claims: string;
  created_at: string;
  updated_at: string;
}

export interface OrganizationSettingsTable {
  id: number;
  /** Duration ("90d", "12h", "30s"): the lifetime of hardware-backed registrations' certificates. */
  device_certificate_validity: string;
  require_hardware_backed_registration: number;
  /** Lowest DeviceAssurance a new registration may have; null: any. */
  required_device_assurance: DeviceAssurance | null;
  updated_at: string;
}

export interface DeviceTable {
  id: string;
  name: string;
  serial_number: string | null;
  hostname: string | null;
  os: string | null;
  os_version: string | null;
  model: string | null;
  created_at: string;
  last_seen_at: string | null;
}

export type RegistrationMode = 'standard' | 'hardware_backed';
/** active; revoked by an admin or the device; replaced by a newer registration of the same device. */
export type RegistrationStatus = 'active' | 'revoked' | 'replaced';

export interface RegistrationTable {
  id: string;
  device_id: string;
  mode: RegistrationMode;
  key_protection: 'tpm2' | 'pkcs11' | 'software';
  token_hash: string;
  certificate_id: string | null;
  /** SHA-256 (hex) of the certificate every call must present (hardware-backed only). */
  certificate_fingerprint: string | null;
  /** SHA-256 (hex) of the SPKI: renewals must reuse this key. */
  public_key_sha256: string | null;
  /** `service_token:<id>` or `identity:<email>`. */
  enrolled_by: string;
  /** JSON { issuer, subject, email } of the user who approved an identity registration, else null. */
  enrolled_identity: string | null;
  status: RegistrationStatus;
  created_at: string;
  last_seen_at: string | null;
  ended_at: string | null;
  /** How well the key's protection is proved (software < hardware_claimed < tpm_attested); inserts default to software. */
  assurance: ColumnType<DeviceAssurance, DeviceAssurance | undefined, DeviceAssurance>;
}

/** software: a software key or none; hardware_claimed: the agent says TPM/PKCS#11; tpm_attested: proved. */
export type DeviceAssurance = 'software' | 'hardware_claimed' | 'tpm_attested';

/** An accepted TPM endorsement CA (root or intermediate): EK certificates must chain to one. */
export interface TpmEkCaTable {
  id: string;
  name: string;
  certificates_pem: string;
  subject: string;
  fingerprint_sha256: string;
  not_after: string;
  created_at: string;
}

/** An explicitly trusted EK public key (TPMs without an EK certificate). */
export interface TpmEkPinTable {
  id: string;
  name: string;
  /** SHA-256 (hex) of the EK's SubjectPublicKeyInfo DER. */
  spki_sha256: string;
  created_at: string;
}

/** A pending attestation challenge: single use, short-lived. */
export interface TpmAttestationTable {
  id: string;
  /** The nonce the AK must certify the device key over (hex). */
  nonce: string;
  /** SHA-256 (hex) of the credential secret ActivateCredential must return. */
  secret_sha256: string;
  /** TPM2B_PUBLIC of the AK (base64). */
  ak_public: string;
  ek_spki_sha256: string;
  /** 'certificate' or 'pin'. */
  ek_via: string;
  expires_at: string;
  created_at: string;
}

export interface PostureRuleTable {
  id: string;
  name: string;
  type: 'client_certificate_v2' | 'client_certificate';
  description: string;
  schedule: string;
  expiration: string | null;
  /** JSON array of { platform }. */
  match: string;
  /** JSON: the rule's input, as validated by the API schema. */
  input: string;
  certificate_id: string;
  created_at: string;
  updated_at: string;
}

export interface PostureResultTable {
  seq: Generated<number>;
  id: string;
  device_id: string;
  device_name: string;
  registration_id: string;
  rule_id: string;
  rule_name: string;
  success: number;
  /** JSON array of reason codes. */
  reasons: string;
  /** JSON { subject, serial_number, fingerprint_sha256, not_after } of the certificate considered. */
  certificate: string | null;
  /** 1 when the private key was proved by a verified nonce signature. */
  key_proved: number;
  reported_at: string;
  expires_at: string | null;
}

export interface PostureStatusTable {
  device_id: string;
  rule_id: string;
  registration_id: string;
  result_id: string;
  success: number;
  reported_at: string;
  expires_at: string | null;
}

export interface PostureNonceTable {
  nonce: string;
  registration_id: string;
  expires_at: string;
}

/** pending until the user approves (with their identity) or denies it in the browser. */
export type DeviceLoginStatus = 'pending' | 'approved' | 'denied';

export interface DeviceLoginTable {
  id: string;
  /** SHA-256 (hex) of the device code the agent polls with. */
  device_code_hash: string;
  /** SHA-256 (hex) of the normalised user code (8 letters, without the dash). */
  user_code_hash: string;
  /** JSON: the registration request (device facts, key_protection, csr). */
  request: string;
  status: DeviceLoginStatus;
  /** Seconds the agent must wait between polls; grows by 5 on every slow_down. */
  interval_s: number;
  last_polled_at: string | null;
  /** JSON { issuer, subject, email, idp_id } once approved. */
  identity: string | null;
  created_at: string;
  expires_at: string;
}

// Row types. Stored JSON columns come out of the repositories decoded (see repositories.ts, "JSON columns").
export type Organization = Selectable<OrganizationTable>;
export type CertificateAuthority = Selectable<CertificateAuthorityTable>;
export type NewCertificateAuthority = Insertable<CertificateAuthorityTable>;
export type Crl = Selectable<CrlTable>;
export type ClientCertificate = Selectable<ClientCertificateTable>;
export type NewClientCertificate = Insertable<ClientCertificateTable>;
export type ClientCertificateUpdate = Updateable<ClientCertificateTable>;
export type TlsIdentity = Selectable<TlsIdentityTable>;
export type ApiToken = Selectable<ApiTokenTable>;
/** An audit entry's `before`/`after`: the resource as it was and became (a JSON object). */
export type AuditEntry = Omit<Selectable<AuditLogTable>, 'before' | 'after'> & {
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
};
export type NewAuditEntry = Omit<Insertable<AuditLogTable>, 'before' | 'after'> & {
  before: object | null;
  after: object | null;
};
export type Hostname = Omit<Selectable<HostnameTable>, 'client_auth'> & {
  /** The client-authentication settings but the CA ids, as validated when written (edge's StoredClientAuth). */
  client_auth: object;
};
export type AttachedCrl = Selectable<AttachedCrlTable>;
export type AccessApp = Omit<Selectable<AccessAppTable>, 'policies' | 'allowed_idps'> & {
  /**
   * The app's policies, as validated when written (access's Policy); null when the stored text is
   * not JSON (a damaged row): the edge then fails this app closed and loads everything else.
   */
  policies: object[] | null;
  allowed_idps: string[];
};
export type ServiceToken = Selectable<ServiceTokenTable>;
/** The public half of a signing key (access's EcPublicJwk). */
export interface StoredPublicJwk {
  kty: 'EC';
  crv: 'P-256';
  x: string;
  y: string;
}
export type SigningKey = Omit<Selectable<SigningKeyTable>, 'public_jwk'> & { public_jwk: StoredPublicJwk };
/** The ID token / UserInfo claims an identity provider's e-mail address and groups are read from. */
export interface IdentityProviderClaimNames {
  email: string;
  groups: string;
}
export type IdentityProvider = Omit<Selectable<IdentityProviderTable>, 'scopes' | 'claims'> & {
  scopes: string[];
  claims: IdentityProviderClaimNames;
};
export type OrganizationSettings = Selectable<OrganizationSettingsTable>;
export type Device = Selectable<DeviceTable>;
/** The user who approved an identity registration, as their identity provider names them. */
export interface StoredIdentity {
  issuer: string;
  subject: string;
  email: string;
  /** The identity provider they signed in with (device logins only). */
  idp_id?: string;
}
export type Registration = Omit<Selectable<RegistrationTable>, 'enrolled_identity'> & {
  enrolled_identity: StoredIdentity | null;
};
export type NewRegistration = Omit<Insertable<RegistrationTable>, 'enrolled_identity'> & {
  enrolled_identity: StoredIdentity | null;
};
export type TpmEkCa = Selectable<TpmEkCaTable>;
export type TpmEkPin = Selectable<TpmEkPinTable>;
export type TpmAttestation = Selectable<TpmAttestationTable>;
export type DeviceLogin = Omit<Selectable<DeviceLoginTable>, 'request' | 'identity'> & {
  /** The registration request, as validated when the login started (RegistrationInput). */
  request: object;
  identity: StoredIdentity | null;
};
export type PostureRuleRow = Omit<Selectable<PostureRuleTable>, 'match' | 'input'> & {
  /** The platforms the rule applies to (posture's Platform names); empty: every platform. */
  match: { platform: string }[];
  /** The rule's input, as validated when written (posture's ClientCertificateV2Input or ClientCertificateInput). */
  input: object;
};
/** The certificate a posture result considered (posture's CertificateSummary). */
export interface StoredCertificateSummary {
  subject: string;
  serial_number: string;
  fingerprint_sha256: string;
  not_after?: string;
}
export type PostureResultRow = Omit<Selectable<PostureResultTable>, 'reasons' | 'certificate'> & {
  /** Reason codes (posture's PostureReason). */
  reasons: string[];
  certificate: StoredCertificateSummary | null;
};
export type NewPostureResult = Omit<Insertable<PostureResultTable>, 'reasons' | 'certificate'> & {
  reasons: string[];
  certificate: StoredCertificateSummary | null;
};
export type PostureStatusRow = Selectable<PostureStatusTable>;
export type SessionRevocation = Omit<Selectable<SessionRevocationTable>, 'certificates'> & {
  /** SHA-256 (hex) certificate fingerprints; null when no device selector is set. */
  certificates: string[] | null;
};

/**
 * Sessions revoked by an admin: every session token issued at or before `revoked_at` that
 * matches all the selectors set here is refused by the edge. Selectors left null match anything.
 */
export interface SessionRevocationTable {
  id: string;
  app_id: string | null;
  /** An e-mail address (compared case-insensitively) or an IdP subject / service token client id. */
  principal: string | null;
  device_id: string | null;
  registration_id: string | null;
  /** JSON array of SHA-256 (hex) certificate fingerprints; null when no device selector is set. */
  certificates: string | null;
  revoked_at: string;
}

/** Which node runs a kind of background work, until when (migration 0009). */
export interface LeaseTable {
  name: string;
  holder: string;
  expires_at: string;
}

/** A write's stored answer, by Idempotency-Key (migration 0009). */
export interface IdempotencyKeyTable {
  id: string;
  request_hash: string;
  status: number | null;
  body: string | null;
  created_at: string;
}
export type IdempotencyKey = Selectable<IdempotencyKeyTable>;
