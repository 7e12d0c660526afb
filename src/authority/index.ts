export { type Actor, type Change, recordChange, type Reload } from './audit.js';
export type { ClientCertificateIssuer, Clock, Keys, ServerCertificateIssuer } from './capabilities.js';
export { Authority, type IssueRequest, MAX_VALIDITY_DAYS, type TlsMaterial } from './authority.js';
export { CRL_VALIDITY_MS, revokedListedUntilExpiredBy } from './crl-publisher.js';
export { ORG_CA_ID, ORG_ROOT_CA_ID } from './ids.js';
export {
  CA_ALGORITHMS,
  type CaKeyAlgorithm,
  crlUrl,
  type InitializeOptions,
  type InitializeResult,
  initializeOrganization,
} from './initialize.js';
