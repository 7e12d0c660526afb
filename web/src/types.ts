// Shapes of the API's results, as the console reads them: names for the types generated from
// docs/openapi.json (web/src/api/schema.ts, by `npm run docs:openapi`). Nothing here is written
// by hand except where the document has no schema (noted).
import type { Item, Result, Schemas } from './api/contract';

export type {
  Assurance,
  CertificateField,
  Decision,
  ExtendedKeyUsage,
  HeaderStyle,
  Mode,
  Platform,
  PostureReason,
  RevocationReason,
  RuleType,
  TrustStore,
} from './api/contract';

export type MtlsCertificate = Schemas['MtlsCertificate'];
export type ClientCertificate = Schemas['ClientCertificate'];
export type Organization = Result<'/api/v1/organization', 'get'>;
export type CrlInfo = Result<'/api/v1/mtls_certificates/{id}/crl', 'get'>;

export type Hostname = Schemas['Hostname'];
export type ForwardConfig = Hostname['client_auth']['forward'];
export type BlockResponse = Hostname['client_auth']['block_response'];

export type AccessApp = Schemas['AccessApp'];
export type Policy = Item<AccessApp['policies']>;
/** One key naming the rule type; its parameters are strings, or a list (certificate_policy oids). */
export type Rule = Item<Policy['include']>;
export type ServiceToken = Schemas['ServiceToken'];
export type IdentityProvider = Schemas['IdentityProvider'];

export type Registration = Schemas['Registration'];
export type Device = Schemas['Device'];
/** A registration as GET /devices lists it under its device. */
export type DeviceRegistrationSummary = Item<Device['registrations']>;
export type OrgSettings = Result<'/api/v1/organization/settings', 'get'>;

export type PostureRule = Schemas['PostureRule'];
export type PostureResult = Schemas['PostureResult'];

export type AuditEntry = Schemas['AuditEntry'];
export type Overview = Schemas['Overview'];
